"""FITS images (NASA/IAU FITS Standard 4.0), read exactly: 2-D integer data in the primary HDU.

Pillow reads 16-bit FITS as unsigned and drops BZERO, so a negative sample came
back as 65531; the format is simple enough to read directly, as Netpbm is.

* The header is 80-character cards in 2880-byte blocks; data follow, big-endian.
* BITPIX 8, 16 and 32 are integers; BZERO is added (BZERO 32768 is the usual way
  to store unsigned 16-bit data); BSCALE must be 1, or the values are not integers.
* The first stored row is the bottom of the picture (the standard's convention for
  display), so rows are reversed to put the top first, as DICOM stores it.
* Floating-point data (BITPIX -32, -64) is refused, as for every format.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from dicomize.errors import CorruptImage, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size
from dicomize.readers._array import picture_from_array

__all__ = ["read"]

_BLOCK = 2880
_CARD = 80
_TYPES = {8: ">u1", 16: ">i2", 32: ">i4"}


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:  # noqa: ARG001
    """Decode the primary image of a FITS file."""
    data = source if isinstance(source, bytes) else source.read()
    cards, start = _header(data)
    bitpix = _integer(cards, "BITPIX")
    axes = _integer(cards, "NAXIS")
    if bitpix < 0:
        raise UnsupportedInput(f"floating-point FITS data (BITPIX {bitpix}) is not supported")
    if bitpix not in _TYPES:
        raise CorruptImage(f"FITS BITPIX {bitpix} is not a valid integer sample size")
    shape = [_integer(cards, f"NAXIS{axis}") for axis in range(1, axes + 1)]
    if axes < 2 or any(length != 1 for length in shape[2:]):
        raise UnsupportedInput(f"FITS data with {axes} axes of {shape} is not a 2-D picture")
    columns, rows = shape[0], shape[1]
    check_size(columns, rows, options.max_pixels)
    scale, zero = cards.get("BSCALE", "1"), cards.get("BZERO", "0")
    if float(scale) != 1 or float(zero) != int(float(zero)):
        raise UnsupportedInput(f"FITS BSCALE {scale} / BZERO {zero} do not give integer values")
    size = rows * columns * bitpix // 8
    if start + size > len(data):
        raise CorruptImage("FITS data is truncated")
    stored = np.frombuffer(data, _TYPES[bitpix], rows * columns, start).reshape(rows, columns)
    values = stored.astype(np.int64) + int(float(zero))
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 0xFFFF:
        array = values.astype(np.uint16 if bitpix > 8 else np.uint8)
    elif low >= -(2**15) and high < 2**15:
        array = values.astype(np.int16)
    else:
        raise UnsupportedInput(f"FITS values {low} to {high} do not fit the 16 bits DICOM holds")
    return picture_from_array(
        array[::-1],
        background=options.background,
        derivation=("FITS rows reversed: the standard stores the bottom row first",),
        source_format="FITS",
    )


def _header(data: bytes) -> tuple[dict[str, str], int]:
    cards: dict[str, str] = {}
    for offset in range(0, len(data) - _CARD + 1, _CARD):
        card = data[offset : offset + _CARD].decode("ascii", "replace")
        keyword = card[:8].strip()
        if keyword == "END":
            end = offset + _CARD
            return cards, end + (-end % _BLOCK)
        if card[8:10] == "= ":
            cards[keyword] = card[10:].split("/", 1)[0].strip()
    raise CorruptImage("FITS header has no END card (truncated)")


def _integer(cards: dict[str, str], keyword: str) -> int:
    try:
        return int(cards[keyword])
    except (KeyError, ValueError):
        raise CorruptImage(f"FITS header lacks a valid {keyword}") from None
