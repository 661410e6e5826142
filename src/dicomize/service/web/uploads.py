"""Uploads streamed straight to a private folder, within limits, never held in memory.

python-multipart's streaming parser writes each part to its file as the bytes
arrive, so a 2 GB clip costs a buffer, not 2 GB; the limits are checked before
(Content-Length) and while the body streams (a client may lie about it).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import warnings
from pathlib import Path
from typing import IO, Any

from starlette.requests import Request

__all__ = [
    "UploadRefused",
    "check_free_space",
    "decoded_pixels",
    "megapixels",
    "receive_files",
    "safe_name",
    "shown_name",
]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_FILENAME = re.compile(r'filename="([^"]*)"')
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: Written between two looks at the free disk space, while an upload streams in.
_LOOK_EVERY = 64 << 20
#: What the page says when the disk cannot hold more: the nurse cannot fix it, IT can.
_DISK_FULL = (
    "The server has not enough free disk space for these files: they were not taken. "
    "Send the visits that are ready, then try again; if this stays so, ask your IT service "
    "to free space on the server."
)
#: Pillow's refusal of a picture past twice its own limit names the picture's size.
_BOMB = re.compile(r"\((\d+) pixels\)")


class UploadRefused(Exception):
    """An upload the page does not take; the message says what to do instead."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


def _megabytes(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MB"


def megapixels(pixels: int) -> str:
    """Return a count of pixels in the page's words.

    >>> megapixels(5_000_000), megapixels(1_500_000), megapixels(640_000_000)
    ('5 megapixels', '1.5 megapixels', '640 megapixels')
    """
    value = pixels / 1e6
    shown = f"{value:,.0f}" if value >= 10 or value == round(value) else f"{value:.1f}"  # noqa: PLR2004
    return f"{shown} megapixels"


def check_free_space(folder: Path, need: int, reserve: int) -> None:
    """Refuse work that would leave less than `reserve` bytes free where `folder` is.

    Raises
    ------
    UploadRefused
        With status 507 and what to do, when `need` bytes would not fit.
    """
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # a folder not made yet: its parent is looked at when it is
    if free - need < reserve:
        raise UploadRefused(_DISK_FULL, status=507)


def decoded_pixels(path: Path, *, passthrough: bool = True) -> int:
    """Return how many pixels the picture at `path` holds once decoded, from its header.

    Every frame counts. Nothing is decoded: Pillow reads a picture's size when it
    opens it; a codestream Pillow does not open (JPEG-LS, JPEG XL, HEIF) is
    measured by the project's own header parsers, and anything else (documents,
    clips, what is not a picture) counts 0: it is not decoded into pixels here.
    A JPEG counts 0 when `passthrough` keeps JPEGs as they came: its object holds its
    codestream, no larger than the upload, so a ward's fifty phone photos fit.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if passthrough and image.format == "JPEG":
                    return 0
                columns, rows = image.size
                frames = int(getattr(image, "n_frames", 1) or 1)
                return columns * rows * max(frames, 1)
    except Image.DecompressionBombError as exc:
        found = _BOMB.search(str(exc))
        return int(found.group(1)) if found else 2 * int(Image.MAX_IMAGE_PIXELS or 0) + 1
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        pass
    return _codestream_pixels(path)


def _codestream_pixels(path: Path) -> int:
    from dicomize.codestreams.jpeg import parse_jpeg
    from dicomize.codestreams.jxl import parse_jxl
    from dicomize.errors import DicomizeError

    try:
        with path.open("rb") as stream:
            head = stream.read(2)
            if head == b"\xff\xd8":  # JPEG (JPEG-LS, lossless): its frame header
                info: Any = parse_jpeg(head + stream.read())
            elif head in (b"\xff\x0a", b"\x00\x00"):  # a JPEG XL codestream or container
                info = parse_jxl(head + stream.read())
            else:
                return 0
    except (DicomizeError, OSError, ValueError, IndexError, EOFError):
        return 0
    return int(info.columns) * int(info.rows)


def safe_name(name: str) -> str:
    """Return a file name safe to create: no folders, no hidden names, nothing odd."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return base[:120] or "upload"


def shown_name(name: str) -> str:
    r"""Return the name the person gave a file, to show on the page: no folders, no controls.

    >>> shown_name("C:\\Fotos\\Ferse links.JPG"), shown_name("../x\x00y.pdf")
    ('Ferse links.JPG', 'xy.pdf')
    """
    base = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return base[:200] or "upload"


async def receive_files(
    request: Request, folder: Path, *, max_bytes: int, max_files: int, reserve: int = 0
) -> list[tuple[str, Path]]:
    """Stream the files of a multipart upload into `folder`; return (name, path) pairs.

    Each name is the file's as the browser gave it (:func:`shown_name`); each
    path, in `folder`, is made from :func:`safe_name`.

    Raises
    ------
    UploadRefused
        For a body over `max_bytes`, more than `max_files` files, one that is not
        multipart, malformed (a file name too long) or cut off before its end, or
        one that would leave less than `reserve` bytes of free disk space; nothing
        of it is left on disk.
    starlette.requests.ClientDisconnect
        When the browser goes away before the end (a page reloaded or closed);
        nothing of it is left on disk either.
    """
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        raise UploadRefused("The upload's length is not a number.") from None
    if declared > max_bytes:
        raise UploadRefused(
            f"The upload is {_megabytes(declared)}; the limit is {_megabytes(max_bytes)}. "
            "Send fewer or smaller files at a time.",
            status=413,
        )
    match = _BOUNDARY.search(request.headers.get("content-type", ""))
    if match is None or not request.headers.get("content-type", "").startswith("multipart/"):
        raise UploadRefused("Send the files as multipart/form-data.", status=415)
    check_free_space(folder.parent, declared, reserve)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    receiver = _Receiver(folder, max_files)
    from python_multipart import MultipartParser

    parser = MultipartParser(match.group(1), receiver.callbacks())
    try:
        await _stream(request, parser, receiver, max_bytes, reserve)
    except BaseException:
        receiver.discard()
        raise
    return receiver.done


async def _stream(
    request: Request,
    parser: Any,  # noqa: ANN401  (python-multipart's parser)
    receiver: _Receiver,
    max_bytes: int,
    reserve: int,
) -> None:
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartState

    total, looked = 0, 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise UploadRefused(
                f"The upload is over the limit of {_megabytes(max_bytes)}. "
                "Send fewer or smaller files at a time.",
                status=413,
            )
        if total - looked >= _LOOK_EVERY:  # a body of no declared length, or one that grew
            check_free_space(receiver.folder, 0, reserve)
            looked = total
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise _malformed(exc) from None
        if receiver.refusal is not None:
            raise receiver.refusal
    parser.finalize()
    if parser.state != MultipartState.END or receiver.open:
        raise UploadRefused(
            "The upload did not arrive in full (the connection was cut off): "
            "nothing of it was kept. Add the files again."
        )
    if not receiver.done:
        raise UploadRefused("No file came with the upload.")


def _malformed(exc: Exception) -> UploadRefused:
    """Return the refusal of a body the multipart parser cannot read, in the page's words."""
    if "header size" in str(exc).lower():
        return UploadRefused(
            "A file name is too long: rename the file to a shorter name and add it again.",
            status=413,
        )
    return UploadRefused("The upload could not be read: reload the page and add the files again.")


class _Receiver:
    """The parser's callbacks: each file part into its own new file."""

    def __init__(self, folder: Path, max_files: int) -> None:
        self.folder = folder
        self.max_files = max_files
        self.done: list[tuple[str, Path]] = []
        self.refusal: UploadRefused | None = None
        self._header = bytearray()
        self._field = bytearray()
        self._name: str | None = None
        self._stream: IO[bytes] | None = None
        self._path: Path | None = None
        self._display = ""

    def callbacks(self) -> Any:  # noqa: ANN401  (python-multipart's callback table)
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._open,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._name = None

    def _header_end(self) -> None:
        if bytes(self._field).lower() == b"content-disposition":
            found = _FILENAME.search(self._header.decode("utf-8", "replace"))
            if found is not None and found.group(1):
                self._name = found.group(1)
        self._field.clear()
        self._header.clear()

    def _open(self) -> None:
        if self._name is None:
            return  # a plain field: ignored
        if len(self.done) >= self.max_files:
            self.refusal = UploadRefused(
                f"At most {self.max_files} files at a time: send the rest in another upload.",
                status=413,
            )
            return
        name = safe_name(self._name)
        self._path = self.folder / f"{secrets.token_hex(4)}-{name}"
        # O_EXCL: never over another file, whatever name the browser sent.
        descriptor = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._stream = os.fdopen(descriptor, "wb")
        self._display = shown_name(self._name)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._stream is not None:
            self._stream.write(data[start:end])

    def _end(self) -> None:
        if self._stream is not None and self._path is not None:
            self._stream.close()
            self.done.append((self._display, self._path))
        self._stream, self._path, self._name = None, None, None

    @property
    def open(self) -> bool:
        """Whether a file is being written: its part has not ended."""
        return self._stream is not None

    def discard(self) -> None:
        if self._stream is not None:
            self._stream.close()
        for path in [*(p for _, p in self.done), *([self._path] if self._path else [])]:
            path.unlink(missing_ok=True)
        self.done = []
