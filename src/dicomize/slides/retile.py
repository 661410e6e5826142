"""A level stored in strips, cut into tiles a band at a time.

Some pyramidal TIFFs store a level (often a small one, sometimes the base) in strips
rather than tiles. TILED_FULL needs tiles: the strips are decoded in order into a
band one tile high, and the band is cut into tiles as soon as it is full, so a level
costs one band of memory, never the whole picture. Past the picture's right and
bottom edges a tile is white, the colour of the glass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from dicomize.errors import CorruptImage

__all__ = ["TILE", "stripped_tiles"]

#: The tile size a stripped level is cut into: the common tile of DICOM whole-slide images.
TILE = 256
_GLASS = 255


def stripped_tiles(page: Any, size: int = TILE) -> Iterator[Any]:  # noqa: ANN401  (a TiffPage)
    """Yield the tiles of a stripped TIFF page, row by row, each `size` square.

    `page`'s file must be open while the tiles are read (tifffile decodes each strip
    as it comes).

    Raises
    ------
    CorruptImage
        When a strip does not decode.
    """
    width, height, samples = page.imagewidth, page.imagelength, page.samplesperpixel
    across = -(-width // size)
    band = np.full((size, across * size, samples), _GLASS, np.uint8)
    top = 0  # the picture row the band starts at
    try:
        for segment, indices, _ in page.segments(sort=True):
            if segment is None:
                raise CorruptImage("a strip of a level is missing")  # noqa: TRY301  (one message for any strip)
            rows = segment.reshape(-1, width, samples)
            start = indices[-3]  # the strip's first row in the picture
            for offset in range(0, len(rows), size):
                chunk = rows[offset : offset + size]
                row = start + offset
                while row - top >= size:  # a full band: out with its tiles
                    yield from _cut(band, across, size)
                    band[:] = _GLASS
                    top += size
                take = min(len(chunk), top + size - row)
                band[row - top : row - top + take, :width] = chunk[:take]
                if take < len(chunk):
                    yield from _cut(band, across, size)
                    band[:] = _GLASS
                    top += size
                    band[: len(chunk) - take, :width] = chunk[take:]
    except CorruptImage:
        raise
    except Exception as exc:  # any codec's own error
        raise CorruptImage(f"a strip of a level does not decode ({exc})") from None
    if top < height:
        yield from _cut(band, across, size)


def _cut(band: Any, across: int, size: int) -> Iterator[Any]:  # noqa: ANN401
    for column in range(across):
        yield band[:, column * size : (column + 1) * size].copy()
