"""FITS images (NASA/IAU FITS Standard 4.0), read exactly: 2-D integer data of the first image.

Pillow reads 16-bit FITS as unsigned and drops BZERO, so a negative sample came
back as 65531; the format is simple enough to read directly, as Netpbm is.

* The header is 80-character cards in 2880-byte blocks; data follow, big-endian.
* The picture is the primary HDU's data, or, when the primary holds none (NAXIS 0,
  as in every compressed file), the first IMAGE extension's or tile-compressed image's.
* A tile-compressed image (Standard 4.0 section 10: a BINTABLE with ZIMAGE = T, one
  row per tile) is decompressed when its tiles are RICE_1 (imagecodecs' Rice decoder,
  cfitsio's algorithm), GZIP_1 or GZIP_2 (zlib): all lossless for integers. PLIO_1
  and HCOMPRESS_1 are refused, naming funpack, which decompresses them.
* A whole file compressed with gzip (``.fits.gz``) is decompressed as it is read, no
  further than the picture needs: its headers give the size before the pixels inflate.
* BITPIX 8, 16 and 32 are integers; BZERO is added (BZERO 32768 is the usual way
  to store unsigned 16-bit data); BSCALE must be 1, or the values are not integers.
* The first stored row is the bottom of the picture (the standard's convention for
  display), so rows are reversed to put the top first, as DICOM stores it.
* Floating-point data (BITPIX -32, -64) is refused, as for every format.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from dicomize.errors import CorruptImage, ImageTooLarge, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size
from dicomize.readers._array import picture_from_array

__all__ = ["read"]

_BLOCK = 2880
_CARD = 80
_TYPES = {8: ">u1", 16: ">i2", 32: ">i4"}
#: A header longer than this (about 36,000 cards) is taken for damage, not read on.
_MAX_HEADER = 1000 * _BLOCK
#: HDUs looked through for an image before giving up.
_MAX_HDUS = 64
_GZIP = b"\x1f\x8b"
#: Tile compressions read (Standard 4.0 section 10.4); RICE_ONE is RICE_1's old name.
_TILE_CODECS = frozenset({"RICE_1", "RICE_ONE", "GZIP_1", "GZIP_2"})
#: TFORM of a variable-length array column: repeat 0/1, P or Q descriptor, element type.
_ARRAY_FORM = re.compile(r"^[01]?([PQ])([BIJ])(\(\d+\))?$")
_ELEMENT_TYPES = {"B": ">u1", "I": ">i2", "J": ">i4"}
#: Bytes per element of each binary table column type (Standard 4.0 Table 18).
_COLUMN_BYTES = {
    "L": 1, "B": 1, "A": 1, "I": 2, "J": 4, "K": 8, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16
}  # fmt: skip


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:  # noqa: ARG001
    """Decode the first image of a FITS file, tile-compressed or gzip-compressed or not."""
    data = source if isinstance(source, bytes) else source.read()
    # The most a picture within the limit and its headers can inflate to (32-bit samples).
    content = _Content(data, limit=options.max_pixels * 4 + (64 << 20))
    index, cards, start = _image_hdu(content)
    notes: list[str] = []
    if content.gzipped:
        notes.append("gzip-compressed FITS file decompressed")
    if cards.get("ZIMAGE") == "T":
        values = _tiled_image(content, cards, start, options.max_pixels)
        codec = _text(cards, "ZCMPTYPE")
        notes.append(f"tile-compressed image ({codec}) in extension {index} decompressed")
    else:
        values = _plain_image(content, cards, start, options.max_pixels)
        if index:
            notes.append(f"image read from extension {index}: the primary HDU holds none")
    content.check_the_rest()
    notes.append("FITS rows reversed: the standard stores the bottom row first")
    return picture_from_array(
        _integers(values, cards)[::-1],
        background=options.background,
        derivation=tuple(notes),
        source_format="FITS",
    )


class _Content:
    """The file's bytes; for a ``.fits.gz``, inflated only as far as they are read.

    Inflating stops at `limit` bytes: past it, a small file is a decompression bomb.
    """

    __slots__ = ("_inflated", "_inflater", "_limit", "_pending", "_plain", "gzipped")

    def __init__(self, data: bytes, *, limit: int) -> None:
        self.gzipped = data.startswith(_GZIP)
        self._limit = limit
        self._plain = data
        self._inflater = zlib.decompressobj(wbits=31)  # gzip
        self._pending = data
        self._inflated = bytearray()

    def get(
        self, start: int, end: int, truncated: str = "FITS file is truncated"
    ) -> bytes | memoryview:
        """Return bytes `start` to `end`; CorruptImage, saying `truncated`, past the end."""
        if not self.gzipped:
            if end > len(self._plain):
                raise CorruptImage(truncated)
            return memoryview(self._plain)[start:end]
        self._inflate(end)
        if end > len(self._inflated):
            raise CorruptImage(truncated)
        return bytes(self._inflated[start:end])

    def check_the_rest(self) -> None:
        """Inflate the rest of a ``.fits.gz`` (unkept), so that zlib checks its CRC-32 at the end.

        The pixels read may be whole while the stream is damaged after them, or
        damaged in a way inflating does not notice until the check. A rest longer
        than the limit goes unchecked: the picture read was within it.
        """
        if not self.gzipped:
            return
        total = len(self._inflated)
        while not self._inflater.eof and total <= self._limit:
            chunk = self._decompress(1 << 20)
            total += len(chunk)
            if not chunk and not self._pending:
                raise CorruptImage("gzip-compressed FITS file is truncated")

    def ends_at(self, offset: int) -> bool:
        """Tell whether the file has nothing at or after `offset`."""
        if not self.gzipped:
            return offset >= len(self._plain)
        self._inflate(offset + 1)
        return offset >= len(self._inflated)

    def _inflate(self, end: int) -> None:
        if end > self._limit:
            raise ImageTooLarge(
                f"gzip-compressed FITS file would inflate beyond {self._limit} bytes, more than "
                "a picture within the pixel limit needs"
            )
        while len(self._inflated) < end and not self._inflater.eof:
            chunk = self._decompress(max(end - len(self._inflated), 1 << 16))
            self._inflated += chunk
            if not chunk and not self._pending:
                break  # the compressed stream ends first

    def _decompress(self, most: int) -> bytes:
        try:
            chunk = self._inflater.decompress(self._pending, most)
        except zlib.error as exc:
            raise CorruptImage(f"gzip-compressed FITS file is damaged: {exc}") from exc
        self._pending = self._inflater.unconsumed_tail
        return chunk


def _image_hdu(content: _Content) -> tuple[int, dict[str, str], int]:
    """Find the HDU that holds the picture: its index, its header cards, its data offset."""
    offset = 0
    for index in range(_MAX_HDUS):
        cards, start = _header(content, offset)
        if index == 0 and _integer(cards, "NAXIS") > 0:
            return index, cards, start  # the primary holds data: that is the picture
        kind = _text(cards, "XTENSION")
        if kind == "IMAGE" and _integer(cards, "NAXIS") > 0:
            return index, cards, start
        if kind == "BINTABLE" and cards.get("ZIMAGE") == "T":
            return index, cards, start
        end = start + _data_size(cards)
        offset = end + (-end % _BLOCK)
        if content.ends_at(offset):
            break
    else:
        raise UnsupportedInput(f"FITS file has no image in its first {_MAX_HDUS} HDUs")
    raise UnsupportedInput(
        "FITS file has no image: its primary HDU holds no data (NAXIS 0) and no "
        "extension is an image"
    )


def _plain_image(
    content: _Content, cards: dict[str, str], start: int, max_pixels: int
) -> npt.NDArray[Any]:
    bitpix = _integer(cards, "BITPIX")
    columns, rows = _picture_size(cards, "NAXIS")
    _check_bitpix(bitpix)
    check_size(columns, rows, max_pixels)
    size = rows * columns * bitpix // 8
    return np.frombuffer(content.get(start, start + size), _TYPES[bitpix]).reshape(rows, columns)


def _tiled_image(
    content: _Content, cards: dict[str, str], start: int, max_pixels: int
) -> npt.NDArray[Any]:
    """Decompress a tile-compressed image (Standard 4.0 section 10.1, 10.4)."""
    codec = _text(cards, "ZCMPTYPE")
    bitpix = _integer(cards, "ZBITPIX")
    columns, rows = _picture_size(cards, "ZNAXIS")
    _check_bitpix(bitpix)  # quantised floating-point tiles are refused as floats
    if codec not in _TILE_CODECS:
        raise UnsupportedInput(
            f"tile-compressed FITS ({codec}) is not read; decompress it with funpack"
        )
    check_size(columns, rows, max_pixels)
    tile_columns = _integer(cards, "ZTILE1", columns)
    tile_rows = _integer(cards, "ZTILE2", 1)
    if tile_columns < 1 or tile_rows < 1:
        raise CorruptImage("FITS ZTILE1 / ZTILE2 must be positive")
    across, down = math.ceil(columns / tile_columns), math.ceil(rows / tile_rows)
    row_bytes, table_rows = _integer(cards, "NAXIS1"), _integer(cards, "NAXIS2")
    if table_rows != across * down:
        raise CorruptImage(f"FITS tile table has {table_rows} rows for {across * down} tiles")
    table_size = row_bytes * table_rows
    heap_start, heap_size = _integer(cards, "THEAP", table_size), _integer(cards, "PCOUNT", 0)
    # Section 7.3.5: the heap follows the table (after an optional gap), within PCOUNT.
    if not table_size <= heap_start <= table_size + heap_size:
        raise CorruptImage(f"FITS THEAP {heap_start} / PCOUNT {heap_size} do not fit the table")
    table = content.get(start, start + table_size + heap_size)
    heap = table[heap_start:]
    compressed = _column(cards, "COMPRESSED_DATA", row_bytes)
    if compressed is None:
        raise CorruptImage("FITS tile table has no COMPRESSED_DATA column")
    uncompressed = _column(cards, "UNCOMPRESSED_DATA", row_bytes)
    parameters = _parameters(cards)
    image = np.empty((rows, columns), _TYPES[bitpix])
    for tile in range(table_rows):
        top, left = tile // across * tile_rows, tile % across * tile_columns
        height, width = min(tile_rows, rows - top), min(tile_columns, columns - left)
        count = height * width
        stored = _array(table, heap, tile * row_bytes, compressed)
        if len(stored):
            values = _decompress(
                codec, stored, count=count, bitpix=bitpix, parameters=parameters, tile=tile
            )
        elif uncompressed is not None:  # a tile its writer could not compress
            raw = _array(table, heap, tile * row_bytes, uncompressed)
            values = np.frombuffer(raw, _ELEMENT_TYPES[uncompressed[2]])
        else:
            raise CorruptImage(f"FITS tile {tile + 1} holds no data")
        if values.size != count:
            raise CorruptImage(f"FITS tile {tile + 1} holds {values.size} pixels, not {count}")
        image[top : top + height, left : left + width] = values.reshape(height, width)
    return image


def _decompress(
    codec: str,
    stored: bytes | memoryview,
    *,
    count: int,
    bitpix: int,
    parameters: dict[str, int],
    tile: int,
) -> npt.NDArray[Any]:
    """Decompress one tile into `count` samples."""
    width = bitpix // 8
    if codec.startswith("RICE"):
        import imagecodecs  # only Rice-compressed tiles need it

        # BYTEPIX: the integer size the tile was compressed as (default 4, section 10.4.1).
        kinds = {1: np.uint8, 2: np.int16, 4: np.int32}
        bytepix = parameters.get("BYTEPIX", 4)
        if bytepix not in kinds:
            raise CorruptImage(f"FITS Rice BYTEPIX {bytepix} is not 1, 2 or 4")
        try:
            values = imagecodecs.rcomp_decode(
                bytes(stored),
                shape=(count,),
                dtype=kinds[bytepix],
                nblock=parameters.get("BLOCKSIZE", 32),
            )
        except Exception as exc:  # imagecodecs raises its own RcompError and others
            raise CorruptImage(f"FITS tile {tile + 1} does not decompress (Rice): {exc}") from exc
        return np.asarray(values).astype(_TYPES[bitpix])
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header (section 10.4.2)
    try:
        raw = inflater.decompress(stored, count * width + 1)
        if len(raw) == count * width and not inflater.eof:
            # The samples are all there: what is left is the trailer, whose check is wanted.
            raw += inflater.decompress(inflater.unconsumed_tail, 1)
    except zlib.error as exc:
        raise CorruptImage(f"FITS tile {tile + 1} does not decompress (gzip): {exc}") from exc
    if len(raw) != count * width or not inflater.eof:
        raise CorruptImage(
            f"FITS tile {tile + 1} does not inflate to its {count * width} bytes exactly"
        )
    if codec == "GZIP_2":  # bytes shuffled: every sample's most significant byte first
        raw = np.frombuffer(raw, np.uint8).reshape(width, count).T.tobytes()
    return np.frombuffer(raw, _TYPES[bitpix])


def _column(cards: dict[str, str], name: str, row_bytes: int) -> tuple[int, str, str] | None:
    """Where a variable-length array column is in a row: (offset, P or Q, element type)."""
    offset = 0
    for number in range(1, _integer(cards, "TFIELDS", 0) + 1):
        form = _text(cards, f"TFORM{number}")
        if _text(cards, f"TTYPE{number}") == name:
            found = _ARRAY_FORM.match(form)
            if found is None:
                raise UnsupportedInput(f"FITS tile column {name} of form {form!r} is not read")
            if offset + _COLUMN_BYTES[found[1]] > row_bytes:
                raise CorruptImage(f"FITS tile column {name} lies beyond its row")
            return offset, found[1], found[2]
        offset += _form_bytes(form)
    return None


def _form_bytes(form: str) -> int:
    found = re.match(r"^(\d*)([A-Z])", form)
    if found is None or (found[2] not in _COLUMN_BYTES and found[2] != "X"):
        raise CorruptImage(f"FITS binary table column form {form!r} is not valid")
    repeat = int(found[1] or 1)
    if found[2] == "X":  # bits
        return (repeat + 7) // 8
    if found[2] in "PQ":  # one descriptor whatever the repeat (0 or 1)
        return _COLUMN_BYTES[found[2]]
    return repeat * _COLUMN_BYTES[found[2]]


def _array(
    table: bytes | memoryview, heap: bytes | memoryview, row: int, column: tuple[int, str, str]
) -> bytes | memoryview:
    """Return the bytes a descriptor points to in the heap (Standard 4.0 section 7.3.5)."""
    offset, kind, element = column
    layout = ">ii" if kind == "P" else ">qq"
    count, start = struct.unpack_from(layout, table, row + offset)
    end = start + count * np.dtype(_ELEMENT_TYPES[element]).itemsize
    if count < 0 or start < 0 or end > len(heap):
        raise CorruptImage("FITS tile descriptor points outside the heap")
    return heap[start:end]


def _parameters(cards: dict[str, str]) -> dict[str, int]:
    """Return the compression parameters ZNAMEn = ZVALn (BLOCKSIZE, BYTEPIX)."""
    parameters = {}
    for number in range(1, 100):
        name = _text(cards, f"ZNAME{number}")
        if not name:
            break
        try:
            parameters[name] = int(cards.get(f"ZVAL{number}", ""))
        except ValueError:
            continue  # a parameter of another codec (NOISEBIT, SMOOTH, ...)
    return parameters


def _picture_size(cards: dict[str, str], prefix: str) -> tuple[int, int]:
    """Columns and rows of a 2-D image (any further axes of length 1)."""
    axes = _integer(cards, prefix)
    shape = [_integer(cards, f"{prefix}{axis}") for axis in range(1, axes + 1)]
    if axes < 2 or any(length != 1 for length in shape[2:]):
        raise UnsupportedInput(f"FITS data with {axes} axes of {shape} is not a 2-D picture")
    return shape[0], shape[1]


def _check_bitpix(bitpix: int) -> None:
    if bitpix < 0:
        raise UnsupportedInput(f"floating-point FITS data (BITPIX {bitpix}) is not supported")
    if bitpix == 64:
        raise UnsupportedInput("64-bit integer FITS data is not supported")
    if bitpix not in _TYPES:
        raise CorruptImage(f"FITS BITPIX {bitpix} is not a valid integer sample size")


def _integers(stored: npt.NDArray[Any], cards: dict[str, str]) -> npt.NDArray[Any]:
    """Apply BZERO and choose the narrowest type that holds the values exactly."""
    scale, zero = cards.get("BSCALE", "1"), cards.get("BZERO", "0")
    try:
        exact = float(scale) == 1 and float(zero) == int(float(zero))
    except ValueError:
        raise CorruptImage(f"FITS BSCALE {scale} / BZERO {zero} are not numbers") from None
    if not exact:
        raise UnsupportedInput(f"FITS BSCALE {scale} / BZERO {zero} do not give integer values")
    values = stored.astype(np.int64) + int(float(zero))
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 0xFFFF:
        return values.astype(np.uint16 if stored.itemsize > 1 else np.uint8)
    if low >= -(2**15) and high < 2**15:
        return values.astype(np.int16)
    raise UnsupportedInput(f"FITS values {low} to {high} do not fit the 16 bits DICOM holds")


def _data_size(cards: dict[str, str]) -> int:
    """Bytes of an HDU's data, before padding (Standard 4.0 section 4.4.1)."""
    axes = _integer(cards, "NAXIS")
    count = math.prod(_integer(cards, f"NAXIS{axis}") for axis in range(1, axes + 1))
    bits = abs(_integer(cards, "BITPIX"))
    pixels = count if axes else 0
    return bits // 8 * _integer(cards, "GCOUNT", 1) * (_integer(cards, "PCOUNT", 0) + pixels)


def _header(content: _Content, offset: int) -> tuple[dict[str, str], int]:
    cards: dict[str, str] = {}
    position = offset
    while position - offset < _MAX_HEADER:
        block = bytes(
            content.get(position, position + _BLOCK, "FITS header has no END card (truncated)")
        )
        for start in range(0, _BLOCK, _CARD):
            card = block[start : start + _CARD].decode("ascii", "replace")
            keyword = card[:8].strip()
            if keyword == "END":
                return cards, position + _BLOCK
            if card[8:10] == "= ":
                cards[keyword] = card[10:].split("/", 1)[0].strip()
        position += _BLOCK
    raise CorruptImage("FITS header has no END card in its first 36,000 cards")


def _text(cards: dict[str, str], keyword: str) -> str:
    """Return a character-string value, without its quotes and trailing blanks."""
    return cards.get(keyword, "").strip("'").strip()


def _integer(cards: dict[str, str], keyword: str, default: int | None = None) -> int:
    if keyword not in cards and default is not None:
        return default
    try:
        return int(cards[keyword])
    except (KeyError, ValueError):
        raise CorruptImage(f"FITS header lacks a valid {keyword}") from None
