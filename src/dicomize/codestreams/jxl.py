"""JPEG XL headers (ISO/IEC 18181-1): size, bit depth, orientation and colour coding, not decoded.

The codestream starts with ``FF 0A``; a container file starts with the
``JXL `` signature box and holds the codestream in a ``jxlc`` box or in
``jxlp`` parts. The headers are bit-packed, least significant bit first
(18181-1 clause 9). What DICOM needs from them: the bit depth (Bits Stored),
and whether the picture was coded in XYB, which only lossy coding uses.
"""

from __future__ import annotations

from dicomize.codestreams.boxes import boxes
from dicomize.errors import CorruptImage, UnsupportedInput

__all__ = ["CONTAINER_SIGNATURE", "SIGNATURE", "JxlInfo", "parse_jxl"]

#: The bare codestream's first bytes.
SIGNATURE = b"\xff\x0a"
#: The container's first box (18181-2 9.1).
CONTAINER_SIGNATURE = b"\x00\x00\x00\x0cJXL \r\n\x87\n"

_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
#: Extra channel types (18181-1 Table D.9): alpha and spot colour carry extra fields.
_ALPHA, _SPOT, _CFA = 0, 2, 5


class JxlInfo:
    """What the headers of a JPEG XL codestream say."""

    __slots__ = (
        "animated",
        "bits_per_sample",
        "columns",
        "extra_channels",
        "float_samples",
        "orientation",
        "rows",
        "xyb_encoded",
    )

    rows: int
    columns: int
    #: Bits per sample of the colour channels.
    bits_per_sample: int
    float_samples: bool
    #: EXIF-style orientation 1-8; libjxl applies it when decoding.
    orientation: int
    extra_channels: int
    #: Coded in XYB, which libjxl uses only for lossy coding.
    xyb_encoded: bool
    animated: bool

    def __init__(
        self,
        *,
        rows: int,
        columns: int,
        bits_per_sample: int,
        float_samples: bool,
        orientation: int,
        extra_channels: int,
        xyb_encoded: bool,
        animated: bool,
    ) -> None:
        self.rows = rows
        self.columns = columns
        self.bits_per_sample = bits_per_sample
        self.float_samples = float_samples
        self.orientation = orientation
        self.extra_channels = extra_channels
        self.xyb_encoded = xyb_encoded
        self.animated = animated


class _Bits:
    """Reads the bit-packed fields of 18181-1 clause 9 (least significant bit first)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def u(self, count: int) -> int:
        value = 0
        for index in range(count):
            byte = self.position >> 3
            if byte >= len(self.data):
                raise CorruptImage("JPEG XL header is truncated")
            value |= ((self.data[byte] >> (self.position & 7)) & 1) << index
            self.position += 1
        return value

    def flag(self) -> bool:
        return bool(self.u(1))

    def u32(self, *choices: tuple[int, int]) -> int:
        """U32(d0..d3): each choice is (bits, offset); (0, v) is the value v itself."""
        bits, offset = choices[self.u(2)]
        return self.u(bits) + offset


def _size(bits: _Bits) -> tuple[int, int]:
    small = bits.flag()
    wide = ((9, 1), (13, 1), (18, 1), (30, 1))
    rows = (bits.u(5) + 1) * 8 if small else bits.u32(*wide)
    ratio = bits.u(3)
    if ratio:
        numerator, denominator = _RATIOS[ratio]
        return rows, rows * numerator // denominator
    return rows, (bits.u(5) + 1) * 8 if small else bits.u32(*wide)


def _skip_preview(bits: _Bits) -> None:
    div8 = bits.flag()
    for axis in range(2):
        if axis == 1 and bits.u(3):  # a ratio: no x size follows
            return
        if div8:
            bits.u32((0, 16), (0, 32), (5, 1), (9, 33))
        else:
            bits.u32((6, 1), (8, 65), (10, 321), (12, 1345))


def _skip_animation(bits: _Bits) -> None:
    bits.u32((0, 100), (0, 1000), (10, 1), (30, 1))
    bits.u32((0, 1), (0, 1001), (8, 1), (10, 1))
    bits.u32((0, 0), (3, 0), (16, 0), (32, 0))
    bits.flag()


def _bit_depth(bits: _Bits) -> tuple[int, bool]:
    if bits.flag():  # floating-point samples
        depth = bits.u32((0, 32), (0, 16), (0, 24), (6, 1))
        bits.u(4)
        return depth, True
    return bits.u32((0, 8), (0, 10), (0, 12), (6, 1)), False


def _skip_extra_channel(bits: _Bits) -> None:
    if bits.flag():  # d_alpha: an 8-bit alpha channel with every default
        return
    kind = bits.u32((0, 0), (0, 1), (4, 2), (6, 18))
    _bit_depth(bits)
    bits.u32((0, 0), (0, 3), (0, 4), (3, 1))
    name = bits.u32((0, 0), (4, 0), (5, 16), (10, 48))
    bits.u(8 * name)
    if kind == _ALPHA:
        bits.flag()
    elif kind == _SPOT:
        bits.u(64)
    elif kind == _CFA:
        bits.u32((0, 1), (2, 0), (4, 3), (8, 19))


def codestream_of(data: bytes) -> bytes:
    """Return the codestream: `data` itself, or what the container's boxes hold."""
    if data.startswith(SIGNATURE):
        return data
    parts = []
    for kind, start, end in boxes(data):
        if kind == b"jxlc":
            return data[start:end]
        if kind == b"jxlp":
            parts.append(data[start + 4 : end])  # each part starts with its index
    if not parts:
        raise CorruptImage("JPEG XL container has no codestream (jxlc or jxlp) box")
    return b"".join(parts)


def parse_jxl(data: bytes) -> JxlInfo:
    """Read the size and image metadata headers of a JPEG XL file or codestream.

    Raises
    ------
    CorruptImage
        When the headers are truncated or the codestream is missing.
    UnsupportedInput
        For floating-point samples.
    """
    stream = codestream_of(data)
    if not stream.startswith(SIGNATURE):
        raise CorruptImage("JPEG XL codestream does not start with its signature")
    bits = _Bits(stream[2:66])  # the headers needed here fit in far fewer bytes
    rows, columns = _size(bits)
    orientation, animated = 1, False
    if bits.flag():  # all_default: 8-bit, upright, XYB
        return JxlInfo(
            rows=rows,
            columns=columns,
            bits_per_sample=8,
            float_samples=False,
            orientation=1,
            extra_channels=0,
            xyb_encoded=True,
            animated=False,
        )
    if bits.flag():  # extra_fields
        orientation = 1 + bits.u(3)
        if bits.flag():
            _size(bits)  # intrinsic size: a display hint only
        if bits.flag():
            _skip_preview(bits)
        animated = bits.flag()
        if animated:
            _skip_animation(bits)
    depth, floating = _bit_depth(bits)
    if floating:
        raise UnsupportedInput(f"JPEG XL with {depth}-bit floating-point samples is not supported")
    bits.flag()  # modular_16_bit_buffers
    extra = bits.u32((0, 0), (0, 1), (4, 2), (12, 1))
    for _ in range(extra):
        _skip_extra_channel(bits)
    return JxlInfo(
        rows=rows,
        columns=columns,
        bits_per_sample=depth,
        float_samples=floating,
        orientation=orientation,
        extra_channels=extra,
        xyb_encoded=bits.flag(),
        animated=animated,
    )
