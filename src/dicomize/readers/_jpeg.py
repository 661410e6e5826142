"""JPEG and JPEG-LS files: passed through when DICOM allows, losslessly transcoded, or decoded.

The codestream is described by :mod:`dicomize.codestreams.jpeg` without
decoding. A legal one is wrapped as it is (metadata segments removed unless
kept); a progressive, arithmetic or EXIF-rotated one is rewritten by jpegtran
on its DCT coefficients; anything else is decoded and stored losslessly.

A JPEG with stray bytes between its segments, which libjpeg skips, cannot be
stored as it is: it is decoded, its lossy history kept, when libjpeg decodes the
rest of it whole. libjpeg-turbo's ``djpeg`` is the judge, because libjpeg calls
a scan that breaks off a warning and fills the rest of the picture with grey:
any complaint but the stray bytes refuses the file.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from dataclasses import replace

from dicomize.codestreams.jpeg import (
    JpegInfo,
    describe_junk,
    jpeg_passthrough,
    parse_jpeg,
    strip_segments,
    stripped_size,
    without_junk,
)
from dicomize.codestreams.passthrough import Passthrough
from dicomize.errors import CorruptImage
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size, measured
from dicomize.readers import PASSTHROUGH_OFF
from dicomize.readers._orientation import ORIENTATIONS

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["decode_deep_jpeg", "lossless_transcode", "passthrough_picture", "read"]

#: APP1, the segment EXIF is in (marker code after 0xFF).
_APP1 = 0xE1


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:
    """Read a JPEG or JPEG-LS file: passthrough first, then a lossless rewrite, then decoding."""
    data = source if isinstance(source, bytes) else source.read()
    # Walking the markers to EOI refuses a truncated JPEG on either path.
    try:
        info = parse_jpeg(data)
    except CorruptImage:
        return _read_with_junk(data, fmt, options)
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
    return _decoded(data, info, fmt, options, reason)


def _decoded(
    data: bytes, info: JpegInfo, fmt: str, options: ConvertOptions, reason: str
) -> Picture:
    if info.precision > 8 or info.process in {"lossless", "jpeg-ls"}:
        # Pillow decodes only 8-bit lossy JPEG; libjpeg-turbo (imagecodecs) does the rest.
        picture = decode_deep_jpeg(data, info, options)
    else:
        from dicomize.readers._pillow import read as read_with_pillow

        picture = read_with_pillow(data, fmt, options)
    note = f"JPEG decoded because {reason}"
    return replace(picture, derivation=(note, *picture.derivation))


def _read_with_junk(data: bytes, fmt: str, options: ConvertOptions) -> Picture:
    """Decode a JPEG whose marker walk breaks on bytes libjpeg skips, or refuse it.

    Raises
    ------
    CorruptImage
        When the walk fails for another reason (a truncated file), or libjpeg
        reports damage beyond the stray bytes (a scan that breaks off, a bad code).
    """
    # What the resynchronising walk cannot pass (a truncated file) is what is wrong.
    found = parse_jpeg(data, resync=True)
    check_size(found.columns, found.rows, options.max_pixels)
    junk = describe_junk(data, found)
    refusal = _libjpeg_refusal(data, junk)
    if refusal:
        raise CorruptImage(refusal)
    # libjpeg discards those bytes itself: the stream without them decodes to the same pixels.
    stream = without_junk(data, found)
    info = parse_jpeg(stream)
    reason = f"it has {junk}, which libjpeg skips: the codestream cannot be stored as it is"
    picture = _decoded(stream, info, fmt, options, reason)
    exif_ends = {
        end
        for marker, start, end in found.segments
        if marker == _APP1 and data[start + 4 : start + 10] == b"Exif\x00\x00"
    }
    if any(start in exif_ends for start, _ in found.junk):
        # Its length field cut the EXIF block short: the rest of it was the stray bytes.
        note = "its EXIF block, cut short by its segment's length, is not used"
        return replace(picture, exif=None, derivation=(*picture.derivation, note))
    return picture


#: libjpeg's warnings (jerror.h, JWRN_*) that mean pixels are missing or wrong; the
#: others (an unknown JFIF revision or Adobe transform code) change no pixel.
_DAMAGE = re.compile(
    r"^(Corrupt JPEG data|Premature end of JPEG file|Inconsistent progression sequence"
    r"|Invalid SOS parameters|Application transferred too many scanlines)"
)
#: The warning for bytes skipped between segments (JWRN_EXTRANEOUS_DATA): what is accepted.
_SKIPPED = re.compile(r"^Corrupt JPEG data: \d+ extraneous bytes before marker 0x[0-9a-f]{2}$")


def _libjpeg_refusal(data: bytes, junk: str) -> str | None:
    """Decode `data` with libjpeg-turbo's djpeg; say why it is refused, or None when whole.

    At trace level 3 libjpeg prints every warning (at 0, only the first: the stray
    bytes would hide a broken scan after them). djpeg decodes 8-bit DCT JPEG: a
    12-bit, lossless or JPEG-LS stream with stray bytes is refused, unjudged.
    """
    djpeg = shutil.which("djpeg")
    if djpeg is None:
        raise CorruptImage(
            f"JPEG has {junk}; djpeg (libjpeg-turbo's tools) is needed to check that "
            "libjpeg decodes the rest whole, and it is not installed"
        )
    import subprocess  # 5 ms; only damaged JPEGs need it

    command = [djpeg, *("-verbose",) * 3, "-outfile", os.devnull]
    try:
        result = subprocess.run(command, input=data, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorruptImage(f"JPEG has {junk} and djpeg could not check the rest: {exc}") from exc
    lines = [line.strip() for line in result.stderr.decode("ascii", "replace").splitlines()]
    if result.returncode not in {0, 2}:  # 2: decoded, with warnings
        error = lines[-1] if lines else f"djpeg exit status {result.returncode}"
        return f"JPEG has {junk}, and libjpeg cannot decode it: {error}"
    damage = [line for line in lines if _DAMAGE.match(line) and not _SKIPPED.match(line)]
    return f"JPEG is damaged beyond the {junk}: libjpeg reports {damage[0]!r}" if damage else None


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
    return replace(picture, exif=info.exif, dpi=jfif_dpi(data))


def jfif_dpi(data: bytes) -> tuple[float, float] | None:
    """Return the JFIF APP0 density in pixels per inch, or None when it is not in real units.

    JFIF 1.02: the APP0 segment follows SOI; units 1 is dots per inch, 2 per cm, 0 an
    aspect ratio only (no resolution at all).

    >>> jfif_dpi(bytes.fromhex("ffd8ffe000104a46494600010101012c012c0000"))
    (300.0, 300.0)
    >>> jfif_dpi(bytes.fromhex("ffd8ffe000104a46494600010100000100010000")) is None
    True
    """
    if data[2:4] != b"\xff\xe0" or data[6:11] != b"JFIF\x00" or len(data) < 18:
        return None
    units = data[13]
    across, down = struct.unpack(">HH", data[14:18])
    if units not in {1, 2} or not across or not down:
        return None
    per_inch = 2.54 if units == 2 else 1.0
    return across * per_inch, down * per_inch


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
    picture = picture_from_array(
        array,
        background=options.background,
        bits_stored=info.precision if info.precision > 8 else None,
        icc_profile=info.icc_profile,
        derivation=derivation,
        lossy=lossy,
        source_format="JPEG",
    )
    return measured(picture, stripped_size(info))


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
