"""Uploads streamed straight to a private folder, within limits, never held in memory.

python-multipart's streaming parser writes each part to its file as the bytes
arrive, so a 2 GB clip costs a buffer, not 2 GB; the limits are checked before
(Content-Length) and while the body streams (a client may lie about it).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import IO, Any

from starlette.requests import Request

__all__ = ["UploadRefused", "receive_files", "safe_name", "shown_name"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_FILENAME = re.compile(r'filename="([^"]*)"')
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class UploadRefused(Exception):
    """An upload the page does not take; the message says what to do instead."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


def _megabytes(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MB"


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
    request: Request, folder: Path, *, max_bytes: int, max_files: int
) -> list[tuple[str, Path]]:
    """Stream the files of a multipart upload into `folder`; return (name, path) pairs.

    Each name is the file's as the browser gave it (:func:`shown_name`); each
    path, in `folder`, is made from :func:`safe_name`.

    Raises
    ------
    UploadRefused
        For a body over `max_bytes`, more than `max_files` files, or one that is
        not multipart; nothing of it is left on disk.
    starlette.requests.ClientDisconnect
        When the browser goes away before the end (a page reloaded or closed);
        nothing of it is left on disk either.
    """
    declared = int(request.headers.get("content-length") or 0)
    if declared > max_bytes:
        raise UploadRefused(
            f"The upload is {_megabytes(declared)}; the limit is {_megabytes(max_bytes)}. "
            "Send fewer or smaller files at a time.",
            status=413,
        )
    match = _BOUNDARY.search(request.headers.get("content-type", ""))
    if match is None or not request.headers.get("content-type", "").startswith("multipart/"):
        raise UploadRefused("Send the files as multipart/form-data.", status=415)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    receiver = _Receiver(folder, max_files)
    from python_multipart import MultipartParser

    parser = MultipartParser(match.group(1), receiver.callbacks())
    try:
        await _stream(request, parser, receiver, max_bytes)
    except BaseException:
        receiver.discard()
        raise
    if not receiver.done:
        raise UploadRefused("No file came with the upload.")
    return receiver.done


async def _stream(request: Request, parser: Any, receiver: _Receiver, max_bytes: int) -> None:  # noqa: ANN401
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise UploadRefused(
                f"The upload is over the limit of {_megabytes(max_bytes)}. "
                "Send fewer or smaller files at a time.",
                status=413,
            )
        parser.write(chunk)
        if receiver.refusal is not None:
            raise receiver.refusal
    parser.finalize()


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

    def discard(self) -> None:
        if self._stream is not None:
            self._stream.close()
        for path in [*(p for _, p in self.done), *([self._path] if self._path else [])]:
            path.unlink(missing_ok=True)
        self.done = []
