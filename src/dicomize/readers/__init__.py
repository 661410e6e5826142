"""Turn a picture file, its bytes, or a numpy array into a :class:`~dicomize.picture.Picture`.

The format is detected from the content (magic bytes), never from the file
name: a PNG saved as ``photo.jpg`` is read as a PNG.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeAlias

from dicomize.errors import CorruptImage, InputError, UnsupportedInput
from dicomize.picture import Picture

__all__ = ["DEFAULT_MAX_PIXELS", "SUPPORTED_FORMATS", "Source", "detect_format", "read_picture"]

#: Default decompression-bomb guard: 150 megapixels (a 6000x4000 photo is 24).
DEFAULT_MAX_PIXELS = 150_000_000
#: Formats detected and decoded.
SUPPORTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PNM")

#: What :func:`read_picture` accepts: a path, the file's bytes, or a numpy array.
Source: TypeAlias = "str | os.PathLike[str] | bytes | Any"

_PNM_MAGICS = (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"P7")


_MAGICS: tuple[tuple[int, tuple[bytes, ...], str], ...] = (
    (0, (b"\x89PNG\r\n\x1a\n",), "PNG"),
    (0, (b"\xff\xd8\xff",), "JPEG"),
    (0, (b"GIF87a", b"GIF89a"), "GIF"),
    (0, (b"BM",), "BMP"),
    (0, (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"), "TIFF"),
)


def detect_format(data: bytes) -> str:
    r"""Name the picture format of `data` from its first bytes.

    >>> detect_format(b"\x89PNG\r\n\x1a\n....")
    'PNG'

    Raises
    ------
    UnsupportedInput
        When the content is not one of :data:`SUPPORTED_FORMATS`.
    CorruptImage
        When there is no content at all.
    """
    if not data:
        raise CorruptImage("file is empty")
    for offset, magics, name in _MAGICS:
        if data.startswith(magics, offset):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] in _PNM_MAGICS and data[2:3].isspace():
        return "PNM"
    if data[128:132] == b"DICM":
        raise UnsupportedInput("already a DICOM file")
    if data[:2] in {b"Pf", b"PF"}:
        raise UnsupportedInput("floating-point PFM pictures are not supported")
    raise UnsupportedInput("not a recognised picture format (" + ", ".join(SUPPORTED_FORMATS) + ")")


def read_picture(
    source: Source,
    *,
    background: tuple[int, int, int] = (255, 255, 255),
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Picture:
    """Decode a picture file, its bytes, or a numpy array.

    Parameters
    ----------
    source : str, os.PathLike, bytes or numpy.ndarray
        The picture. Paths are read once; the format comes from the content.
    background : tuple of int
        8-bit RGB colour that transparent pixels are composited onto.
    max_pixels : int
        Refuse pictures with more pixels than this, before decoding them.

    Returns
    -------
    Picture
        Pixels in DICOM native layout with their description.

    Raises
    ------
    dicomize.errors.InputError
        With the file named, when the input cannot be converted.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return _decode(bytes(source), background, max_pixels)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            data = path.read_bytes()
        except IsADirectoryError:
            raise UnsupportedInput("is a directory", path) from None
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path) from None
        try:
            return _decode(data, background, max_pixels)
        except InputError as exc:
            raise exc.with_source(path) from exc
    from dicomize.readers._array import picture_from_array  # noqa: PLC0415

    if not hasattr(source, "__array_interface__"):
        raise UnsupportedInput(
            f"cannot convert a {type(source).__name__}; give a path, bytes or a numpy array"
        )
    import numpy as np  # noqa: PLC0415

    return picture_from_array(np.asarray(source), background=background)


def _decode(data: bytes, background: tuple[int, int, int], max_pixels: int) -> Picture:
    fmt = detect_format(data)
    if fmt == "PNM":
        from dicomize.readers._pnm import read_pnm  # noqa: PLC0415

        return read_pnm(data, background=background, max_pixels=max_pixels)
    from dicomize.readers._pillow import read_with_pillow  # noqa: PLC0415

    return read_with_pillow(data, fmt, background=background, max_pixels=max_pixels)
