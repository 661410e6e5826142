"""JPEG codestreams read by their markers, without decoding, for passthrough (PS3.5 8.2.1).

:func:`parse_jpeg` walks every segment to EOI and collects what DICOM needs to
describe the codestream: the coding process (SOFn), precision, size and
components, the colour transform (Adobe APP14, JFIF, component identifiers),
an ICC profile (APP2), the EXIF orientation, and the predictors of lossless
scans. :func:`jpeg_passthrough` decides whether the codestream may be
wrapped as it is, and :func:`strip_segments` removes metadata segments as a
byte operation that leaves the entropy-coded data identical.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import struct
import subprocess

from dicomize._icc import srgb_profile
from dicomize.errors import CorruptImage, ImageTooLarge
from dicomize.options import ConvertOptions
from dicomize.picture import Picture

__all__ = [
    "JpegInfo",
    "Passthrough",
    "jpeg_passthrough",
    "parse_jpeg",
    "passthrough_picture",
    "strip_segments",
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


@dataclasses.dataclass(frozen=True)
class JpegInfo:
    """What the markers of a JPEG codestream say."""

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
    lse_ids: tuple[int, ...] = ()
    #: Where the EXIF Orientation value is stored: (offset in the stream, "<" or ">").
    orientation_at: tuple[int, str] | None = None
    #: The EXIF block (APP1 body), for the VL Photographic IOD; never stored as it is.
    exif: bytes | None = None

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


@dataclasses.dataclass(frozen=True)
class Passthrough:
    """How a legal codestream is described in DICOM."""

    transfer_syntax: str
    photometric_interpretation: str
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    lossy_method: str | None
    pixel_representation: int = 0

    def picture(
        self,
        stream: bytes,
        *,
        rows: int,
        columns: int,
        icc: bytes | None,
        notes: tuple[str, ...],
        source_format: str,
    ) -> Picture:
        """Describe `stream`, a codestream this passthrough decision is about, stored unchanged."""
        lossy: tuple[tuple[str | None, float | None], ...] = ()
        if self.lossy_method is not None:
            decoded = rows * columns * self.samples_per_pixel * self.bits_allocated // 8
            lossy = ((self.lossy_method, round(decoded / len(stream), 2)),)
        colour = self.samples_per_pixel == 3  # noqa: PLR2004
        return Picture(
            pixels=stream,
            rows=rows,
            columns=columns,
            samples_per_pixel=self.samples_per_pixel,
            photometric_interpretation=self.photometric_interpretation,
            bits_allocated=self.bits_allocated,
            bits_stored=self.bits_stored,
            pixel_representation=self.pixel_representation,
            icc_profile=(icc or srgb_profile()) if colour else None,
            derivation=notes,
            lossy=lossy,
            source_format=source_format,
            transfer_syntax=self.transfer_syntax,
        )


def parse_jpeg(data: bytes) -> JpegInfo:  # noqa: PLR0912, PLR0915  (one pass over the markers)
    """Walk the markers of `data` to EOI.

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
    while True:
        if position >= size:
            raise CorruptImage("JPEG ends before its EOI marker (truncated)")
        if data[position] != 0xFF:  # noqa: PLR2004
            raise CorruptImage(f"JPEG has no marker where one is required (byte {position})")
        start = position
        while position < size and data[position] == 0xFF:  # noqa: PLR2004  (fill bytes)
            position += 1
        if position >= size:
            raise CorruptImage("JPEG ends before its EOI marker (truncated)")
        marker = data[position]
        position += 1
        if marker == _EOI:
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # noqa: PLR2004  (no length)
            continue
        if position + 2 > size:
            raise CorruptImage("JPEG segment header is truncated")
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 or position + length > size:  # noqa: PLR2004
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
        elif marker == _APP2 and body.startswith(b"ICC_PROFILE\x00") and len(body) > 14:  # noqa: PLR2004
            icc_chunks[body[12]] = body[14:]
        elif marker == _LSE and body:
            lse_ids.append(body[0])
        elif marker == _APP14 and body.startswith(b"Adobe") and len(body) >= 12:  # noqa: PLR2004
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
    if len(frame) < 6:  # noqa: PLR2004
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
    )


def _exif_orientation(tiff: bytes) -> tuple[int, tuple[int, str] | None]:
    """Return the Orientation value of IFD0 and where its value is (offset in `tiff`, order)."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for index in range(count):
            entry = ifd + 2 + 12 * index
            tag, kind, _, value = struct.unpack_from(order + "HHIH", tiff, entry)
            if tag == 0x0112 and kind == 3:  # noqa: PLR2004  (Orientation, SHORT)
                return (value if 1 <= value <= 8 else 1), (entry + 8, order)  # noqa: PLR2004
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
    if components == 4:  # noqa: PLR2004
        return "CMYK/YCCK JPEG has only a retired photometric interpretation"
    if components not in {1, 3}:
        return f"JPEG with {components} components has no DICOM photometric interpretation"
    if info.orientation != 1:
        return f"EXIF Orientation {info.orientation} must be applied to the pixels"
    grey = components == 1
    if info.process == "jpeg-ls":
        return _jpeg_ls_passthrough(info)
    if info.process == "lossless":
        bits = 8 if info.precision <= 8 else 16  # noqa: PLR2004
        syntax = (
            "1.2.840.10008.1.2.4.70" if set(info.predictors) == {1} else "1.2.840.10008.1.2.4.57"
        )
        return Passthrough(
            syntax, "MONOCHROME2" if grey else "RGB", components, bits, info.precision, None
        )
    if info.process == "extended":
        if not grey:
            return (
                "colour extended (SOF1) JPEG has no DICOM transfer syntax row (PS3.5 Table 8.2.1-1)"
            )
        if info.precision == 8:  # noqa: PLR2004
            return Passthrough("1.2.840.10008.1.2.4.51", "MONOCHROME2", 1, 8, 8, "ISO_10918_1")
        return Passthrough("1.2.840.10008.1.2.4.51", "MONOCHROME2", 1, 16, 12, "ISO_10918_1")
    if info.precision != 8:  # noqa: PLR2004
        return "baseline JPEG must be 8-bit"
    # PS3.5 8.2.1: YCbCr-coded JPEG is YBR_FULL_422 whatever the chroma subsampling.
    if grey:
        photometric = "MONOCHROME2"
    else:
        photometric = "RGB" if info.colour_transform == "RGB" else "YBR_FULL_422"
    return Passthrough("1.2.840.10008.1.2.4.50", photometric, components, 8, 8, "ISO_10918_1")


#: Segments kept when metadata is stripped: everything needed to decode correctly.
_KEPT = frozenset({0xC4, 0xCC, 0xDB, 0xDD, _APP14, _LSE}) | _SOF_MARKERS


def strip_segments(data: bytes, info: JpegInfo) -> tuple[bytes, list[str]]:
    """Return the codestream without APPn (except Adobe APP14) and COM segments.

    EXIF, XMP, IPTC, MPF, JFIF thumbnails and comments can hold GPS positions,
    serial numbers, names and thumbnails. The ICC profile leaves the stream
    too; the caller stores it in ICC Profile (0028,2000). Everything from the
    first SOS to EOI is copied unchanged.
    """
    kept = [data[:2]]
    removed: list[str] = []
    for marker, start, end in info.segments:
        if marker in _KEPT:
            kept.append(data[start:end])
        else:
            removed.append(_segment_name(marker))
    kept.append(data[info.first_scan : info.end])
    return b"".join(kept), removed


def _segment_name(marker: int) -> str:
    if marker == _COM:
        return "COM"
    if 0xE0 <= marker <= 0xEF:  # noqa: PLR2004
        return f"APP{marker - 0xE0}"
    return f"0xFF{marker:02X}"


def passthrough_picture(
    data: bytes, info: JpegInfo, legal: Passthrough, options: ConvertOptions, note: str = ""
) -> Picture:
    """Wrap a legal codestream unchanged (metadata segments removed unless kept)."""
    pixels = info.rows * info.columns
    if pixels > options.max_pixels:
        raise ImageTooLarge(
            f"{info.columns}x{info.rows} picture size exceeds the limit of "
            f"{options.max_pixels} pixels"
        )
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
    return dataclasses.replace(picture, exif=info.exif) if info.exif else picture


def decode_deep_jpeg(data: bytes, info: JpegInfo, options: ConvertOptions) -> Picture:
    """Decode a 12/16-bit, lossless or JPEG-LS stream exactly (Pillow handles only 8-bit lossy)."""
    import imagecodecs  # noqa: PLC0415

    from dicomize.readers._array import apply_orientation, picture_from_array  # noqa: PLC0415

    if info.rows * info.columns > options.max_pixels:
        raise ImageTooLarge(
            f"{info.columns}x{info.rows} picture size exceeds the limit of "
            f"{options.max_pixels} pixels"
        )
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
        bits_stored=info.precision if info.precision > 8 else None,  # noqa: PLR2004
        icc_profile=info.icc_profile,
        derivation=derivation,
        lossy=lossy,
        source_format="JPEG",
    )


def _jpeg_ls_passthrough(info: JpegInfo) -> Passthrough | str:
    # PS3.5 8.2.3: .80 when every scan has NEAR 0, else .81. DICOM names no JPEG-LS
    # colour transform, so colour is RGB.
    grey = len(info.component_ids) == 1
    if not grey and 13 in info.lse_ids:  # noqa: PLR2004  (ISO 14495-2 colour transform)
        return "JPEG-LS with a colour transform has no DICOM photometric interpretation"
    if info.precision < 2:  # noqa: PLR2004
        return "JPEG-LS needs at least 2 bits per sample in DICOM"
    near = max(info.predictors)
    return Passthrough(
        "1.2.840.10008.1.2.4.80" if near == 0 else "1.2.840.10008.1.2.4.81",
        "MONOCHROME2" if grey else "RGB",
        len(info.component_ids),
        8 if info.precision <= 8 else 16,  # noqa: PLR2004
        info.precision,
        None if near == 0 else "ISO_14495_1",
    )


# EXIF Orientation → the jpegtran transform that makes the pixels upright.
_JPEGTRAN_TRANSFORMS = {
    2: ("-flip", "horizontal"),
    3: ("-rotate", "180"),
    4: ("-flip", "vertical"),
    5: ("-transpose",),
    6: ("-rotate", "90"),
    7: ("-transverse",),
    8: ("-rotate", "270"),
}


def lossless_transcode(data: bytes, info: JpegInfo) -> tuple[bytes, JpegInfo, str] | None:
    """Rewrite a progressive, arithmetic or EXIF-oriented JPEG as a sequential one, losslessly.

    jpegtran (libjpeg-turbo) works on the DCT coefficients: nothing is decoded
    or quantised again. A rotation must be perfect (the size a multiple of the
    MCU) or it is not done. Returns the new stream, its description and a note
    for Derivation Description, or None when jpegtran is absent or cannot help,
    so that the caller decodes instead.
    """
    transform = _JPEGTRAN_TRANSFORMS.get(info.orientation, ())
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
        and info.precision == 8  # noqa: PLR2004
        and len(info.component_ids) in {1, 3}
    )
    jpegtran = shutil.which("jpegtran") if transcodable else None
    if jpegtran is None:
        return None
    command = [jpegtran, "-copy", "all", *(("-perfect", *transform) if transform else ())]
    try:
        result = subprocess.run(
            command, input=data[: info.end], capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 and result.stdout else None
