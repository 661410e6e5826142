r"""The box structure shared by JP2, HEIF/AVIF (ISO BMFF) and the JPEG XL container.

Each box is a 32-bit big-endian length, a four-character type, and its
content; a length of 1 means a 64-bit length follows, 0 that the box runs to
the end (ISO/IEC 15444-1 I.4, ISO/IEC 14496-12 4.2).

>>> data = b"\x00\x00\x00\x0cabcd1234" + b"\x00\x00\x00\x09efgh!"
>>> [(kind, data[start:end]) for kind, start, end in boxes(data)]
[(b'abcd', b'1234'), (b'efgh', b'!')]
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["FULL_BOXES", "box", "boxes", "find"]

#: Boxes whose content starts with a 4-byte version and flags before their children.
FULL_BOXES = frozenset({b"meta"})


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """Yield each box in data[start:end] as (type, content start, content end).

    A box that claims more than is there ends the walk at the end of the data.
    """
    end = len(data) if end is None else end
    position = start
    while position + 8 <= end:
        length, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if length == 1:  # XLBox: a 64-bit length follows
            if position + 16 > end:
                return
            (length,) = struct.unpack_from(">Q", data, position + 8)
            header = 16
        elif length == 0:  # the box runs to the end
            length = end - position
        if length < header:
            return
        yield kind, position + header, min(position + length, end)
        position += length


def box(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """Find box `kind` among the boxes in data[start:end]; return its content's span."""
    return next(((s, e) for found, s, e in boxes(data, start, end) if found == kind), None)


def find(data: bytes, *path: bytes) -> tuple[int, int] | None:
    r"""Follow a path of nested boxes (``b"meta", b"iprp", b"ipco", b"av1C"``); the first match.

    >>> inner = b"\x00\x00\x00\x0aabcdxy"
    >>> find(b"\x00\x00\x00\x16meta\x00\x00\x00\x00" + inner, b"meta", b"abcd")
    (20, 22)
    """
    start, end = 0, len(data)
    for kind in path:
        found = box(data, start, end, kind)
        if found is None:
            return None
        start, end = found
        if kind in FULL_BOXES:
            start += 4
    return start, end
