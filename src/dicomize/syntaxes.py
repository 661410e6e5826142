"""The transfer syntaxes dicomize writes, one record each (PS3.5 8.2, Annex A).

A record holds everything about one output transfer syntax: the name the
command line takes, the UID, the encoder of one frame, how an encoded frame is
described, the pip extra that brings the encoder plugin, and the lossy method
(Lossy Image Compression Method, C.7.6.1.1.5) it adds to a picture's history.
Adding a transfer syntax means adding a row to :data:`CODECS`.

RLE, JPEG-LS and JPEG 2000 use pydicom's encoder plugins (pylibjpeg-rle,
pyjpegls, pylibjpeg-openjpeg). pydicom has no encoder for JPEG baseline,
JPEG lossless SV1 or HTJ2K; for those libjpeg-turbo and OpenJPH are used
through imagecodecs. Every JPEG or JPEG 2000 frame is described from its own
codestream (the same rules as for passthrough inputs), so the Photometric
Interpretation always says what the codestream holds: YBR_RCT / YBR_ICT for
JPEG 2000 with its colour transform, YBR_FULL_422 for baseline JPEG.

>>> codec_for("jpeg-ls-lossless").uid
'1.2.840.10008.1.2.4.80'
"""

from __future__ import annotations

from collections.abc import Callable

from dicomize.dicom.uids import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    HTJ2K_LOSSLESS,
    JPEG_2000,
    JPEG_2000_LOSSLESS,
    JPEG_BASELINE_PROCESS_1,
    JPEG_LOSSLESS_SV1,
    JPEG_LS_LOSSLESS,
    JPEG_LS_NEAR_LOSSLESS,
    RLE_LOSSLESS,
)
from dicomize.errors import ConfigError, UnsupportedInput

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any, Protocol

    import numpy.typing as npt

    from dicomize.codestreams.passthrough import Passthrough
    from dicomize.picture import Picture

    # A protocol for the type checker only: defining one at run time needs typing.
    class EncoderSettings(Protocol):
        """The encoder parameters of :class:`dicomize.ConvertOptions`."""

        @property
        def jpeg_quality(self) -> int:
            """Quality 1-100 of baseline JPEG output."""

        @property
        def jpegls_error(self) -> int:
            """NEAR of near-lossless JPEG-LS output."""

        @property
        def j2k_ratio(self) -> float:
            """Compression ratio of lossy JPEG 2000 output."""


__all__ = ["CODECS", "Codec", "codec_for", "resolve_transfer_syntax", "syntax_name"]


#: Encode one frame (an array of rows, columns[, samples]) of a native picture.
Encoder = Callable[["Picture", "npt.NDArray[Any]", "EncoderSettings"], bytes]


class Codec:
    """One output transfer syntax."""

    __slots__ = ("describe", "encode", "extra", "lossy_method", "name", "uid")

    #: The name the command line and :class:`dicomize.ConvertOptions` take.
    name: str
    uid: str
    #: Encodes one frame; None for the native syntaxes (the pixels are written as they are).
    encode: Encoder | None
    #: Photometric Interpretation of an encoded frame, read from its codestream;
    #: None keeps the picture's own (RLE and JPEG-LS code the samples as given).
    describe: Callable[[bytes], str] | None
    #: The pip extra of dicomize that brings pydicom's encoder plugin.
    extra: str | None
    #: Lossy Image Compression Method (C.7.6.1.1.5), None for lossless.
    lossy_method: str | None

    def __init__(
        self,
        *,
        name: str,
        uid: str,
        encode: Encoder | None = None,
        describe: Callable[[bytes], str] | None = None,
        extra: str | None = None,
        lossy_method: str | None = None,
    ) -> None:
        self.name = name
        self.uid = uid
        self.encode = encode
        self.describe = describe
        self.extra = extra
        self.lossy_method = lossy_method


def _libjpeg_baseline(
    picture: Picture, array: npt.NDArray[Any], settings: EncoderSettings
) -> bytes:
    import imagecodecs

    if picture.bits_allocated != 8 or picture.pixel_representation:  # noqa: PLR2004
        raise UnsupportedInput(
            "baseline JPEG holds unsigned 8-bit pixels; use jpeg-lossless, jpeg-ls or jpeg2000"
        )
    # 4:4:4: chroma subsampling would discard detail a clinical picture may need.
    return bytes(imagecodecs.jpeg8_encode(array, level=settings.jpeg_quality, subsampling="444"))


def _libjpeg_lossless(
    picture: Picture,
    array: npt.NDArray[Any],
    settings: EncoderSettings,  # noqa: ARG001  (lossless: nothing to set)
) -> bytes:
    import imagecodecs

    colour = picture.samples_per_pixel == 3  # noqa: PLR2004
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


def _openjph_lossless(
    picture: Picture,
    array: npt.NDArray[Any],
    settings: EncoderSettings,  # noqa: ARG001  (lossless: nothing to set)
) -> bytes:
    import imagecodecs

    colour = picture.samples_per_pixel > 1
    return bytes(imagecodecs.htj2k_encode(array, reversible=True, rgb=colour))


def _pydicom(
    uid: str, *, colour_as: str | None = None, **settings: Callable[[EncoderSettings], object]
) -> Encoder:
    """Return an encoder through pydicom's plugin for `uid`.

    `colour_as` is the Photometric Interpretation asked of the plugin for colour
    frames: asking JPEG 2000 for YBR_RCT / YBR_ICT makes it apply the colour transform.
    `settings` are the plugin's options, each read from the :class:`EncoderSettings`.
    """

    def encode(picture: Picture, array: npt.NDArray[Any], chosen: EncoderSettings) -> bytes:
        from pydicom.pixels.encoders.base import get_encoder

        colour = picture.samples_per_pixel == 3  # noqa: PLR2004
        options: dict[str, Any] = {key: value(chosen) for key, value in settings.items()}
        return get_encoder(uid).encode(
            array,
            rows=picture.rows,
            columns=picture.columns,
            samples_per_pixel=picture.samples_per_pixel,
            bits_allocated=picture.bits_allocated,
            bits_stored=picture.bits_stored,
            pixel_representation=picture.pixel_representation,
            photometric_interpretation=colour_as
            if colour and colour_as
            else picture.photometric_interpretation,
            number_of_frames=1,
            planar_configuration=0,
            **options,
        )

    return encode


def _described(found: Passthrough | str) -> str:
    if not isinstance(found, str):
        return found.photometric_interpretation
    # The encoders write legal codestreams; anything else is a bug worth a traceback.
    raise RuntimeError(f"encoder wrote a codestream DICOM cannot describe: {found}")


# The codestream parsers load when a frame is described, not when options are made.
def _describe_jpeg(stream: bytes) -> str:
    from dicomize.codestreams.jpeg import jpeg_passthrough, parse_jpeg

    return _described(jpeg_passthrough(parse_jpeg(stream)))


def _describe_j2k(stream: bytes) -> str:
    from dicomize.codestreams.j2k import j2k_passthrough, parse_j2k

    return _described(j2k_passthrough(parse_j2k(stream)))


# The syntaxes pydicom's plugins encode: each UID names the row and the plugin.

#: Every output transfer syntax, in the order ``--help`` lists them.
CODECS: tuple[Codec, ...] = (
    Codec(name="explicit", uid=EXPLICIT_VR_LITTLE_ENDIAN),
    Codec(name="deflated", uid=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN),
    Codec(name="rle", uid=RLE_LOSSLESS, encode=_pydicom(RLE_LOSSLESS), extra="rle"),
    Codec(
        name="jpeg-lossless",
        uid=JPEG_LOSSLESS_SV1,
        encode=_libjpeg_lossless,
        describe=_describe_jpeg,
    ),
    Codec(
        name="jpeg-baseline",
        uid=JPEG_BASELINE_PROCESS_1,
        encode=_libjpeg_baseline,
        describe=_describe_jpeg,
        lossy_method="ISO_10918_1",
    ),
    Codec(
        name="jpeg-ls-lossless",
        uid=JPEG_LS_LOSSLESS,
        encode=_pydicom(JPEG_LS_LOSSLESS),
        extra="jpegls",
    ),
    Codec(
        name="jpeg-ls-near-lossless",
        uid=JPEG_LS_NEAR_LOSSLESS,
        encode=_pydicom(JPEG_LS_NEAR_LOSSLESS, jls_error=lambda s: s.jpegls_error),
        extra="jpegls",
        lossy_method="ISO_14495_1",
    ),
    Codec(
        name="jpeg2000-lossless",
        uid=JPEG_2000_LOSSLESS,
        encode=_pydicom(JPEG_2000_LOSSLESS, colour_as="YBR_RCT"),
        describe=_describe_j2k,
        extra="j2k",
    ),
    Codec(
        name="jpeg2000",
        uid=JPEG_2000,
        encode=_pydicom(JPEG_2000, colour_as="YBR_ICT", j2k_cr=lambda s: [s.j2k_ratio]),
        describe=_describe_j2k,
        extra="j2k",
        lossy_method="ISO_15444_1",
    ),
    Codec(
        name="htj2k-lossless",
        uid=HTJ2K_LOSSLESS,
        encode=_openjph_lossless,
        describe=_describe_j2k,
    ),
)

_BY_NAME = {codec.name: codec for codec in CODECS}
_BY_UID = {codec.uid: codec for codec in CODECS}


def codec_for(value: str) -> Codec:
    """Return the record for a transfer syntax given by name (``"rle"``) or UID.

    Raises
    ------
    dicomize.errors.ConfigError
        For a transfer syntax dicomize does not write.
    """
    text = value.strip()
    codec = _BY_NAME.get(text.lower()) or _BY_UID.get(text)
    if codec is None:
        raise ConfigError(
            f"unsupported output transfer syntax {value!r}; choose one of " + ", ".join(_BY_NAME)
        )
    return codec


def syntax_name(uid: str) -> str:
    """Name a transfer syntax as ``-t`` takes it, or by its UID when dicomize does not write it.

    >>> syntax_name("1.2.840.10008.1.2.4.50")
    'jpeg-baseline'
    """
    codec = _BY_UID.get(uid)
    return codec.name if codec else uid


def resolve_transfer_syntax(value: str) -> str:
    """Map a name (``"jpeg-ls-lossless"``) or UID to a supported output transfer syntax UID.

    Raises
    ------
    dicomize.errors.ConfigError
        For an unknown name, or when the encoder plugin is not installed
        (the message names the extra: ``pip install dicomize[jpegls]``).
    """
    codec = codec_for(value)
    if codec.extra is not None:
        from pydicom.pixels.encoders.base import get_encoder
        from pydicom.uid import UID

        if not get_encoder(codec.uid).is_available:
            raise ConfigError(
                f"{UID(codec.uid).name} needs an encoder plugin: "
                f"pip install 'dicomize[{codec.extra}]'"
            )
    return codec.uid
