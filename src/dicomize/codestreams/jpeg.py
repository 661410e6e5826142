"""JPEG and JPEG-LS codestreams read by their markers, without decoding (PS3.5 8.2.1, 8.2.3).

:func:`parse_jpeg` walks every segment to EOI and collects what DICOM needs to
describe the codestream: the coding process (SOFn), precision, size and
components, the colour transform (Adobe APP14, JFIF, component identifiers),
an ICC profile (APP2), the EXIF orientation, and the predictors of lossless
scans. :func:`jpeg_passthrough` decides whether the codestream may be
wrapped as it is, and :func:`strip_segments` removes metadata segments as a
byte operation that leaves the entropy-coded data identical.

A file with stray bytes between its segments (junk after SOI, after a segment, or
left by an APP segment whose length is wrong) breaks the walk, but libjpeg skips
them and decodes the rest. ``parse_jpeg(data, resync=True)`` skips them as libjpeg
does and records where they were; :func:`without_junk` removes them.
"""

from __future__ import annotations

import re
import struct

from dicomize.codestreams.passthrough import Passthrough
from dicomize.dicom.uids import (
    JPEG_BASELINE_PROCESS_1,
    JPEG_EXTENDED_PROCESS_2_4,
    JPEG_LOSSLESS_PROCESS_14,
    JPEG_LOSSLESS_SV1,
    JPEG_LS_LOSSLESS,
    JPEG_LS_NEAR_LOSSLESS,
)
from dicomize.errors import CorruptImage

__all__ = [
    "JpegInfo",
    "describe_junk",
    "jpeg_passthrough",
    "parse_jpeg",
    "strip_segments",
    "stripped_size",
    "without_junk",
]

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_APP0, _APP1, _APP2, _APP14, _COM = 0xE0, 0xE1, 0xE2, 0xEE, 0xFE
_SOF55, _LSE = 0xF7, 0xF8  # JPEG-LS (ISO 14495-1) frame header and parameters
_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, _SOF55}
)
_PROCESS = {
    0xC0: "baseline",
    0xC1: "extended",
    0xC2: "progressive",
    0xC3: "lossless",
    0xC9: "arithmetic",
    0xCA: "arithmetic",
    0xCB: "arithmetic",
    _SOF55: "jpeg-ls",
}
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or RST0-7; anything
# else starts the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")
# JPEG-LS stuffs a 0 bit after 0xFF instead, so data bytes after 0xFF are below 0x80.
_NEXT_MARKER_LS = re.compile(rb"\xff[\x80-\xcf\xd8-\xff]")


class JpegInfo:
    """What the markers of a JPEG codestream say."""

    __slots__ = (
        "adobe_transform",
        "columns",
        "component_ids",
        "end",
        "exif",
        "first_scan",
        "icc_profile",
        "jfif",
        "junk",
        "lse_ids",
        "orientation",
        "orientation_at",
        "precision",
        "predictors",
        "rows",
        "segments",
        "sof",
    )

    sof: int
    precision: int
    rows: int
    columns: int
    component_ids: tuple[int, ...]
    adobe_transform: int | None
    jfif: bool
    icc_profile: bytes | None
    orientation: int
    #: Per scan: the predictor (lossless JPEG) or NEAR (JPEG-LS) from the SOS header.
    predictors: tuple[int, ...]
    #: (marker, start, end) of every segment between SOI and the first SOS.
    segments: tuple[tuple[int, int, int], ...]
    #: Offset of the first SOS marker: from here to `end` is scan data and its tables.
    first_scan: int
    #: Offset just after EOI: anything later (an MPO's second picture, junk) is not ours.
    end: int
    #: IDs of JPEG-LS parameter (LSE) segments.
    lse_ids: tuple[int, ...]
    #: Where the EXIF Orientation value is stored: (offset in the stream, "<" or ">").
    orientation_at: tuple[int, str] | None
    #: The EXIF block (APP1 body), for the VL Photographic IOD; never stored as it is.
    exif: bytes | None
    #: (start, end) of every run of bytes libjpeg skips between segments (``resync`` only):
    #: stray bytes, and APP or COM segments whose length is less than the length field.
    junk: tuple[tuple[int, int], ...]

    def __init__(
        self,
        *,
        sof: int,
        precision: int,
        rows: int,
        columns: int,
        component_ids: tuple[int, ...],
        adobe_transform: int | None,
        jfif: bool,
        icc_profile: bytes | None,
        orientation: int,
        predictors: tuple[int, ...],
        segments: tuple[tuple[int, int, int], ...],
        first_scan: int,
        end: int,
        lse_ids: tuple[int, ...] = (),
        orientation_at: tuple[int, str] | None = None,
        exif: bytes | None = None,
        junk: tuple[tuple[int, int], ...] = (),
    ) -> None:
        self.sof = sof
        self.precision = precision
        self.rows = rows
        self.columns = columns
        self.component_ids = component_ids
        self.adobe_transform = adobe_transform
        self.jfif = jfif
        self.icc_profile = icc_profile
        self.orientation = orientation
        self.predictors = predictors
        self.segments = segments
        self.first_scan = first_scan
        self.end = end
        self.lse_ids = lse_ids
        self.orientation_at = orientation_at
        self.exif = exif
        self.junk = junk

    @property
    def process(self) -> str:
        """baseline, extended, progressive, lossless, arithmetic or hierarchical."""
        return _PROCESS.get(self.sof, "hierarchical")

    @property
    def colour_transform(self) -> str:
        """How 3 components are coded: 'YCbCr' or 'RGB' (libjpeg's rules, jdapimin.c)."""
        if self.adobe_transform is not None:
            return "RGB" if self.adobe_transform == 0 else "YCbCr"
        if self.jfif:
            return "YCbCr"
        return "RGB" if self.component_ids == (0x52, 0x47, 0x42) else "YCbCr"


def parse_jpeg(data: bytes, *, resync: bool = False) -> JpegInfo:  # noqa: PLR0912, PLR0915  (one pass over the markers)
    """Walk the markers of `data` to EOI.

    With `resync`, bytes where a marker must be are skipped as libjpeg's
    ``next_marker`` skips them (jdmarker.c: everything up to the next 0xFF that
    starts a marker), and so is an APPn or COM segment whose length field says
    less than 2 (``skip_variable``); :attr:`JpegInfo.junk` records them.

    Raises
    ------
    CorruptImage
        When a segment is truncated, a marker is missing where one must be,
        there is no frame header or scan, or the stream ends before EOI.
    """
    if not data.startswith(b"\xff\xd8"):
        raise CorruptImage("JPEG does not start with SOI")
    position, size = 2, len(data)
    sof_marker, frame = 0, b""
    adobe: int | None = None
    jfif = False
    icc_chunks: dict[int, bytes] = {}
    orientation = 1
    predictors: list[int] = []
    segments: list[tuple[int, int, int]] = []
    first_scan = 0
    lse_ids: list[int] = []
    orientation_at: tuple[int, str] | None = None
    exif: bytes | None = None
    junk: list[tuple[int, int]] = []
    while True:
        if position >= size:
            raise CorruptImage("JPEG ends before its EOI marker (truncated)")
        if data[position] != 0xFF:
            if not resync:
                raise CorruptImage(f"JPEG has no marker where one is required (byte {position})")
            marker_at = _next_marker(data, position)
            junk.append((position, marker_at))
            position = marker_at
        start = position
        while position < size and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= size:
            raise CorruptImage("JPEG ends before its EOI marker (truncated)")
        marker = data[position]
        position += 1
        if marker == _EOI:
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            continue
        if position + 2 > size:
            raise CorruptImage("JPEG segment header is truncated")
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 and resync and (0xE0 <= marker <= 0xEF or marker == _COM):
            # libjpeg reads no body for it; what follows is skipped to the next marker.
            position += 2
            junk.append((start, position))
            continue
        if length < 2 or position + length > size:
            raise CorruptImage(f"JPEG segment 0xFF{marker:02X} is truncated")
        body = data[position + 2 : position + length]
        position += length
        if marker == _SOS and not predictors:
            first_scan = start
        elif not predictors:
            segments.append((marker, start, position))
        if marker in _SOF_MARKERS:
            if sof_marker:
                raise CorruptImage("JPEG has more than one frame header")
            sof_marker, frame = marker, body
        elif marker == _APP0 and body.startswith(b"JFIF\x00"):
            jfif = True
        elif marker == _APP1 and body.startswith(b"Exif\x00\x00"):
            exif = body
            orientation, found_at = _exif_orientation(body[6:])
            if found_at is not None:
                orientation_at = (start + 4 + 6 + found_at[0], found_at[1])
        elif marker == _APP2 and body.startswith(b"ICC_PROFILE\x00") and len(body) > 14:
            icc_chunks[body[12]] = body[14:]
        elif marker == _LSE and body:
            lse_ids.append(body[0])
        elif marker == _APP14 and body.startswith(b"Adobe") and len(body) >= 12:
            adobe = body[11]
        elif marker == _SOS:
            if not sof_marker:
                raise CorruptImage("JPEG scan comes before its frame header")
            count = body[0] if body else 0
            if len(body) < 4 + 2 * count or count == 0:
                raise CorruptImage("JPEG scan header is damaged")
            predictors.append(body[1 + 2 * count])
            pattern = _NEXT_MARKER_LS if sof_marker == _SOF55 else _NEXT_MARKER
            found = pattern.search(data, position)
            if found is None:
                raise CorruptImage("JPEG scan data runs to the end without EOI (truncated)")
            position = found.start()
    if not sof_marker or not predictors:
        raise CorruptImage("JPEG has no frame header or no scan")
    if len(frame) < 6:
        raise CorruptImage("JPEG frame header is damaged")
    precision, rows, columns, count = struct.unpack(">BHHB", frame[:6])
    if len(frame) < 6 + 3 * count or count == 0 or rows == 0 or columns == 0:
        raise CorruptImage("JPEG frame header is damaged or defines no pixels")
    ids = tuple(frame[6 + 3 * i] for i in range(count))
    icc = b"".join(icc_chunks[k] for k in sorted(icc_chunks)) if icc_chunks else None
    return JpegInfo(
        sof=sof_marker,
        precision=precision,
        rows=rows,
        columns=columns,
        component_ids=ids,
        adobe_transform=adobe,
        jfif=jfif,
        icc_profile=icc,
        orientation=orientation,
        predictors=tuple(predictors),
        segments=tuple(segments),
        first_scan=first_scan,
        end=position,
        lse_ids=tuple(lse_ids),
        orientation_at=orientation_at,
        exif=exif,
        junk=tuple(junk),
    )


def _next_marker(data: bytes, position: int) -> int:
    """Return where the 0xFF run of the next marker starts, skipping as libjpeg does.

    jdmarker.c ``next_marker``: bytes other than 0xFF are discarded, and so is
    0xFF 0x00 (a stuffed zero is no marker); fill bytes 0xFF before a marker code
    belong to the marker.
    """
    size = len(data)
    while True:
        first = data.find(b"\xff", position)
        if first < 0:
            raise CorruptImage("JPEG ends before its EOI marker (truncated)")
        after = first
        while after < size and data[after] == 0xFF:
            after += 1
        if after >= size:
            raise CorruptImage("JPEG ends before its EOI marker (truncated)")
        if data[after] != 0x00:
            return first
        position = after + 1


def without_junk(data: bytes, info: JpegInfo) -> bytes:
    """Return the codestream to EOI without the bytes libjpeg skips (:attr:`JpegInfo.junk`).

    libjpeg decodes both to the same pixels: it discards those bytes itself.
    """
    kept: list[bytes | memoryview] = []
    view, position = memoryview(data), 0
    for start, end in info.junk:
        kept.append(view[position:start])
        position = end
    kept.append(view[position : info.end])
    return b"".join(kept)


def describe_junk(data: bytes, info: JpegInfo) -> str:
    """Say in a phrase what :attr:`JpegInfo.junk` holds, for a Derivation Description.

    >>> frame = "ffc0000b 08 0001 0001 01 01 11 00"
    >>> scan = "ffda0008 01 01 00 00 3f 00 00"
    >>> data = bytes.fromhex(f"ffd8 4a4b {frame} ffe1 0000 {scan} ffd9")
    >>> describe_junk(data, parse_jpeg(data, resync=True))
    '2 stray bytes before marker 0xFFC0 and a damaged APP1 segment'
    """
    stray: dict[str, int] = {}
    damaged: list[str] = []
    for start, end in info.junk:
        if data[start] == 0xFF:  # a segment libjpeg reads no body of
            damaged.append(_segment_name(data[start + 1]))
        else:
            marker = f"0xFF{_marker_after(data, end):02X}"
            stray[marker] = stray.get(marker, 0) + end - start
    parts = []
    if stray:
        count = sum(stray.values())
        parts.append(
            f"{count} stray byte{'s' * (count > 1)} before "
            f"marker{'s' * (len(stray) > 1)} {', '.join(stray)}"
        )
    if damaged:
        names = " and ".join(dict.fromkeys(damaged))
        parts.append(f"a damaged {names} segment{'s' * (len(damaged) > 1)}")
    return " and ".join(parts)


def _marker_after(data: bytes, position: int) -> int:
    while position < len(data) and data[position] == 0xFF:
        position += 1
    return data[position] if position < len(data) else 0


def _exif_orientation(tiff: bytes) -> tuple[int, tuple[int, str] | None]:
    """Return the Orientation value of IFD0 and where its value is (offset in `tiff`, order)."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for index in range(count):
            entry = ifd + 2 + 12 * index
            tag, kind, _, value = struct.unpack_from(order + "HHIH", tiff, entry)
            if tag == 0x0112 and kind == 3:  # Orientation, SHORT
                return (value if 1 <= value <= 8 else 1), (entry + 8, order)
    except (KeyError, struct.error):
        pass
    return 1, None


def jpeg_passthrough(info: JpegInfo) -> Passthrough | str:  # noqa: PLR0911  (one answer per table row)
    """Describe `info` for DICOM, or say why it cannot pass through unchanged.

    PS3.5 Table 8.2.1-1 and PS3.6 Table A-1: baseline (SOF0) → .50, extended
    8/12-bit grayscale (SOF1) → .51, lossless (SOF3) → .70 with predictor 1
    else .57. Progressive, arithmetic and hierarchical JPEG have only retired
    transfer syntaxes; CMYK has only a retired photometric interpretation; a
    stored orientation must be applied to the pixels.
    """
    components = len(info.component_ids)
    if info.process in {"progressive", "arithmetic", "hierarchical"}:
        return f"{info.process} JPEG has only a retired transfer syntax"
    if components == 4:
        return "CMYK/YCCK JPEG has only a retired photometric interpretation"
    if components not in {1, 3}:
        return f"JPEG with {components} components has no DICOM photometric interpretation"
    if info.orientation != 1:
        return f"EXIF Orientation {info.orientation} must be applied to the pixels"
    grey = components == 1
    if info.process == "jpeg-ls":
        return _jpeg_ls_passthrough(info)
    if info.process == "lossless":
        bits = 8 if info.precision <= 8 else 16
        syntax = JPEG_LOSSLESS_SV1 if set(info.predictors) == {1} else JPEG_LOSSLESS_PROCESS_14
        return Passthrough(
            transfer_syntax=syntax,
            photometric_interpretation="MONOCHROME2" if grey else "RGB",
            samples_per_pixel=components,
            bits_allocated=bits,
            bits_stored=info.precision,
            lossy_method=None,
        )
    if info.process == "extended":
        if not grey:
            return (
                "colour extended (SOF1) JPEG has no DICOM transfer syntax row (PS3.5 Table 8.2.1-1)"
            )
        if info.precision == 8:
            return Passthrough(
                transfer_syntax=JPEG_EXTENDED_PROCESS_2_4,
                photometric_interpretation="MONOCHROME2",
                samples_per_pixel=1,
                bits_allocated=8,
                bits_stored=8,
                lossy_method="ISO_10918_1",
            )
        return Passthrough(
            transfer_syntax=JPEG_EXTENDED_PROCESS_2_4,
            photometric_interpretation="MONOCHROME2",
            samples_per_pixel=1,
            bits_allocated=16,
            bits_stored=12,
            lossy_method="ISO_10918_1",
        )
    if info.precision != 8:
        return "baseline JPEG must be 8-bit"
    # PS3.5 8.2.1: YCbCr-coded JPEG is YBR_FULL_422 whatever the chroma subsampling,
    # 4:4:4 included: the pinned dciodvfy rejects YBR_FULL with JPEG Baseline in every
    # IOD dicomize writes (SC, the VL IODs), so the SOF, not the label, says the sampling.
    if grey:
        photometric = "MONOCHROME2"
    else:
        photometric = "RGB" if info.colour_transform == "RGB" else "YBR_FULL_422"
    return Passthrough(
        transfer_syntax=JPEG_BASELINE_PROCESS_1,
        photometric_interpretation=photometric,
        samples_per_pixel=components,
        bits_allocated=8,
        bits_stored=8,
        lossy_method="ISO_10918_1",
    )


#: Segments kept when metadata is stripped: everything needed to decode correctly.
_KEPT = frozenset({0xC4, 0xCC, 0xDB, 0xDD, _APP14, _LSE}) | _SOF_MARKERS


def strip_segments(data: bytes, info: JpegInfo) -> tuple[bytes, list[str]]:
    """Return the codestream without APPn (except Adobe APP14) and COM segments.

    EXIF, XMP, IPTC, MPF, JFIF thumbnails and comments can hold GPS positions,
    serial numbers, names and thumbnails. The ICC profile leaves the stream
    too; the caller stores it in ICC Profile (0028,2000). Everything from the
    first SOS to EOI is copied unchanged.
    """
    kept: list[bytes | memoryview] = [data[:2]]
    removed: list[str] = []
    for marker, start, end in info.segments:
        if marker in _KEPT:
            kept.append(data[start:end])
        else:
            removed.append(_segment_name(marker))
    # A view: the scans are copied once, by the join, not sliced out first.
    kept.append(memoryview(data)[info.first_scan : info.end])
    return b"".join(kept), removed


def stripped_size(info: JpegInfo) -> int:
    """Return the length of the codestream :func:`strip_segments` gives, without making it.

    The bytes of a JPEG's compressed pixels: what is stored when it passes through,
    and what its Lossy Image Compression Ratio is measured over when it is decoded.
    """
    kept = sum(end - start for marker, start, end in info.segments if marker in _KEPT)
    return 2 + kept + info.end - info.first_scan


def _segment_name(marker: int) -> str:
    if marker == _COM:
        return "COM"
    if 0xE0 <= marker <= 0xEF:
        return f"APP{marker - 0xE0}"
    return f"0xFF{marker:02X}"


def _jpeg_ls_passthrough(info: JpegInfo) -> Passthrough | str:
    # PS3.5 8.2.3: .80 when every scan has NEAR 0, else .81. DICOM names no JPEG-LS
    # colour transform, so colour is RGB.
    grey = len(info.component_ids) == 1
    if not grey and 13 in info.lse_ids:  # ISO 14495-2 colour transform
        return "JPEG-LS with a colour transform has no DICOM photometric interpretation"
    if info.precision < 2:
        return "JPEG-LS needs at least 2 bits per sample in DICOM"
    near = max(info.predictors)
    return Passthrough(
        transfer_syntax=JPEG_LS_LOSSLESS if near == 0 else JPEG_LS_NEAR_LOSSLESS,
        photometric_interpretation="MONOCHROME2" if grey else "RGB",
        samples_per_pixel=len(info.component_ids),
        bits_allocated=8 if info.precision <= 8 else 16,
        bits_stored=info.precision,
        lossy_method=None if near == 0 else "ISO_14495_1",
    )
