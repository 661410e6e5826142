"""Decoded pixels → the requested transfer syntax (PS3.5 8.2, Annex A).

RLE, JPEG-LS and JPEG 2000 use pydicom's encoder plugins (pylibjpeg-rle,
pyjpegls, pylibjpeg-openjpeg). pydicom has no encoder for JPEG baseline,
JPEG lossless SV1 or HTJ2K; for those libjpeg-turbo and OpenJPH are used
through imagecodecs. Every compressed frame is described from its own
codestream (the same rules as for passthrough inputs), so the Photometric
Interpretation always says what the codestream holds: RGB for RLE and
JPEG-LS, YBR_RCT / YBR_ICT for JPEG 2000 with its colour transform,
YBR_FULL_422 for baseline JPEG.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from dicomize.errors import UnsupportedInput
from dicomize.picture import Picture
from dicomize.readers._jpeg import Passthrough

__all__ = ["TRANSFER_SYNTAXES", "encode_picture", "resolve_transfer_syntax"]

#: Output transfer syntaxes by the names the CLI accepts (UIDs are accepted too).
TRANSFER_SYNTAXES: dict[str, str] = {
    "explicit": ExplicitVRLittleEndian,
    "deflated": DeflatedExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg-lossless": JPEGLosslessSV1,
    "jpeg-baseline": JPEGBaseline8Bit,
    "jpeg-ls-lossless": JPEGLSLossless,
    "jpeg-ls-near-lossless": JPEGLSNearLossless,
    "jpeg2000-lossless": JPEG2000Lossless,
    "jpeg2000": JPEG2000,
    "htj2k-lossless": HTJ2KLossless,
}
#: The pip extra that brings each pydicom encoder plugin.
_EXTRAS: dict[str, str] = {
    JPEGLSLossless: "jpegls",
    JPEGLSNearLossless: "jpegls",
    JPEG2000Lossless: "j2k",
    JPEG2000: "j2k",
    RLELossless: "rle",
}
_LOSSY: dict[str, str] = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
}


def resolve_transfer_syntax(value: str) -> str:
    """Map a name (``"jpeg-ls-lossless"``) or UID to a supported output transfer syntax UID.

    Raises
    ------
    ValueError
        For an unknown name, or when the encoder plugin is not installed
        (the message names the extra: ``pip install dicomize[jpegls]``).
    """
    uid = TRANSFER_SYNTAXES.get(value.strip().lower(), value.strip())
    if uid not in TRANSFER_SYNTAXES.values():
        raise ValueError(
            f"unsupported output transfer syntax {value!r}; choose one of "
            + ", ".join(TRANSFER_SYNTAXES)
        )
    if uid in _EXTRAS:
        from pydicom.pixels.encoders.base import get_encoder  # noqa: PLC0415

        encoder = get_encoder(uid)
        if not encoder.is_available and uid != RLELossless:
            raise ValueError(
                f"{UID(uid).name} needs an encoder plugin: pip install 'dicomize[{_EXTRAS[uid]}]'"
            )
    return uid


def encode_picture(
    picture: Picture,
    transfer_syntax: str,
    *,
    jpeg_quality: int = 90,
    jpegls_error: int = 2,
    j2k_ratio: float = 10.0,
) -> Picture:
    """Store native `picture` in `transfer_syntax`; a passed-through codestream stays as it is.

    Raises
    ------
    UnsupportedInput
        When the pixels do not fit the transfer syntax (16-bit into baseline JPEG).
    """
    current = UID(picture.transfer_syntax)
    if current.is_encapsulated or transfer_syntax == current:
        return picture
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        return dataclasses.replace(picture, transfer_syntax=transfer_syntax)
    streams: list[bytes] = []
    photometric = picture.photometric_interpretation
    for array in _frames_of(picture):  # one codestream per frame (PS3.5 A.4)
        stream, photometric = _encode_frame(
            picture,
            array,
            transfer_syntax,
            jpeg_quality=jpeg_quality,
            jpegls_error=jpegls_error,
            j2k_ratio=j2k_ratio,
        )
        streams.append(stream)
    lossy = picture.lossy
    note = f"stored as {UID(transfer_syntax).name}"
    method = _LOSSY.get(transfer_syntax)
    if method is not None:
        ratio = round(len(picture.pixels) / sum(len(stream) for stream in streams), 2)
        lossy = (*lossy, (method, ratio))
        note += f", lossy {ratio}:1"
    return dataclasses.replace(
        picture,
        pixels=streams[0],
        frames=tuple(streams) if len(streams) > 1 else (),
        transfer_syntax=transfer_syntax,
        photometric_interpretation=photometric,
        lossy=lossy,
        derivation=(*picture.derivation, note),
    )


def _encode_frame(
    picture: Picture,
    array: npt.NDArray[Any],
    transfer_syntax: str,
    *,
    jpeg_quality: int,
    jpegls_error: int,
    j2k_ratio: float,
) -> tuple[bytes, str]:
    """Encode one frame; return its codestream and the PI it describes."""
    if transfer_syntax in {JPEGBaseline8Bit, JPEGLosslessSV1}:
        stream = _libjpeg_turbo(picture, array, transfer_syntax, jpeg_quality)
        return stream, _describe_jpeg(stream)
    if transfer_syntax == HTJ2KLossless:
        import imagecodecs  # noqa: PLC0415

        colour = picture.samples_per_pixel > 1
        stream = bytes(imagecodecs.htj2k_encode(array, reversible=True, rgb=colour))
        return stream, _describe_j2k(stream)
    stream = _pydicom_encode(picture, array, transfer_syntax, jpegls_error, j2k_ratio)
    if transfer_syntax in {JPEG2000Lossless, JPEG2000}:
        return stream, _describe_j2k(stream)
    return stream, picture.photometric_interpretation


def _frames_of(picture: Picture) -> npt.NDArray[Any]:
    """Return the native pixels as an array of frames: (frames, rows, columns[, samples])."""
    dtype = np.dtype(
        f"<{'i' if picture.pixel_representation else 'u'}{picture.bits_allocated // 8}"
    )
    shape: tuple[int, ...] = (picture.number_of_frames, picture.rows, picture.columns)
    if picture.samples_per_pixel > 1:
        shape = (*shape, picture.samples_per_pixel)
    return np.frombuffer(picture.native(), dtype).reshape(shape)


def _libjpeg_turbo(
    picture: Picture, array: npt.NDArray[Any], transfer_syntax: str, quality: int
) -> bytes:
    import imagecodecs  # noqa: PLC0415

    colour = picture.samples_per_pixel == 3  # noqa: PLR2004
    if transfer_syntax == JPEGBaseline8Bit:
        if picture.bits_allocated != 8 or picture.pixel_representation:  # noqa: PLR2004
            raise UnsupportedInput(
                "baseline JPEG holds unsigned 8-bit pixels; use jpeg-lossless, jpeg-ls or jpeg2000"
            )
        # 4:4:4: chroma subsampling would discard detail a clinical picture may need.
        return bytes(imagecodecs.jpeg8_encode(array, level=quality, subsampling="444"))
    if picture.pixel_representation:
        # Lossless JPEG codes the two's-complement bits as they are (PS3.5 8.2.1).
        array = array.view(array.dtype.str.replace("i", "u"))
    return bytes(
        imagecodecs.jpeg8_encode(
            array,
            lossless=True,
            predictor=1,
            bitspersample=picture.bits_stored,
            # No YCbCr conversion: it would not be lossless.
            colorspace="RGB" if colour else None,
            outcolorspace="RGB" if colour else None,
        )
    )


def _pydicom_encode(
    picture: Picture,
    array: npt.NDArray[Any],
    transfer_syntax: str,
    jpegls_error: int,
    j2k_ratio: float,
) -> bytes:
    from pydicom.pixels.encoders.base import get_encoder  # noqa: PLC0415

    photometric = picture.photometric_interpretation
    options: dict[str, Any] = {}
    if transfer_syntax in {JPEG2000Lossless, JPEG2000} and picture.samples_per_pixel == 3:  # noqa: PLR2004
        # Asking for YBR_RCT / YBR_ICT makes the plugin apply the colour transform.
        photometric = "YBR_RCT" if transfer_syntax == JPEG2000Lossless else "YBR_ICT"
    if transfer_syntax == JPEG2000:
        options["j2k_cr"] = [j2k_ratio]
    if transfer_syntax == JPEGLSNearLossless:
        options["jls_error"] = jpegls_error
    encoder = get_encoder(transfer_syntax)
    return encoder.encode(
        array,
        rows=picture.rows,
        columns=picture.columns,
        samples_per_pixel=picture.samples_per_pixel,
        bits_allocated=picture.bits_allocated,
        bits_stored=picture.bits_stored,
        pixel_representation=picture.pixel_representation,
        photometric_interpretation=photometric,
        number_of_frames=1,
        planar_configuration=0,
        **options,
    )


def _describe_jpeg(stream: bytes) -> str:
    from dicomize.readers._jpeg import jpeg_passthrough, parse_jpeg  # noqa: PLC0415

    return _photometric_of(jpeg_passthrough(parse_jpeg(stream)))


def _describe_j2k(stream: bytes) -> str:
    from dicomize.readers._j2k import j2k_passthrough, parse_j2k  # noqa: PLC0415

    return _photometric_of(j2k_passthrough(parse_j2k(stream)))


def _photometric_of(described: Passthrough | str) -> str:
    if isinstance(described, Passthrough):
        return described.photometric_interpretation
    # The encoders write legal codestreams; anything else is a bug worth a traceback.
    raise RuntimeError(f"encoder wrote a codestream DICOM cannot describe: {described}")
