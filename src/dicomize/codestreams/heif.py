"""HEIF and AVIF files (ISO/IEC 23008-12, ISO BMFF): which one a file is, and AV1's bit depth.

Both start with an ``ftyp`` box whose brands say what the file holds: ``avif``
/ ``avis`` for AV1 pictures, ``heic``, ``mif1`` and their kin for HEVC ones.
"""

from __future__ import annotations

from dicomize.codestreams.boxes import find

__all__ = ["AVIF_BRANDS", "HEIF_BRANDS", "av1_bit_depth", "brands", "is_avif", "is_heif"]

#: Brands of HEVC-coded HEIF stills and sequences (23008-12 Annex B) and the generic ones.
HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
#: Brands of AV1 stills and sequences (AV1 Image File Format 7).
AVIF_BRANDS = frozenset({b"avif", b"avis"})


def brands(data: bytes) -> frozenset[bytes]:
    """Return the major and compatible brands of the ``ftyp`` box that opens `data`."""
    if data[4:8] != b"ftyp":
        return frozenset()
    end = min(int.from_bytes(data[:4], "big"), len(data))
    compatible = (data[offset : offset + 4] for offset in range(16, end - 3, 4))
    return frozenset({data[8:12], *compatible})


def is_avif(data: bytes) -> bool:
    """Tell whether `data` is an AVIF file (AV1 in HEIF)."""
    return bool(brands(data) & AVIF_BRANDS)


def is_heif(data: bytes) -> bool:
    """Tell whether `data` is a HEIF file that is not AVIF (HEVC, the iPhone's HEIC)."""
    found = brands(data)
    return bool(found & HEIF_BRANDS) and not found & AVIF_BRANDS


def av1_bit_depth(data: bytes) -> int | None:
    """Return the bit depth in the first AV1 configuration (``av1C``) of an AVIF file.

    AV1 ISO media binding 2.3.3: the third byte holds high_bitdepth (bit 6) and
    twelve_bit (bit 5). None when there is no such box.
    """
    span = find(data, b"meta", b"iprp", b"ipco", b"av1C")
    if span is None or span[1] - span[0] < 3:
        return None
    flags = data[span[0] + 2]
    if flags & 0x40:
        return 12 if flags & 0x20 else 10
    return 8
