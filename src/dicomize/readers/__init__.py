"""Turn a picture file, its bytes, or a numpy array into a :class:`~dicomize.picture.Picture`.

The format is detected from the content (magic bytes), never from the file
name: a PNG saved as ``photo.jpg`` is read as a PNG. Each format is one row of
:data:`FORMATS`: how it is recognised and which reader module decodes it.
Every reader module has the same entry point, ``read(source, fmt, options)``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from dicomize.codestreams.exif import exif_moment
from dicomize.codestreams.heif import is_avif, is_heif
from dicomize.codestreams.jxl import CONTAINER_SIGNATURE as JXL_CONTAINER
from dicomize.codestreams.jxl import SIGNATURE as JXL_SIGNATURE
from dicomize.errors import CorruptImage, InputError, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any, BinaryIO, TypeAlias

__all__ = [
    "FALLBACK",
    "FORMATS",
    "PASSTHROUGH_OFF",
    "SUPPORTED_FORMATS",
    "Format",
    "Source",
    "detect_format",
    "read_picture",
]

#: What :func:`read_picture` accepts: a path, the file's bytes, or a numpy array.
Source: TypeAlias = "str | os.PathLike[str] | bytes | Any"

#: A reader module's entry point: the file's bytes (or the open file, for a
#: streaming format), the format's name, the options.
Reader: TypeAlias = "Callable[[bytes | BinaryIO, str, ConvertOptions], Picture]"

#: Why a codestream was decoded, in its Derivation Description, when the caller asked it
#: decoded (a caller with a reason of its own puts that in its place).
PASSTHROUGH_OFF = "passthrough is off"
#: Enough of a file to detect its format (the DICOM check looks at bytes 128-131).
_HEAD = 4096


class Format:
    """One input format: how its content is recognised and which module reads it."""

    __slots__ = ("accept", "label", "module", "name", "streams")

    name: str
    #: True when the first bytes of a file are this format's.
    accept: Callable[[bytes], bool]
    #: The module in :mod:`dicomize.readers` whose ``read`` decodes it (loaded on first use).
    module: str
    #: The reader takes the open file and reads as it decodes: holding the whole file
    #: as well would cost up to another frame of memory for a large picture.
    streams: bool
    #: How the format is named to a user, when that differs from `name`.
    label: str

    def __init__(
        self,
        *,
        name: str,
        accept: Callable[[bytes], bool],
        module: str,
        streams: bool = False,
        label: str = "",
    ) -> None:
        self.name = name
        self.accept = accept
        self.module = module
        self.streams = streams
        self.label = label

    def reader(self) -> Reader:
        """Return the reader of this format, importing its module."""
        read: Reader = importlib.import_module(f"dicomize.readers.{self.module}").read
        return read


def _starts(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda data: data.startswith(magics)


_PNM_MAGICS = frozenset((b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"P7"))
_FITS = b"SIMPLE  ="
_GZIP = b"\x1f\x8b"


def _gunzipped_head(data: bytes) -> bytes:
    """Return the first bytes of gzip-compressed `data` (a ``.fits.gz``), or none."""
    if not data.startswith(_GZIP):
        return b""
    import zlib  # only gzip-compressed files need it

    try:
        return zlib.decompressobj(wbits=31).decompress(data, 16)
    except zlib.error:
        return b""


#: Every format read, in the order they are tried.
FORMATS: tuple[Format, ...] = (
    Format(name="PNG", accept=_starts(b"\x89PNG\r\n\x1a\n"), module="_pillow", streams=True),
    # SOI alone: libjpeg skips stray bytes between SOI and the first marker, and so does
    # the JPEG reader.
    Format(name="JPEG", accept=_starts(b"\xff\xd8"), module="_jpeg", label="JPEG, JPEG-LS"),
    Format(name="GIF", accept=_starts(b"GIF87a", b"GIF89a"), module="_pillow"),
    Format(name="BMP", accept=_starts(b"BM"), module="_pillow"),
    Format(
        name="TIFF",
        accept=_starts(b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
        module="_pillow",
    ),
    Format(
        name="WEBP",
        accept=lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP",
        module="_pillow",
    ),
    Format(
        name="J2K",
        accept=_starts(b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  \r\n\x87\n"),
        module="_j2k",
        label="JPEG 2000",
    ),
    # Before PNM: an XV thumbnail's magic is a PAM's followed by " 332" (RGB 3:3:2).
    Format(name="XV", accept=_starts(b"P7 332"), module="_pillow", label="XV thumbnail"),
    Format(
        name="PNM",
        accept=lambda data: data[:2] in _PNM_MAGICS and data[2:3].isspace(),
        module="_pnm",
    ),
    Format(
        name="FITS",
        accept=lambda data: data.startswith(_FITS) or _gunzipped_head(data).startswith(_FITS),
        module="_fits",
    ),
    Format(
        name="PFM",
        accept=lambda data: data[:2] in {b"PF", b"Pf"} and data[2:3].isspace(),
        module="_float",
    ),
    Format(name="HEIF", accept=is_heif, module="_heif", label="HEIC/HEIF"),
    Format(name="AVIF", accept=is_avif, module="_pillow"),
    Format(
        name="JXL", accept=_starts(JXL_SIGNATURE, JXL_CONTAINER), module="_jxl", label="JPEG XL"
    ),
)
#: Content no row recognises: every Pillow plugin may try, and the pixel policies decide.
FALLBACK = Format(
    name="PILLOW", accept=lambda _: True, module="_pillow", label="any other format Pillow reads"
)
#: Formats detected and decoded, as a user knows them.
SUPPORTED_FORMATS = tuple(fmt.label or fmt.name for fmt in (*FORMATS, FALLBACK))


def detect_format(data: bytes) -> Format:
    r"""Recognise the picture format of `data` from its first bytes.

    >>> detect_format(b"\x89PNG\r\n\x1a\n....").name
    'PNG'

    Raises
    ------
    UnsupportedInput
        For a DICOM file, or gzip-compressed content other than FITS; anything else
        unrecognised goes to :data:`FALLBACK` and its reader decides.
    CorruptImage
        When there is no content at all.
    """
    if not data:
        raise CorruptImage("file is empty")
    for fmt in FORMATS:
        if fmt.accept(data):
            return fmt
    if data[128:132] == b"DICM":
        raise UnsupportedInput("already a DICOM file")
    if data.startswith(_GZIP):
        raise UnsupportedInput(
            "gzip-compressed, and not a FITS file (the only compressed content read); "
            "decompress it first"
        )
    return FALLBACK


def read_picture(
    source: Source, options: ConvertOptions | None = None, fmt: Format | None = None
) -> Picture:
    """:func:`dicomize.read_picture`, for dicomize's own callers.

    `fmt` is the format when the caller has read the head already
    (:func:`dicomize.inputs.sniff`); None detects it here.
    """
    options = options or ConvertOptions()
    if isinstance(source, bytes | bytearray | memoryview):
        return _dated(_decode(bytes(source), options, fmt))
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            with path.open("rb") as stream:
                return _dated(_decode_file(stream, options, fmt))
        except IsADirectoryError:
            raise UnsupportedInput("is a directory", path) from None
        except InputError as exc:
            raise exc.with_source(path) from exc
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path) from None
    if not hasattr(source, "__array_interface__"):
        raise UnsupportedInput(
            f"cannot convert a {type(source).__name__}; give a path, bytes or a numpy array"
        )
    from dicomize.readers._array import read_array

    return read_array(source, options)


def _dated(picture: Picture) -> Picture:
    """Give a picture whose EXIF record says when it was taken that moment as its own."""
    if picture.created is None and picture.exif:
        taken = exif_moment(picture.exif)
        if taken is not None:
            return replace(picture, created=taken)
    return picture


def _decode_file(stream: BinaryIO, options: ConvertOptions, fmt: Format | None) -> Picture:
    if fmt is None:
        head = stream.read(_HEAD)
        if not stream.seekable():  # a pipe, as from a shell's <(...)
            return _decode(head + stream.read(), options, None)
        fmt = detect_format(head)
        stream.seek(0)
    if fmt.streams:
        return fmt.reader()(stream, fmt.name, options)
    return fmt.reader()(stream.read(), fmt.name, options)


def _decode(data: bytes, options: ConvertOptions, fmt: Format | None) -> Picture:
    fmt = fmt or detect_format(data)
    return fmt.reader()(data, fmt.name, options)
