"""A tiled image's picture back out: a whole level, or a region, as PNG or TIFF.

A VL Whole Slide Microscopy level (any producer's) stores its picture as tiles,
frames laid out TILED_FULL (PS3.3 C.7.6.17.3): frame *i* is tile (*i* mod
across, *i* div across), the matrix being Total Pixel Matrix Columns by Rows. A
region decodes only the tiles it touches, through the offset table (Basic or
Extended); a whole level is written as a tiled TIFF a tile at a time, so a
gigapixel level never sits in memory. The pixel size becomes the TIFF's resolution.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from dicomize._extract import Extracted
from dicomize.dicom.uids import JPEG_BASELINE_PROCESS_1, JPEG_EXTENDED_PROCESS_2_4
from dicomize.errors import CorruptImage, ImageTooLarge, InputError, UnsupportedInput

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["TiledPicture", "extract_tiled", "is_tiled"]

#: Decoded with libjpeg-turbo, as the scanners' own software and OpenSlide decode them.
_JPEG = frozenset({JPEG_BASELINE_PROCESS_1, JPEG_EXTENDED_PROCESS_2_4})
#: The most pixels a region is decoded into (the default picture limit).
MAX_REGION_PIXELS = 150_000_000


def is_tiled(path: str | os.PathLike[str]) -> bool:
    """Tell whether a DICOM file holds a tiled picture (TILED_FULL, several frames)."""
    from pydicom import dcmread

    try:
        ds = dcmread(path, stop_before_pixels=True)
    except Exception:
        return False
    return (
        ds.get("DimensionOrganizationType") == "TILED_FULL"
        and "TotalPixelMatrixColumns" in ds
        and int(ds.get("NumberOfFrames", 1) or 1) > 1
    )


class TiledPicture:
    """A whole level, written as a tiled TIFF when it is written (see :meth:`write_to`)."""

    __slots__ = ("_path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = path

    def write_to(self, stream: BinaryIO) -> None:
        """Write the level to `stream` as a tiled TIFF (Deflate), decoding a tile at a time."""
        import tifffile

        layout = _layout(self._path)
        tiles = _frames(self._path, layout, range(layout["frames"]))
        tifffile.imwrite(
            cast("BinaryIO", _Stream(stream)),
            tiles,
            shape=layout["shape"],
            dtype="uint8",
            tile=(layout["rows"], layout["columns"]),
            photometric="rgb" if layout["samples"] == 3 else "minisblack",  # noqa: PLR2004
            compression="zlib",
            resolution=layout["resolution"],
            resolutionunit="CENTIMETER" if layout["resolution"] else None,
            metadata=None,
        )


class _Stream:
    """A file object without a name: tifffile takes a named one for a path to reopen."""

    __slots__ = ("_stream",)

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        return self._stream.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def flush(self) -> None:
        self._stream.flush()


def extract_tiled(
    path: str | os.PathLike[str],
    *,
    region: tuple[int, int, int, int] | None = None,
    suffix: str = ".tif",
) -> Extracted:
    """Return a tiled image's whole picture, or a region of it, as TIFF or PNG.

    Parameters
    ----------
    path : path-like
        A DICOM file of a TILED_FULL image (a whole-slide level).
    region : (x, y, width, height) or None
        Pixels of the Total Pixel Matrix, from its top left corner; None: all of it
        (TIFF only: a level can be far larger than a PNG decoder takes).
    suffix : str
        ``".tif"``/``".tiff"`` or ``".png"``.

    Raises
    ------
    InputError
        With the file named: not a tiled image, a region outside the picture or over
        the pixel limit, a frame that does not decode.
    """
    name = os.fspath(path)
    try:
        if suffix not in (".tif", ".tiff", ".png"):
            raise UnsupportedInput(f"a tiled picture is written as TIFF or PNG, not {suffix}")
        if region is None:
            if suffix == ".png":
                raise UnsupportedInput(
                    "a whole level is written as TIFF; a PNG needs a region", option="region"
                )
            return Extracted(content=TiledPicture(path), suffix=suffix, kind="tiled TIFF")
        pixels = _region(path, region)
        return Extracted(content=_encoded(pixels, suffix), suffix=suffix, kind=f"region {suffix}")
    except InputError as exc:
        raise exc.with_source(name) if exc.source is None else exc from None


def _layout(path: str | os.PathLike[str]) -> dict[str, Any]:
    from pydicom import dcmread

    ds = dcmread(path, stop_before_pixels=True)
    if ds.get("DimensionOrganizationType") != "TILED_FULL" or "TotalPixelMatrixColumns" not in ds:
        raise UnsupportedInput("is not a tiled image (TILED_FULL with a Total Pixel Matrix)")
    rows, columns = int(ds.Rows), int(ds.Columns)
    width, height = int(ds.TotalPixelMatrixColumns), int(ds.TotalPixelMatrixRows)
    across = -(-width // columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames < across * -(-height // rows):
        raise CorruptImage(f"has {frames} frames, fewer than its {width}x{height} matrix needs")
    if int(ds.BitsAllocated) != 8:  # noqa: PLR2004
        raise UnsupportedInput(f"has {ds.BitsAllocated}-bit samples; tiled pictures are 8-bit")
    resolution = None
    try:
        spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        resolution = (10 / float(spacing[1]), 10 / float(spacing[0]))  # pixels per cm
    except (AttributeError, IndexError, KeyError, ValueError, ZeroDivisionError):
        pass
    samples = int(ds.SamplesPerPixel)
    return {
        "rows": rows,
        "columns": columns,
        "across": across,
        "frames": frames,
        "width": width,
        "height": height,
        "samples": samples,
        "syntax": str(ds.file_meta.TransferSyntaxUID),
        "resolution": resolution,
        "shape": (height, width, samples) if samples > 1 else (height, width),
    }


def _frames(
    path: str | os.PathLike[str], layout: dict[str, Any], indices: range | list[int]
) -> Iterator[npt.NDArray[Any]]:
    """Yield the frames at `indices` (ascending) decoded to RGB or grey.

    JPEG frames are decoded by libjpeg-turbo with its own colour conversion, as the
    scanner's software and OpenSlide decode them (pydicom converts YCbCr itself and
    rounds a level off here and there); other syntaxes by pydicom's decoders.
    """
    if layout["syntax"] not in _JPEG:
        from pydicom.pixels.utils import iter_pixels

        try:
            yield from iter_pixels(path, indices=indices)
        except Exception as exc:
            raise CorruptImage(f"a frame does not decode ({exc})") from None
        return
    import imagecodecs

    for frame in _codestreams(path, layout, indices):
        try:
            yield imagecodecs.jpeg8_decode(frame)
        except Exception as exc:
            raise CorruptImage(f"a frame does not decode ({exc})") from None


def _codestreams(
    path: str | os.PathLike[str], layout: dict[str, Any], indices: range | list[int]
) -> Iterator[bytes]:
    """Yield the codestreams of the frames at `indices`, read from the file, not loaded whole."""
    from pydicom import dcmread
    from pydicom.encaps import generate_frames, get_frame

    ds = dcmread(path, defer_size=1024)
    element = ds.get_item(0x7FE00010, keep_deferred=True)
    start = getattr(element, "value_tell", None)
    if start is None:
        raise CorruptImage("has no encapsulated Pixel Data")
    extended = None
    if "ExtendedOffsetTable" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    count = layout["frames"]
    with open(path, "rb") as stream:  # noqa: PTH123  (a path or a path-like, as given)
        stream.seek(start)
        if isinstance(indices, range) and indices == range(count):
            yield from generate_frames(stream, number_of_frames=count)
            return
        for index in indices:
            stream.seek(start)
            yield get_frame(stream, index, number_of_frames=count, extended_offsets=extended)


def _region(path: str | os.PathLike[str], region: tuple[int, int, int, int]) -> Any:  # noqa: ANN401
    import numpy as np

    layout = _layout(path)
    x, y, width, height = region
    if width < 1 or height < 1 or x < 0 or y < 0:
        raise UnsupportedInput(f"a region needs a positive size inside the picture, got {region}")
    if x + width > layout["width"] or y + height > layout["height"]:
        raise UnsupportedInput(
            f"the region {x},{y} {width}x{height} goes past the picture "
            f"({layout['width']}x{layout['height']})"
        )
    if width * height > MAX_REGION_PIXELS:
        raise ImageTooLarge(f"a {width}x{height} region is over {MAX_REGION_PIXELS:,} pixels")
    rows, columns, across = layout["rows"], layout["columns"], layout["across"]
    first_row, last_row = y // rows, (y + height - 1) // rows
    first_column, last_column = x // columns, (x + width - 1) // columns
    indices = [
        row * across + column
        for row in range(first_row, last_row + 1)
        for column in range(first_column, last_column + 1)
    ]
    shape = ((last_row - first_row + 1) * rows, (last_column - first_column + 1) * columns)
    canvas = np.empty(shape + layout["shape"][2:], np.uint8)
    for index, tile in zip(indices, _frames(path, layout, indices), strict=True):
        top = (index // across - first_row) * rows
        left = (index % across - first_column) * columns
        canvas[top : top + rows, left : left + columns] = tile
    top, left = y - first_row * rows, x - first_column * columns
    return np.ascontiguousarray(canvas[top : top + height, left : left + width])


def _encoded(pixels: npt.NDArray[Any], suffix: str) -> bytes:
    import io

    if suffix == ".png":
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, compression="zlib", metadata=None)
    return buffer.getvalue()
