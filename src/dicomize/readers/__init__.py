"""Turn a picture file, its bytes, or a numpy array into a :class:`~dicomize.picture.Picture`.

The format is detected from the content (magic bytes), never from the file
name: a PNG saved as ``photo.jpg`` is read as a PNG.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

from dicomize.errors import CorruptImage, InputError, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture

__all__ = ["SUPPORTED_FORMATS", "Source", "detect_format", "read_picture"]
#: Formats detected and decoded.
SUPPORTED_FORMATS = ("JPEG", "JPEG-LS", "JPEG 2000", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PNM")

#: What :func:`read_picture` accepts: a path, the file's bytes, or a numpy array.
Source: TypeAlias = "str | os.PathLike[str] | bytes | Any"

_PNM_MAGICS = (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"P7")


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Enough of a file to detect its format (the DICOM check looks at bytes 128-131).
_HEAD = 4096

_MAGICS: tuple[tuple[int, tuple[bytes, ...], str], ...] = (
    (0, (_PNG_MAGIC,), "PNG"),
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
    if data.startswith((b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  \r\n\x87\n")):
        return "J2K"
    if data[:2] in _PNM_MAGICS and data[2:3].isspace():
        return "PNM"
    if data[128:132] == b"DICM":
        raise UnsupportedInput("already a DICOM file")
    if data[:2] in {b"Pf", b"PF"}:
        raise UnsupportedInput("floating-point PFM pictures are not supported")
    raise UnsupportedInput("not a recognised picture format (" + ", ".join(SUPPORTED_FORMATS) + ")")


def read_picture(source: Source, options: ConvertOptions | None = None) -> Picture:
    """Read a picture file, its bytes, or a numpy array.

    Parameters
    ----------
    source : str, os.PathLike, bytes or numpy.ndarray
        The picture. Paths are read once; the format comes from the content.
    options : ConvertOptions or None
        Background colour, pixel limit, passthrough; defaults when None.

    Returns
    -------
    Picture
        Native pixels with their description, or a legal JPEG codestream
        kept as it came (passthrough).

    Raises
    ------
    dicomize.errors.InputError
        With the file named, when the input cannot be converted.
    """
    options = options or ConvertOptions()
    if isinstance(source, bytes | bytearray | memoryview):
        return _decode(bytes(source), options)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            with path.open("rb") as stream:
                return _decode_file(stream, options)
        except IsADirectoryError:
            raise UnsupportedInput("is a directory", path) from None
        except InputError as exc:
            raise exc.with_source(path) from exc
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path) from None
    from dicomize.readers._array import picture_from_array  # noqa: PLC0415

    if not hasattr(source, "__array_interface__"):
        raise UnsupportedInput(
            f"cannot convert a {type(source).__name__}; give a path, bytes or a numpy array"
        )
    import numpy as np  # noqa: PLC0415

    from dicomize.picture import stack_pictures  # noqa: PLC0415

    array = np.asarray(source)
    # (frames, rows, columns) and (frames, rows, columns, samples) are stacks of frames;
    # (rows, columns, 1-4) is one frame with samples.
    if array.ndim == 4 or (array.ndim == 3 and array.shape[2] not in {1, 2, 3, 4}):  # noqa: PLR2004
        if array.shape[0] == 0:
            raise UnsupportedInput("the array has no frames")
        frames = [picture_from_array(frame, background=options.background) for frame in array]
        return frames[0] if len(frames) == 1 else stack_pictures(frames, None)
    return picture_from_array(array, background=options.background)


def _decode_file(stream: BinaryIO, options: ConvertOptions) -> Picture:
    head = stream.read(_HEAD)
    if not stream.seekable():  # a pipe, as from a shell's <(...)
        return _decode(head + stream.read(), options)
    stream.seek(0)
    if head.startswith(_PNG_MAGIC):
        # Pillow reads a PNG from the file as it decodes: holding the whole file as
        # well would cost up to another frame of memory for a large picture.
        from dicomize.readers._pillow import read_with_pillow  # noqa: PLC0415

        return read_with_pillow(
            stream, "PNG", background=options.background, max_pixels=options.max_pixels
        )
    return _decode(stream.read(), options)


def _decode(data: bytes, options: ConvertOptions) -> Picture:
    fmt = detect_format(data)
    if fmt == "PNM":
        from dicomize.readers._pnm import read_pnm  # noqa: PLC0415

        return read_pnm(data, background=options.background, max_pixels=options.max_pixels)
    if fmt == "J2K":
        from dicomize.readers._j2k import read_j2k  # noqa: PLC0415

        return read_j2k(data, options)
    from dicomize.readers._pillow import read_with_pillow  # noqa: PLC0415

    if fmt != "JPEG":
        return read_with_pillow(
            data, fmt, background=options.background, max_pixels=options.max_pixels
        )
    from dicomize.readers._jpeg import (  # noqa: PLC0415
        decode_deep_jpeg,
        jpeg_passthrough,
        lossless_transcode,
        parse_jpeg,
        passthrough_picture,
    )

    # Walking the markers to EOI refuses a truncated JPEG on either path.
    info = parse_jpeg(data)
    reason = "passthrough is off"
    if options.passthrough:
        legal = jpeg_passthrough(info)
        if not isinstance(legal, str):
            return passthrough_picture(data, info, legal, options)
        reason = legal
        transcoded = lossless_transcode(data, info)
        if transcoded is not None:
            stream, described, note = transcoded
            legal = jpeg_passthrough(described)
            if not isinstance(legal, str):
                return passthrough_picture(stream, described, legal, options, note)
    if info.precision > 8 or info.process in {"lossless", "jpeg-ls"}:  # noqa: PLR2004
        # Pillow decodes only 8-bit lossy JPEG; libjpeg-turbo (imagecodecs) does the rest.
        picture = decode_deep_jpeg(data, info, options)
    else:
        picture = read_with_pillow(
            data, fmt, background=options.background, max_pixels=options.max_pixels
        )
    note = f"JPEG decoded because {reason}"
    return dataclasses.replace(picture, derivation=(note, *picture.derivation))
