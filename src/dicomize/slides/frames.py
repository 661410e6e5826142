"""The frames of one slide image, and how they are laid out in Pixel Data.

A level of a slide is tens of thousands of tiles and may be gigabytes: its frames
are never held together. A kept tile's stored length is known before it is read
(its TIFF byte count, plus the tables and marker inserted, the same for every
tile of a level), so the offset table is written first and the frames stream from
the slide to the output (:class:`KeptFrames`). Tiles that must be encoded are
encoded once into a spool file beside the output (:class:`EncodedFrames`), whose
lengths then give the table. PS3.5 A.4: one fragment per frame, each of even
length, after a Basic Offset Table; when an offset would not fit its 32 bits, the
Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002) hold 64-bit ones
and the Basic Offset Table is empty.
"""

from __future__ import annotations

import array
import os
import struct
import tempfile
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from dicomize.dicom.part10 import PixelStrips
from dicomize.errors import CorruptImage

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

__all__ = ["EncodedFrames", "Frames", "KeptFrames", "NativeFrame", "pixel_data"]

#: The largest offset a Basic Offset Table entry holds (PS3.5 A.4: 32-bit).
BASIC_LIMIT = 0xFFFFFFFF
_ITEM = 0xE000FFFE
_GATHER = 1 << 20


class Frames:
    """What every frame source tells the builder: its pixels' description and its frames."""

    __slots__ = (
        "bits",
        "columns",
        "count",
        "lossy",
        "notes",
        "photometric",
        "rows",
        "samples",
        "transfer_syntax",
    )

    #: Frame size: a tile, or the whole image of a single-frame one.
    rows: int
    columns: int
    count: int
    samples: int
    bits: int
    photometric: str
    transfer_syntax: str
    #: The lossy steps the pixels went through, oldest first: (method, ratio or None).
    lossy: tuple[tuple[str, float | None], ...]
    notes: tuple[str, ...]

    def sizes(self) -> Sequence[int] | npt.NDArray[Any]:
        """Return each frame's length in bytes, before padding."""
        raise NotImplementedError

    def frames(self) -> Iterator[bytes | memoryview]:
        """Yield the frames in order (TILED_FULL: row by row, left to right)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the frames hold open (a spool file)."""


class KeptFrames(Frames):
    """Tiles stored as they came: read from the slide at their offsets, edited by `edit`."""

    __slots__ = ("_counts", "_edit", "_extra", "_offsets", "_path")

    def __init__(
        self,
        path: str,
        offsets: Sequence[int],
        counts: Sequence[int],
        *,
        extra: int,
        edit: Callable[[int, bytes], bytes],
        **description: Any,  # noqa: ANN401  (the Frames attributes)
    ) -> None:
        self._path = path
        # 8 bytes a tile, not a Python int's 36: a level may have a million tiles.
        self._offsets = np.asarray(offsets, dtype=np.uint64)
        self._counts = np.asarray(counts, dtype=np.uint64)
        self._extra = extra
        self._edit = edit
        self.count = len(offsets)
        self.notes = ()
        for name, value in description.items():
            setattr(self, name, value)

    def sizes(self) -> Sequence[int] | npt.NDArray[Any]:
        """Return each frame's length: the tile's, and what is inserted into every tile."""
        return self._counts + np.uint64(self._extra)

    def frames(self) -> Iterator[bytes]:
        """Yield the tiles read from the slide, edited; refuse one unlike the first."""
        extra, edit = self._extra, self._edit
        descriptor = os.open(self._path, os.O_RDONLY)
        try:
            for index, (at, length) in enumerate(zip(self._offsets, self._counts, strict=True)):
                offset, count = int(at), int(length)
                tile = os.pread(descriptor, count, offset)
                if len(tile) != count:
                    raise CorruptImage(f"tile {index} is cut short: the file ends at its bytes")
                frame = edit(index, tile)
                if len(frame) != count + extra:
                    raise CorruptImage(f"tile {index} is coded unlike the first tile of its level")
                yield frame
        finally:
            os.close(descriptor)


class EncodedFrames(Frames):
    """Tiles decoded from the slide and encoded here, spooled beside the output once."""

    __slots__ = ("_sizes", "_spool")

    def __init__(
        self,
        tiles: Iterator[bytes],
        *,
        folder: str | None,
        **description: Any,  # noqa: ANN401  (the Frames attributes)
    ) -> None:
        for name, value in description.items():
            setattr(self, name, value)
        self._spool = tempfile.TemporaryFile(dir=folder, prefix=".dicomize-tiles-")  # noqa: SIM115  (closed by close())
        sizes = array.array("Q")  # 8 bytes a tile
        try:
            for tile in tiles:
                self._spool.write(tile)
                sizes.append(len(tile))
        except BaseException:
            self._spool.close()
            raise
        self._sizes: Sequence[int] = sizes
        self.count = len(sizes)

    def stored_bytes(self) -> int:
        """Return the bytes of all frames: what a compression ratio divides."""
        return sum(self._sizes)

    def sizes(self) -> Sequence[int] | npt.NDArray[Any]:
        """Return each encoded frame's length."""
        return self._sizes

    def frames(self) -> Iterator[bytes]:
        """Yield the encoded frames back from the spool."""
        spool = self._spool
        spool.seek(0)
        for size in self._sizes:
            yield spool.read(size)

    def close(self) -> None:
        """Remove the spool."""
        self._spool.close()


class NativeFrame(Frames):
    """One frame of decoded pixels (a label, stored losslessly)."""

    __slots__ = ("_pixels",)

    def __init__(self, pixels: npt.NDArray[Any], **description: Any) -> None:  # noqa: ANN401
        self._pixels = pixels
        self.count = 1
        self.notes = ()
        for name, value in description.items():
            setattr(self, name, value)

    def sizes(self) -> Sequence[int] | npt.NDArray[Any]:
        """Return the one frame's length."""
        return [self._pixels.nbytes]

    def frames(self) -> Iterator[memoryview]:
        """Yield the pixels, without a copy."""
        yield memoryview(self._pixels.data).cast("B")


def pixel_data(frames: Frames) -> tuple[dict[str, bytes], PixelStrips]:
    """Lay out encapsulated Pixel Data: the offset tables, and the items as written.

    Returns
    -------
    tuple
        The Extended Offset Table elements (none when the Basic table holds the
        offsets), and the Pixel Data value, made as it is written.
    """
    sizes = np.asarray(frames.sizes(), dtype=np.int64)
    if len(sizes) != frames.count:
        raise CorruptImage(f"{len(sizes)} frames where {frames.count} were counted")
    padded = sizes + (sizes & 1)  # A.4: fragments of even length
    offsets = np.zeros_like(padded)
    np.cumsum(padded[:-1] + 8, out=offsets[1:])
    extended: dict[str, bytes] = {}
    if len(offsets) and int(offsets[-1]) > BASIC_LIMIT:
        extended = {
            "ExtendedOffsetTable": offsets.astype("<u8").tobytes(),
            "ExtendedOffsetTableLengths": padded.astype("<u8").tobytes(),
        }
        table = b""
    else:
        table = offsets.astype("<u4").tobytes() if len(offsets) > 1 else b""
    del offsets
    total = 8 + len(table) + int((padded + 8).sum())

    def produce() -> Iterator[bytes | memoryview]:
        # Items are gathered into writes of about a megabyte: a level is tens of
        # thousands of small tiles, and a write each would cost more than the copy.
        pending = bytearray(struct.pack("<LL", _ITEM, len(table)) + table)
        for frame, size in zip(frames.frames(), padded, strict=True):
            pending += struct.pack("<LL", _ITEM, size)
            pending += frame
            if size != len(frame):
                pending += b"\0"
            if len(pending) >= _GATHER:
                yield memoryview(pending)
                pending = bytearray()
        if pending:
            yield memoryview(pending)

    return extended, PixelStrips(total, produce)
