r"""Documents a clinic files with the images: PDF reports and forms, 3D models (STL, OBJ, MTL).

Each format is one row of :data:`DOCUMENT_FORMATS`: how its content is
recognised (never its file name) and which module checks it. A document is kept
byte for byte (an ASCII STL is the one exception: the Encapsulated STL IOD holds
binary STL, PS3.3 A.85.1.4.1), after a strict check that refuses a damaged
file here rather than in a viewer.

>>> detect_document(b"%PDF-1.7\n...", 12).name
'PDF'
>>> detect_document(b"\x89PNG\r\n\x1a\n", 8) is None
True
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Callable
from pathlib import Path

from dicomize.errors import InputError, UnsupportedInput

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import TypeAlias

    from dicomize.picture import Picture

__all__ = [
    "DOCUMENT_FORMATS",
    "Document",
    "DocumentFormat",
    "detect_document",
    "format_for_mime",
    "named_format",
    "read_document",
    "render_pages",
]

#: Enough of a file to recognise a document (PDF allows junk before ``%PDF-``; ISO 32000-1 7.5.2).
HEAD = 1024


class Document:
    """A document to encapsulate, and what its own content says about it."""

    __slots__ = ("created", "data", "mime_type", "source_format", "title")

    data: bytes
    mime_type: str
    #: Short name of the format (``"PDF"``, ``"STL"``, ...).
    source_format: str
    #: The document's own title (PDF Info ``Title``), or None.
    title: str | None
    #: When the document's content was created (PDF Info ``CreationDate``), or None.
    created: dt.datetime | None

    def __init__(
        self,
        *,
        data: bytes,
        mime_type: str,
        source_format: str,
        title: str | None = None,
        created: dt.datetime | None = None,
    ) -> None:
        self.data = data
        self.mime_type = mime_type
        self.source_format = source_format
        self.title = title
        self.created = created


#: A format's check: the file's bytes → the document (or an InputError).
Reader: TypeAlias = Callable[[bytes], Document]


class DocumentFormat:
    """One document format: how its content is recognised and which module checks it."""

    __slots__ = ("accept", "function", "kind", "module", "name")

    name: str
    #: True when a file with these first bytes (at most :data:`HEAD`) and this size is one.
    accept: Callable[[bytes, int], bool]
    #: The module in :mod:`dicomize.documents` whose function `function` reads it.
    module: str
    function: str
    #: What the series holding it is of: a series holds one kind (one modality, PS3.3 A.1.2.3).
    kind: str

    def __init__(
        self,
        *,
        name: str,
        accept: Callable[[bytes, int], bool],
        module: str,
        function: str = "read",
        kind: str = "document",
    ) -> None:
        self.name = name
        self.accept = accept
        self.module = module
        self.function = function
        self.kind = kind

    def reader(self) -> Reader:
        """Return the reader of this format, importing its module (PDFium loads only for PDF)."""
        module = importlib.import_module(f"dicomize.documents.{self.module}")
        read: Reader = getattr(module, self.function)
        return read


def _is_pdf(head: bytes, _size: int) -> bool:
    return b"%PDF-" in head[:HEAD]


def _is_binary_stl(head: bytes, size: int) -> bool:
    # An 80-byte header, a facet count, 50 bytes per facet: nothing else tells it apart,
    # so the sizes must agree exactly (a header may even begin with "solid").
    return len(head) >= 84 and size == 84 + 50 * int.from_bytes(head[80:84], "little")  # noqa: PLR2004


def _first_statement(head: bytes) -> bytes:
    """Return the first keyword of a text file, skipping blank and ``#`` comment lines."""
    if b"\0" in head:
        return b""
    for line in head.splitlines():
        words = line.split(b"#", 1)[0].split()
        if words:
            return words[0]
    return b""


_OBJ_OPENERS = frozenset(
    (b"v", b"vt", b"vn", b"vp", b"f", b"l", b"p", b"o", b"g", b"s", b"mtllib", b"usemtl")
)

#: Every document format read, in the order they are tried (before the pictures).
DOCUMENT_FORMATS: tuple[DocumentFormat, ...] = (
    DocumentFormat(name="PDF", accept=_is_pdf, module="_pdf"),
    DocumentFormat(
        name="STL",
        accept=_is_binary_stl,
        module="_models",
        function="read_binary_stl",
        kind="model",
    ),
    DocumentFormat(
        name="ASCII STL",
        accept=lambda head, _: _first_statement(head) == b"solid",
        module="_models",
        function="read_ascii_stl",
        kind="model",
    ),
    DocumentFormat(
        name="OBJ",
        accept=lambda head, _: _first_statement(head) in _OBJ_OPENERS,
        module="_models",
        function="read_obj",
        kind="model",
    ),
    DocumentFormat(
        name="MTL",
        accept=lambda head, _: _first_statement(head) == b"newmtl",
        module="_models",
        function="read_mtl",
        kind="model",
    ),
)


def detect_document(head: bytes, size: int) -> DocumentFormat | None:
    """Return the document format whose content this is, or None (then it is a picture).

    Parameters
    ----------
    head : bytes
        The file's first bytes (at least :data:`HEAD` of them when the file is that long).
    size : int
        The file's size in bytes.
    """
    return next((fmt for fmt in DOCUMENT_FORMATS if fmt.accept(head, size)), None)


#: Which reader explains why a file named so is not what its name says.
_BY_SUFFIX = {".pdf": "PDF", ".stl": "STL", ".obj": "OBJ", ".mtl": "MTL"}


#: The format an encapsulated document of each MIME type is read as (the IODs hold binary STL).
_BY_MIME = {"application/pdf": "PDF", "model/stl": "STL", "model/obj": "OBJ", "model/mtl": "MTL"}


def _format(name: str | None) -> DocumentFormat | None:
    return next((fmt for fmt in DOCUMENT_FORMATS if fmt.name == name), None)


def format_for_mime(mime_type: str) -> DocumentFormat | None:
    """Return the format that reads a document of `mime_type`, or None.

    >>> format_for_mime("model/stl").name
    'STL'
    """
    return _format(_BY_MIME.get(mime_type.strip().lower()))


def named_format(name: str | os.PathLike[str]) -> DocumentFormat | None:
    """Return the document format a file's name claims, or None.

    Only for a file whose content no format takes: its reader then says what is
    wrong (a truncated ``implant.stl``) instead of calling it an unknown picture.
    The content alone decides what is accepted.
    """
    return _format(_BY_SUFFIX.get(Path(name).suffix.lower()))


def read_document(
    source: str | os.PathLike[str] | bytes, fmt: DocumentFormat | None = None
) -> Document:
    """Read and check a document file (or its bytes).

    Parameters
    ----------
    source : str, os.PathLike or bytes
        The document.
    fmt : DocumentFormat or None
        Its format when already detected; None detects it.

    Raises
    ------
    dicomize.errors.InputError
        With the file named: not a document, truncated, damaged, or (PDF) encrypted.
    """
    name = None if isinstance(source, bytes) else Path(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        fmt = fmt or detect_document(data[:HEAD], len(data))
        if fmt is None:
            raise UnsupportedInput("not a PDF, STL, OBJ or MTL document")
        return fmt.reader()(data)
    except InputError as exc:
        raise exc.with_source(name) if name is not None else exc from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), name) from None


def render_pages(document: Document, *, dpi: int, max_pixels: int | None) -> Picture:
    """Return a PDF's pages as the frames of one picture, rendered by PDFium as they are written.

    The pixels are those the pages need: pure black and white, gray, or colour.
    See :mod:`dicomize.documents._pages`.

    Raises
    ------
    dicomize.errors.ImageTooLarge
        When the pages together exceed `max_pixels`.
    """
    from dataclasses import replace

    from dicomize.documents._pages import render_pages as render  # PDFium

    # The pages are the document's content: made when it was, whatever IOD holds them.
    pages = render(document.data, dpi=dpi, max_pixels=max_pixels)
    return replace(pages, created=document.created)
