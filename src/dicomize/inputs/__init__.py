r"""What an input is: one read of its first bytes decides its kind and its format.

Each kind of content is one row of :data:`KINDS` (pictures, video clips, documents,
3D models, whole-slide images), with the formats it takes; :func:`sniff` reads
the head of a file once and asks the kinds' detectors in turn, so that the readers
are handed the format and never open a file to sniff it again. The content decides,
never the file name; a name only chooses which reader explains why a file no format
takes is not what its name says.

>>> sniff(b"%PDF-1.7 ...").kind
'document'
>>> sniff(b"\x89PNG\r\n\x1a\n....").picture.name
'PNG'
"""

from __future__ import annotations

import os
from pathlib import Path

from dicomize.codestreams.containers import VIDEO_SUFFIXES, is_video
from dicomize.documents import DOCUMENT_FORMATS, DocumentFormat, detect_document, named_format
from dicomize.errors import InputError
from dicomize.files import read_start
from dicomize.options import ConvertOptions
from dicomize.readers import FALLBACK, FORMATS, Format, Source, detect_format
from dicomize.slides import SLIDE_FORMATS, SLIDE_SUFFIXES, is_slide

__all__ = ["HEAD", "KINDS", "WHOLE", "Kind", "Sniffed", "content_kind", "sniff"]

#: How much of a file is read to tell its kind and format: enough for every detector
#: (a PDF may have junk before ``%PDF-``, a DICOM file's magic is at byte 128, a
#: transport stream needs three packets).
HEAD = 4096
#: The largest file ``sniff(..., whole=True)`` reads whole. A clinic's photo is a few MB;
#: past this, one open and read more are nothing against reading the file, and a reader
#: that streams (PNG) holds less than the whole file.
WHOLE = 16 * 2**20


class Kind:
    """One kind of content: what it is called and which formats it takes."""

    __slots__ = ("formats", "name", "noun")

    #: ``picture``, ``video``, ``document``, ``model`` or ``slide``: a series holds one
    #: kind, since a series has one Modality (PS3.3 A.1.2.3) and each kind's IODs have
    #: their own.
    name: str
    #: How a refusal names one ("a video clip").
    noun: str
    #: The formats of this kind, as a user knows them.
    formats: tuple[str, ...]

    def __init__(self, *, name: str, noun: str, formats: tuple[str, ...]) -> None:
        self.name = name
        self.noun = noun
        self.formats = formats

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"


#: Every kind of content, in the order their series are numbered in one call.
KINDS: dict[str, Kind] = {
    row.name: row
    for row in (
        Kind(
            name="picture",
            noun="a picture",
            formats=tuple(fmt.label or fmt.name for fmt in (*FORMATS, FALLBACK)),
        ),
        Kind(
            name="video",
            noun="a video clip",
            formats=("MP4/MOV", "Matroska/WebM", "AVI", "MPEG PS/TS"),
        ),
        Kind(
            name="document",
            noun="a document",
            formats=tuple(fmt.name for fmt in DOCUMENT_FORMATS if fmt.kind == "document"),
        ),
        Kind(
            name="model",
            noun="a 3D model",
            formats=tuple(fmt.name for fmt in DOCUMENT_FORMATS if fmt.kind == "model"),
        ),
        Kind(name="slide", noun="a whole-slide image", formats=SLIDE_FORMATS),
    )
}


class Sniffed:
    """What one read of an input's head decided."""

    __slots__ = ("content", "document", "kind", "picture")

    #: A key of :data:`KINDS`.
    kind: str
    #: A picture's format, when its head told it (None: an array, a pipe, or not a picture).
    picture: Format | None
    #: A document's or a model's format.
    document: DocumentFormat | None
    #: The whole file, when it was read whole (``sniff(..., whole=True)``): a picture's
    #: reader takes these bytes instead of opening the file again.
    content: bytes | None

    def __init__(
        self,
        kind: str,
        *,
        picture: Format | None = None,
        document: DocumentFormat | None = None,
        content: bytes | None = None,
    ) -> None:
        self.kind = kind
        self.picture = picture
        self.document = document
        self.content = content

    def __repr__(self) -> str:
        return f"Sniffed({self.kind!r})"


def sniff(source: Source, options: ConvertOptions | None = None, *, whole: bool = False) -> Sniffed:
    """Read `source`'s head once and decide its kind and format.

    A file that cannot be read, an array and a pipe (which can be read once only) are
    called pictures: their reader names the problem or reads them as they come. A
    PDF is a picture when ``options.pdf_as_images`` asks its pages rendered.

    With `whole`, a file of at most :data:`WHOLE` bytes is read whole, in the same read
    as its head, and a picture's bytes are kept in :attr:`Sniffed.content` for its
    reader: one open and one read a file. A caller that sniffs many files before it
    reads any leaves it off, or would hold them all.
    """
    options = options or ConvertOptions()
    name: str | os.PathLike[str] | None = None
    content = None
    if isinstance(source, bytes | bytearray | memoryview):
        head, size = bytes(source[:HEAD]), len(source)
    elif isinstance(source, str | os.PathLike):
        name = source
        try:
            started = read_start(source, head=HEAD, whole=WHOLE if whole else 0)
        except OSError:
            return Sniffed("picture")
        if started is None:  # a folder, a pipe, a device: the reader says what it is
            return Sniffed("picture")
        data, size = started
        head = data[:HEAD]
        if whole and len(data) == size:
            content = data
    else:
        return Sniffed("picture")
    sniffed = _decide(head, size, name, options)
    if sniffed.kind == "picture":
        sniffed.content = content
    return sniffed


def content_kind(source: Source, options: ConvertOptions | None = None) -> str:
    """Return what `source` becomes: a key of :data:`KINDS`, read from its content.

    Front doors that convert one file at a time into a shared series (a batch, the
    watched folder, the web page) use it to give each kind its own series.

    >>> content_kind(b"%PDF-1.7 ...")
    'document'
    >>> import numpy as np; content_kind(np.zeros((2, 2), np.uint8))
    'picture'
    """
    return sniff(source, options).kind


def _decide(
    head: bytes, size: int, name: str | os.PathLike[str] | None, options: ConvertOptions
) -> Sniffed:
    document = detect_document(head, size)
    if document is not None:
        # A PDF whose pages are to be rendered is read as a picture.
        rendered = options.pdf_as_images and document.name == "PDF"
        return Sniffed("picture" if rendered else document.kind, document=document)
    if head and is_video(head):
        return Sniffed("video")
    if is_slide(head, name):
        return Sniffed("slide")
    picture = _picture_format(head) if head else None  # empty: the reader says so
    if picture is FALLBACK and name is not None:
        return _by_name(name, picture)
    return Sniffed("picture", picture=picture)


def _by_name(name: str | os.PathLike[str], picture: Format) -> Sniffed:
    """No format takes the content: its name picks the reader that says why."""
    if Path(name).suffix.lower() in VIDEO_SUFFIXES:
        return Sniffed("video")  # FFmpeg names what is wrong with a clip
    if Path(name).suffix.lower() in SLIDE_SUFFIXES:
        return Sniffed("slide")  # the slide reader says what is wrong
    named = named_format(name)
    if named is not None:
        return Sniffed(named.kind, document=named)
    return Sniffed("picture", picture=picture)


def _picture_format(head: bytes) -> Format | None:
    try:
        return detect_format(head)
    except InputError:
        return None  # a DICOM file: the reader says so, naming the file
