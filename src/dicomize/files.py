"""Files and folders as every command sees them: hidden names passed over, temporary names.

Batch planning, sending and validation walk trees the same way, and the
atomic writer's temporary names are made and recognised in one place.

>>> name = os.path.basename(temporary_name("out/a.dcm"))
>>> name.startswith(".a.dcm.") and is_temporary_of(name, "a.dcm")
True
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "NotRegularFile",
    "is_temporary",
    "is_temporary_of",
    "kind_of",
    "open_regular",
    "printable",
    "read_start",
    "temporary_name",
    "walk_files",
]

_SUFFIX = ".part"


def walk_files(
    paths: Iterable[str | os.PathLike[str]], *, skip: Path | None = None
) -> Iterator[tuple[Path, Path]]:
    """Yield ``(root, file)`` for files given, and for the files under folders given.

    Folders are walked in sorted order, names starting with ``.`` (hidden
    files, our temporaries) are passed over, and so is the folder `skip`
    (an output folder inside the input tree). A file given by name is yielded
    as it is, hidden or not.
    """
    skip = skip.resolve() if skip is not None else None
    for root in map(Path, paths):
        if not root.is_dir():
            yield root, root
            continue
        for folder, folders, files in os.walk(root):
            folders[:] = sorted(
                name
                for name in folders
                if not name.startswith(".") and (Path(folder) / name).resolve() != skip
            )
            for name in sorted(files):
                if not name.startswith("."):
                    yield root, Path(folder) / name


def temporary_name(path: str) -> str:
    """Return a new hidden name beside `path` to write to before it is renamed into place."""
    # Random per process, counted per name: a batch writes hundreds of files a second, and
    # random bytes per name cost a system call each. The name only has to be new; the
    # writer's O_EXCL is what keeps it from writing through anyone else's file.
    if not _PROCESS_TOKEN:
        _PROCESS_TOKEN.append(os.urandom(6).hex())
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{_PROCESS_TOKEN[0]}{next(_NAMES):x}{_SUFFIX}")


#: This process's random part of its temporary names, made on first use.
_PROCESS_TOKEN: list[str] = []
_NAMES = itertools.count()
if hasattr(os, "register_at_fork"):
    # A forked worker must not reuse its parent's names: it makes a token of its own.
    os.register_at_fork(after_in_child=_PROCESS_TOKEN.clear)


def is_temporary(name: str) -> bool:
    """Tell whether a file name is one of :func:`temporary_name`'s."""
    return name.startswith(".") and name.endswith(_SUFFIX)


def is_temporary_of(name: str, target: str) -> bool:
    """Tell whether a file name is a temporary of the file named `target`."""
    return is_temporary(name) and name.startswith(f".{target}.")


class NotRegularFile(OSError):
    """A path that is not a regular file: a link, a named pipe, a device, a socket, a folder."""


def kind_of(mode: int) -> str:
    """Return what a file of this ``st_mode`` is, in words ("a symbolic link")."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((words for test, words in kinds if test(mode)), "not a file")


def open_regular(path: str | os.PathLike[str]) -> int:
    """Open a regular file for reading, never through a link, and return its descriptor.

    The path's last component is not followed (``O_NOFOLLOW``) and a named pipe or
    device never blocks the caller (``O_NONBLOCK``); what is opened is checked to
    be a regular file.

    Raises
    ------
    NotRegularFile
        When `path` is a symbolic link or anything but a regular file; its
        message says what it is.
    OSError
        When it cannot be opened.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):  # a FIFO or a device is never opened at all
            raise NotRegularFile(f"not a regular file: {kind_of(mode)}")
        descriptor = os.open(path, flags)
    except OSError as exc:
        if isinstance(exc, NotRegularFile) or not os.path.islink(path):
            raise
        raise NotRegularFile(f"not a regular file: {kind_of(stat.S_IFLNK)}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):  # replaced between the look and the open
        os.close(descriptor)
        raise NotRegularFile(f"not a regular file: {kind_of(mode)}")
    os.set_blocking(descriptor, True)
    return descriptor


def read_start(path: str | os.PathLike[str], *, head: int, whole: int) -> tuple[bytes, int] | None:
    """Read a small regular file whole, or a large one's first bytes: one open, one read.

    Parameters
    ----------
    path : str or os.PathLike
        The file; a symbolic link is followed, as ``open`` follows it.
    head : int
        How much of a file larger than `whole` is read.
    whole : int
        The largest file read to its end.

    Returns
    -------
    tuple of (bytes, int) or None
        The bytes read and the file's size: they are the whole file when their length is
        its size. None when `path` is not a regular file (a folder, a named pipe, a
        device), which is then not read at all.

    Raises
    ------
    OSError
        When it cannot be opened or read.
    """
    # O_NONBLOCK: a named pipe opens at once, without a writer, and is closed unread.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > whole:
            return _read_up_to(descriptor, head), info.st_size
        # One byte more than its size: a read that fills it too says the file grew since
        # fstat, and the rest is read; one that stops at the size has reached the end.
        data = os.read(descriptor, info.st_size + 1)
        if len(data) != info.st_size:
            data += _read_up_to(descriptor, -1)
        return data, len(data)
    finally:
        os.close(descriptor)


def _read_up_to(descriptor: int, size: int) -> bytes:
    """Read `size` bytes, or to the end (-1), however many reads the file system takes."""
    parts = []
    left = size
    while left:
        part = os.read(descriptor, left if left > 0 else _BLOCK)
        if not part:
            break
        parts.append(part)
        left = max(left - len(part), 0) if left > 0 else left
    return b"".join(parts)


_BLOCK = 1 << 20


def printable(text: str) -> str:
    r"""Return `text` with the bytes of a name that is not UTF-8 written as ``\xNN``.

    Names are bytes on POSIX: Python carries the bytes that are not UTF-8 as lone
    surrogates, which no UTF-8 log, database or file can hold. What is shown to a
    person, logged or written into a note is this form, valid UTF-8.

    >>> printable(os.fsdecode(b"caf\xe9.jpg"))
    'caf\\xe9.jpg'
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
