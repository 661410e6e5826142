"""Netpbm (PBM/PGM/PPM, binary and plain, and PAM) read exactly.

Pillow rescales samples whose maxval is not 255 or 65535 (a 12-bit PGM with
maxval 4095 comes back multiplied by 16), which would break the promise that
stored values equal the source values. The formats are simple enough to read
directly: the maxval gives Bits Stored.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from dicomize.errors import CorruptImage, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size
from dicomize.readers._array import picture_from_array

__all__ = ["read"]

_TOKEN = re.compile(rb"(?:\s|#[^\n\r]*[\n\r])*(\S+)")
_MAX_MAXVAL = 65535


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:  # noqa: ARG001
    """Decode a Netpbm file."""
    data = source if isinstance(source, bytes) else source.read()
    max_pixels, background = options.max_pixels, options.background
    magic = data[:2]
    if magic == b"P7":
        array, maxval = _read_pam(data, max_pixels)
    elif magic in {b"P1", b"P4"}:
        array, maxval = _read_bitmap(data, max_pixels)
    else:
        array, maxval = _read_graymap(data, max_pixels)
    derivation: tuple[str, ...] = ()
    if maxval == 1:  # a bitmap, or a PGM/PAM with two levels
        array = array.astype(np.uint8) * np.uint8(255)
        derivation = ("1-bit pixels expanded to 8 bits (0 and 255)",)
        maxval = 255
    bits = maxval.bit_length()
    picture = picture_from_array(
        array,
        background=background,
        bits_stored=bits if bits > 8 else None,
        derivation=derivation,
        source_format="PNM",
    )
    return replace(picture, bilevel=bool(derivation))


def _header(data: bytes, count: int) -> tuple[list[int], int]:
    """Read `count` integer header fields after the magic; return them and the data offset."""
    values: list[int] = []
    position = 2
    for _ in range(count):
        match = _TOKEN.match(data, position)
        if not match or not match.group(1).isdigit():
            raise CorruptImage("Netpbm header is incomplete or not numeric")
        values.append(int(match.group(1)))
        position = match.end()
    # Exactly one whitespace character separates the header from binary data.
    return values, position + 1


def _read_bitmap(data: bytes, max_pixels: int) -> tuple[npt.NDArray[Any], int]:
    (width, height), offset = _header(data, 2)
    check_size(width, height, max_pixels)
    if data[:2] == b"P4":
        row_bytes = (width + 7) // 8
        if len(data) < offset + row_bytes * height:
            raise CorruptImage("Netpbm pixel data is truncated")
        raw = np.frombuffer(data, np.uint8, row_bytes * height, offset)
        bits = np.unpackbits(raw.reshape(height, row_bytes), axis=1)[:, :width]
    else:
        digits = np.frombuffer(re.sub(rb"#[^\n\r]*|\s", b"", data[offset - 1 :]), np.uint8)
        if digits.size < width * height:
            raise CorruptImage("Netpbm pixel data is truncated")
        bits = (digits[: width * height] - ord("0")).reshape(height, width)
    # PBM: 1 is black; MONOCHROME2 wants 0 black, so invert.
    return (1 - bits).astype(np.uint8), 1


def _read_graymap(data: bytes, max_pixels: int) -> tuple[npt.NDArray[Any], int]:
    magic = data[:2]
    samples = 3 if magic in {b"P3", b"P6"} else 1
    (width, height, maxval), offset = _header(data, 3)
    check_size(width, height, max_pixels)
    if not 1 <= maxval <= _MAX_MAXVAL:
        raise CorruptImage(f"Netpbm maxval {maxval} is outside 1..65535")
    shape = (height, width, samples) if samples == 3 else (height, width)
    count = width * height * samples
    if magic in {b"P5", b"P6"}:
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        if len(data) < offset + count * dtype.itemsize:
            raise CorruptImage("Netpbm pixel data is truncated")
        array = np.frombuffer(data, dtype, count, offset).reshape(shape)
    else:
        tokens = data[offset - 1 :].split()
        if len(tokens) < count:
            raise CorruptImage("Netpbm pixel data is truncated")
        try:
            array = np.array(tokens[:count], dtype=np.int64).reshape(shape)
        except ValueError:
            raise CorruptImage("Netpbm plain pixel data is not numeric") from None
        array = array.astype(np.uint16 if maxval > 255 else np.uint8)
    if int(array.max(initial=0)) > maxval:
        raise CorruptImage(f"Netpbm sample exceeds maxval {maxval}")
    return array, maxval


def _read_pam(data: bytes, max_pixels: int) -> tuple[npt.NDArray[Any], int]:
    end = data.find(b"ENDHDR\n")
    if end < 0:
        raise CorruptImage("PAM header has no ENDHDR")
    fields: dict[str, str] = {}
    for line in data[3:end].decode("ascii", "replace").splitlines():
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("#"):
            fields[key] = value.strip()
    try:
        width, height = int(fields["WIDTH"]), int(fields["HEIGHT"])
        depth, maxval = int(fields["DEPTH"]), int(fields["MAXVAL"])
    except (KeyError, ValueError):
        raise CorruptImage("PAM header lacks WIDTH, HEIGHT, DEPTH or MAXVAL") from None
    check_size(width, height, max_pixels)
    if depth not in {1, 2, 3, 4} or not 1 <= maxval <= _MAX_MAXVAL:
        raise UnsupportedInput(f"PAM depth {depth} / maxval {maxval} is not supported")
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
    count = width * height * depth
    offset = end + len(b"ENDHDR\n")
    if len(data) < offset + count * dtype.itemsize:
        raise CorruptImage("PAM pixel data is truncated")
    array = np.frombuffer(data, dtype, count, offset).reshape(height, width, depth)
    return array, maxval
