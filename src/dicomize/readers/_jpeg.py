"""JPEG and JPEG-LS files: passed through when DICOM allows, losslessly transcoded, or decoded.

The codestream is described by :mod:`dicomize.codestreams.jpeg` without
decoding. A legal one is wrapped as it is (metadata segments removed unless
kept); a progressive, arithmetic or EXIF-rotated one is rewritten by jpegtran
on its DCT coefficients; anything else is decoded and stored losslessly.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import replace

from dicomize.codestreams.jpeg import JpegInfo, jpeg_passthrough, parse_jpeg, strip_segments
from dicomize.codestreams.passthrough import Passthrough
from dicomize.errors import CorruptImage
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size
from dicomize.readers import PASSTHROUGH_OFF
from dicomize.readers._orientation import ORIENTATIONS

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["decode_deep_jpeg", "lossless_transcode", "passthrough_picture", "read"]


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:
    """Read a JPEG or JPEG-LS file: passthrough first, then a lossless rewrite, then decoding."""
    data = source if isinstance(source, bytes) else source.read()
    # Walking the markers to EOI refuses a truncated JPEG on either path.
    info = parse_jpeg(data)
    check_size(info.columns, info.rows, options.max_pixels)
    reason = PASSTHROUGH_OFF
    if options.passthrough:
        legal = jpeg_passthrough(info)
        if not isinstance(legal, str):
            return passthrough_picture(data, info, legal, options)
        reason = legal
        transcoded = lossless_transcode(data, info)
        if transcoded is not None:
            stream, described, note = transcoded
            legal = jpeg_passthrough(described)
            if not isinstance(legal, str):
                return passthrough_picture(stream, described, legal, options, note)
    if info.precision > 8 or info.process in {"lossless", "jpeg-ls"}:
        # Pillow decodes only 8-bit lossy JPEG; libjpeg-turbo (imagecodecs) does the rest.
        picture = decode_deep_jpeg(data, info, options)
    else:
        from dicomize.readers._pillow import read as read_with_pillow

        picture = read_with_pillow(data, fmt, options)
    note = f"JPEG decoded because {reason}"
    return replace(picture, derivation=(note, *picture.derivation))


def passthrough_picture(
    data: bytes, info: JpegInfo, legal: Passthrough, options: ConvertOptions, note: str = ""
) -> Picture:
    """Wrap a legal codestream unchanged (metadata segments removed unless kept)."""
    extra_note = note
    if options.keep_jpeg_metadata:
        stream, note = data[: info.end], "JPEG codestream stored unchanged"
    else:
        stream, removed = strip_segments(data, info)
        note = "JPEG codestream stored unchanged" + (
            f" but for its metadata segments ({', '.join(sorted(set(removed)))})" if removed else ""
        )
    # PS3.5 8.2.1: ICC Profile must equal the APP2 profile bytes when both are present.
    notes = (extra_note, note) if extra_note else (note,)
    picture = legal.picture(
        stream,
        rows=info.rows,
        columns=info.columns,
        icc=info.icc_profile,
        notes=notes,
        source_format="JPEG",
    )
    return replace(picture, exif=info.exif) if info.exif else picture


def decode_deep_jpeg(data: bytes, info: JpegInfo, options: ConvertOptions) -> Picture:
    """Decode a 12/16-bit, lossless or JPEG-LS stream exactly (Pillow handles only 8-bit lossy)."""
    import imagecodecs

    from dicomize.readers._array import picture_from_array
    from dicomize.readers._orientation import apply_orientation

    decode = imagecodecs.jpegls_decode if info.process == "jpeg-ls" else imagecodecs.jpeg8_decode
    try:
        array = decode(data[: info.end])
    except Exception as exc:  # imagecodecs raises its own JpegError and others
        raise CorruptImage(f"cannot decode JPEG: {exc}") from exc
    derivation: tuple[str, ...] = ()
    if info.orientation != 1:
        array = apply_orientation(array, info.orientation)
        derivation = (f"EXIF Orientation {info.orientation} applied to the pixels",)
    lossy: tuple[tuple[str | None, float | None], ...] = ()
    if info.process == "jpeg-ls" and max(info.predictors) > 0:
        lossy = (("ISO_14495_1", None),)
    elif info.process not in {"lossless", "jpeg-ls"}:
        lossy = (("ISO_10918_1", None),)
    return picture_from_array(
        array,
        background=options.background,
        bits_stored=info.precision if info.precision > 8 else None,
        icc_profile=info.icc_profile,
        derivation=derivation,
        lossy=lossy,
        source_format="JPEG",
    )


def lossless_transcode(data: bytes, info: JpegInfo) -> tuple[bytes, JpegInfo, str] | None:
    """Rewrite a progressive, arithmetic or EXIF-oriented JPEG as a sequential one, losslessly.

    jpegtran (libjpeg-turbo) works on the DCT coefficients: nothing is decoded
    or quantised again. A rotation must be perfect (the size a multiple of the
    MCU) or it is not done. Returns the new stream, its description and a note
    for Derivation Description, or None when jpegtran is absent or cannot help,
    so that the caller decodes instead.
    """
    turn = ORIENTATIONS.get(info.orientation)
    transform = turn.jpegtran if turn else ()
    output = _jpegtran(data, info, transform)
    if output is None:
        return None
    stream = bytearray(output)
    try:
        described = parse_jpeg(bytes(stream))
    except CorruptImage:
        return None
    if described.orientation_at is not None and described.orientation != 1:
        # The pixels are upright now; a viewer that honours EXIF must not turn them again.
        offset, order = described.orientation_at
        stream[offset : offset + 2] = struct.pack(order + "H", 1)
        described = parse_jpeg(bytes(stream))
    done = []
    if info.process in {"progressive", "arithmetic"}:
        done.append(f"{info.process} JPEG rewritten as sequential Huffman JPEG")
    if transform:
        done.append(f"EXIF Orientation {info.orientation} applied")
    note = " and ".join(done) + " without decoding (jpegtran; DCT coefficients unchanged)"
    return bytes(stream), described, note


def _jpegtran(data: bytes, info: JpegInfo, transform: tuple[str, ...]) -> bytes | None:
    transcodable = (
        info.process in {"baseline", "extended", "progressive", "arithmetic"}
        and info.precision == 8
        and len(info.component_ids) in {1, 3}
    )
    jpegtran = shutil.which("jpegtran") if transcodable else None
    if jpegtran is None:
        return None
    import subprocess  # 5 ms; only progressive or rotated JPEGs need it

    command = [jpegtran, "-copy", "all", *(("-perfect", *transform) if transform else ())]
    try:
        result = subprocess.run(
            command, input=data[: info.end], capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 and result.stdout else None
