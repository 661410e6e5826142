"""JPEG 2000 and HTJ2K codestreams read by their main header (PS3.5 8.2.4, 8.2.14, A.4.4).

:func:`parse_j2k` reads SIZ (size, components, depth, sign), CAP (Part 15,
HTJ2K) and COD (multiple component transform, wavelet), then walks the
tile-parts to EOC so a truncated codestream is refused. A JP2 file is
reduced to its ``jp2c`` codestream box: DICOM forbids the JP2 wrapper.
:func:`j2k_passthrough` maps that to a transfer syntax and photometric
interpretation: MCT on → YBR_RCT (reversible 5-3) or YBR_ICT (irreversible
9-7); MCT off → the components as coded (RGB or MONOCHROME2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dicomize.codestreams.boxes import box
from dicomize.codestreams.passthrough import Passthrough
from dicomize.dicom.icc import as_input_profile
from dicomize.dicom.uids import HTJ2K, HTJ2K_LOSSLESS, JPEG_2000, JPEG_2000_LOSSLESS
from dicomize.errors import CorruptImage

__all__ = [
    "JP2_SIGNATURE",
    "J2kInfo",
    "codestream_of",
    "j2k_passthrough",
    "jp2_header",
    "parse_j2k",
]

_SOC, _SIZ, _CAP, _COD, _SOT, _EOC = 0x4F, 0x51, 0x50, 0x52, 0x90, 0xD9
#: The first box of every JP2 file (ISO 15444-1 I.5.1).
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class J2kInfo:
    """What the main header of a JPEG 2000 codestream says."""

    rows: int
    columns: int
    components: int
    precision: int
    signed: bool
    mct: bool
    reversible: bool
    htj2k: bool
    #: Offset just after EOC.
    end: int


def codestream_of(data: bytes) -> bytes:
    """Return the codestream: `data` itself, or the ``jp2c`` box of a JP2 file."""
    if not data.startswith(JP2_SIGNATURE):
        return data
    found = box(data, 0, len(data), b"jp2c")
    if found is None:
        raise CorruptImage("JP2 file has no codestream (jp2c) box")
    start, end = found
    return data[start:end]


def parse_j2k(data: bytes) -> J2kInfo:
    """Read the main header of codestream `data` and walk its tile-parts to EOC.

    Raises
    ------
    CorruptImage
        When a marker segment is truncated, SIZ or COD is missing, or the
        tile-parts do not end in EOC.
    """
    if not data.startswith(b"\xff\x4f\xff\x51"):
        raise CorruptImage("JPEG 2000 codestream does not start with SOC and SIZ")
    position, size = 2, len(data)
    siz = cod = b""
    cap = False
    while True:
        if position + 4 > size or data[position] != 0xFF:
            raise CorruptImage("JPEG 2000 main header is truncated or damaged")
        marker = data[position + 1]
        if marker == _SOT:
            break
        (length,) = struct.unpack_from(">H", data, position + 2)
        if length < 2 or position + 2 + length > size:
            raise CorruptImage(f"JPEG 2000 segment 0xFF{marker:02X} is truncated")
        body = data[position + 4 : position + 2 + length]
        if marker == _SIZ:
            siz = body
        elif marker == _CAP:
            cap = True
        elif marker == _COD:
            cod = body
        position += 2 + length
    if len(siz) < 38 or len(cod) < 10:
        raise CorruptImage("JPEG 2000 main header lacks SIZ or COD")
    rsiz, xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">HIIII", siz, 0)
    (components,) = struct.unpack_from(">H", siz, 34)
    if not _consistent(siz, cod, components):
        raise CorruptImage("JPEG 2000 SIZ or COD segment breaks ISO 15444-1 A.5.1 / A.6.1")
    depths = {siz[36 + 3 * i] for i in range(components)}
    if len(depths) != 1:
        raise CorruptImage("JPEG 2000 components of different depths are not supported")
    (ssiz,) = depths
    position = _walk_tile_parts(data, position)
    return J2kInfo(
        rows=ysiz - yosiz,
        columns=xsiz - xosiz,
        components=components,
        precision=(ssiz & 0x7F) + 1,
        signed=bool(ssiz & 0x80),
        mct=cod[4] == 1,
        reversible=cod[9] == 1,
        htj2k=cap or bool(rsiz & 0x4000),
        end=position,
    )


def _consistent(siz: bytes, cod: bytes, components: int) -> bool:
    """Check the SIZ and COD fields against their ranges (15444-1 Tables A.9-A.15).

    A damaged header that still walks to EOC would otherwise pass through and
    make an object no decoder can read.
    """
    if components == 0 or len(siz) != 36 + 3 * components:
        return False
    xsiz, ysiz, xosiz, yosiz, xtsiz, ytsiz, xtosiz, ytosiz = struct.unpack_from(">8I", siz, 2)
    image = xsiz > xosiz and ysiz > yosiz
    tiles = (
        xtsiz > 0
        and ytsiz > 0
        and xtosiz <= xosiz
        and ytosiz <= yosiz
        and xtsiz + xtosiz > xosiz
        and ytsiz + ytosiz > yosiz
    )
    samples = all(
        (siz[36 + 3 * i] & 0x7F) < 38 and siz[37 + 3 * i] and siz[38 + 3 * i]
        for i in range(components)
    )
    # SGcod: progression order <= 4, at least one layer, MCT 0/1; SPcod: at most 32
    # decomposition levels, code-block exponents summing to at most 8, a known wavelet.
    progression, layers, mct = cod[1], int.from_bytes(cod[2:4], "big"), cod[4]
    levels, block_width, block_height, wavelet = cod[5], cod[6], cod[7], cod[9]
    coding = (
        progression <= 4
        and layers >= 1
        and mct <= 1
        and levels <= 32
        and block_width <= 8
        and block_height <= 8
        and block_width + block_height <= 8
        and wavelet <= 1
    )
    return image and tiles and samples and coding


def _walk_tile_parts(data: bytes, position: int) -> int:
    size = len(data)
    while True:
        if position + 2 > size:
            raise CorruptImage("JPEG 2000 codestream ends before EOC (truncated)")
        marker = data[position : position + 2]
        if marker == b"\xff\xd9":
            return position + 2
        if marker != b"\xff\x90" or position + 12 > size:
            raise CorruptImage("JPEG 2000 tile-part is damaged or truncated")
        (psot,) = struct.unpack_from(">I", data, position + 6)
        if psot == 0:  # the last tile-part runs to EOC
            stripped = data.rstrip(b"\x00")
            if not stripped.endswith(b"\xff\xd9"):
                raise CorruptImage("JPEG 2000 codestream ends before EOC (truncated)")
            return len(stripped)
        if position + psot > size:
            raise CorruptImage("JPEG 2000 tile-part runs past the end (truncated)")
        position += psot


def j2k_passthrough(info: J2kInfo) -> Passthrough | str:
    """Describe `info` for DICOM, or say why it cannot be stored as it is."""
    if info.components not in {1, 3}:
        return f"JPEG 2000 with {info.components} components has no photometric interpretation here"
    if info.precision > 16:
        return f"{info.precision}-bit JPEG 2000 is beyond the 16 bits these IODs hold"
    if info.signed and info.components == 3:
        return "signed colour JPEG 2000 is not allowed (colour is unsigned)"
    if info.components == 1:
        photometric = "MONOCHROME2"
    elif info.mct:
        photometric = "YBR_RCT" if info.reversible else "YBR_ICT"
    else:
        photometric = "RGB"
    if info.htj2k:
        syntax = HTJ2K_LOSSLESS if info.reversible else HTJ2K
        method = "ISO_15444_15"
    else:
        syntax = JPEG_2000_LOSSLESS if info.reversible else JPEG_2000
        method = "ISO_15444_1"
    return Passthrough(
        transfer_syntax=syntax,
        photometric_interpretation=photometric,
        samples_per_pixel=info.components,
        bits_allocated=8 if info.precision <= 8 else 16,
        bits_stored=info.precision,
        lossy_method=None if info.reversible else method,
        pixel_representation=1 if info.signed else 0,
    )


def jp2_header(data: bytes) -> tuple[str | None, bytes | None]:
    """Read the jp2h boxes: what prevents passthrough, and an embedded ICC profile."""
    header = box(data, 0, len(data), b"jp2h")
    if header is None:
        raise CorruptImage("JP2 file has no header (jp2h) box")
    if box(data, *header, b"pclr") is not None:
        return "a JP2 palette (pclr) must be applied to the pixels", None
    colour = box(data, *header, b"colr")
    if colour is None:
        return None, None
    start, end = colour
    method = data[start]
    if method == 1 and end - start >= 7:  # enumerated colour space
        (space,) = struct.unpack_from(">I", data, start + 3)
        if space == 18:
            return "sYCC JP2 colour has no DICOM photometric interpretation here", None
        return None, None
    if method in {2, 3}:  # restricted or any ICC profile
        return None, as_input_profile(data[start + 3 : end])
    return None, None
