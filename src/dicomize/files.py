"""Files and folders as every command sees them: hidden names passed over, temporary names.

Batch planning, sending and validation walk trees the same way, and the
atomic writer's temporary names are made and recognised in one place.

>>> name = os.path.basename(temporary_name("out/a.dcm"))
>>> name.startswith(".a.dcm.") and is_temporary_of(name, "a.dcm")
True
"""

from __future__ import annotations

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
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{os.urandom(6).hex()}{_SUFFIX}")


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


def printable(text: str) -> str:
    r"""Return `text` with the bytes of a name that is not UTF-8 written as ``\xNN``.

    Names are bytes on POSIX: Python carries the bytes that are not UTF-8 as lone
    surrogates, which no UTF-8 log, database or file can hold. What is shown to a
    person, logged or written into a note is this form, valid UTF-8.

    >>> printable(os.fsdecode(b"caf\xe9.jpg"))
    'caf\\xe9.jpg'
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
