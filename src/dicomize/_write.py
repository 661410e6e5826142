"""Part 10 output that never leaves a partial or clobbered file behind.

The dataset is written to a hidden temporary name in the target folder and
then linked or renamed into place, so a reader sees either no file or the
whole file, whatever happens to the process (the rename is atomic on POSIX
file systems). Without ``overwrite`` an existing file is never replaced, even
when it appears while we write: ``os.link`` refuses to replace a name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

from dicomize.dicom.part10 import Part10Object, write_part10
from dicomize.errors import OutputError, OutputExists
from dicomize.files import temporary_name

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import BinaryIO

    from pydicom.dataset import Dataset

__all__ = ["write_atomically", "write_folder", "write_object"]


def write_object(
    dataset: Dataset | Part10Object,
    destination: str | os.PathLike[str] | BinaryIO,
    *,
    overwrite: bool = False,
) -> None:
    """:func:`write`, for a dataset or an object from :mod:`dicomize.build` ready to encode.

    A file is written straight to its descriptor: the header and a passed-through
    codestream go out in one ``writev``, with none of the checks ``open`` makes.
    """
    if not isinstance(destination, str | os.PathLike):
        write_part10(destination, dataset)
        return
    # The link is the check that nothing is there: a look first would cost a system
    # call a file in a batch, and could not stop a file made after it anyway.
    _publish(
        os.fspath(destination),
        lambda descriptor: write_part10(_Descriptor(descriptor), dataset),
        overwrite,
    )


def write_atomically(
    path: str | os.PathLike[str], produce: Callable[[BinaryIO], object], overwrite: bool = False
) -> None:
    """Write a file through a hidden temporary name, then link (or rename) it into place.

    Raises
    ------
    OutputExists
        When `path` exists and `overwrite` is false.
    OutputError
        When the file cannot be written; no partial file remains.
    """
    # Names as text, not pathlib: a batch writes hundreds of files a second.
    target = os.fspath(path)
    if not overwrite and os.path.exists(target):  # before producing what may be large
        raise OutputExists("exists", target, option="overwrite")

    def buffered(descriptor: int) -> None:
        # A real file object: a producer may seek and tell (tifffile does).
        with os.fdopen(descriptor, "wb", closefd=False) as stream:
            produce(stream)

    _publish(target, buffered, overwrite)


def _publish(target: str, write: Callable[[int], object], overwrite: bool) -> None:
    """Write through a temporary name with `write` (given the descriptor), then publish it.

    Raises
    ------
    OutputExists
        When `target` exists and `overwrite` is false.
    OutputError
        When the file cannot be written; no partial file remains.
    """
    temporary = temporary_name(target)
    try:
        # O_EXCL: never write through a name someone else created; 0o666 lets the umask decide.
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666
        )
    except OSError as exc:
        if not overwrite and os.path.exists(target):  # a folder we may not write, that has it
            raise OutputExists("exists", target, option="overwrite") from None
        raise OutputError(exc.strerror or str(exc), target) from exc
    try:
        try:
            write(descriptor)
        finally:
            os.close(descriptor)
        if overwrite:
            os.replace(temporary, target)
        else:
            _link_without_replacing(temporary, target)
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc), target) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


class _Descriptor:
    """A file written through its descriptor: no buffer, and a run of buffers in one writev.

    What :func:`write_part10` needs of a stream, and no more: ``open`` would also
    stat the file, ask whether it is a terminal and seek, for every file of a batch.
    """

    __slots__ = ("_descriptor",)

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write all of `data` (a write may take part of it)."""
        view = memoryview(data).cast("B")
        size = len(view)
        while view:
            view = view[os.write(self._descriptor, view) :]
        return size

    def writelines(self, buffers: Sequence[bytes | bytearray | memoryview]) -> None:
        """Write `buffers` in order, in one ``writev`` as a rule."""
        if _WRITEV is None:
            for data in buffers:
                self.write(data)
            return
        views = [memoryview(data).cast("B") for data in buffers]
        first = 0
        while first < len(views):
            written = _WRITEV(self._descriptor, views[first : first + _IOV_MAX])
            # A write may stop anywhere (a full disk raises instead): go on from there.
            while first < len(views) and written >= len(views[first]):
                written -= len(views[first])
                first += 1
            if written:
                views[first] = views[first][written:]


_WRITEV = getattr(os, "writev", None)
#: The most buffers one writev takes (POSIX's IOV_MAX: 1024 on Linux and macOS).
_IOV_MAX = 1024


def _link_without_replacing(temporary: str, target: str) -> None:
    # link, then the caller's unlink: two system calls where a rename is one, but the
    # only no-clobber publish in portable Python. renameat2(RENAME_NOREPLACE) is Linux's
    # one call and has no os wrapper (ctypes, and file systems that refuse the flag);
    # an O_TMPFILE linked through /proc/self/fd is Linux-only too, and needs /proc.
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise OutputExists("exists", target, option="overwrite") from None
    except OSError:
        # File systems without hard links: a check-then-rename is the best available.
        if os.path.exists(target):
            raise OutputExists("exists", target, option="overwrite") from None
        os.replace(temporary, target)


def write_folder(
    objects: Sequence[tuple[str, Dataset | Part10Object]],
    folder: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> list[str]:
    """Write objects that belong together (a slide's) into a new folder, all or none.

    The files are written into a hidden folder beside `folder`, which is renamed
    into place when every one is whole: a reader sees no folder or the whole set,
    and a failure leaves nothing behind.

    Parameters
    ----------
    objects : sequence of (name, object)
        Each file's name in the folder, and its object.
    folder : path-like
        The folder to make.
    overwrite : bool
        Replace an existing folder of that name (it is removed once the new one is
        in place).

    Returns
    -------
    list of str
        The paths written.

    Raises
    ------
    OutputExists
        When `folder` exists and `overwrite` is false.
    OutputError
        When a file cannot be written; nothing remains.
    """
    import shutil

    target = os.fspath(folder)
    if not overwrite and os.path.lexists(target):
        raise OutputExists("exists", target, option="overwrite")
    temporary = temporary_name(target)
    replaced = None
    try:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        os.mkdir(temporary, 0o777)
        for name, dataset in objects:
            path = os.path.join(temporary, name)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(descriptor, "wb") as stream:
                write_part10(stream, dataset)
        if overwrite and os.path.lexists(target):
            replaced = temporary_name(target)
            os.rename(target, replaced)
        try:
            os.rename(temporary, target)
        except OSError as exc:
            if os.path.lexists(target):  # made while we wrote: never replaced
                raise OutputExists("exists", target, option="overwrite") from exc
            raise
    except OSError as exc:
        if replaced is not None and not os.path.lexists(target):
            os.rename(replaced, target)
            replaced = None
        raise OutputError(exc.strerror or str(exc), target) from exc
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
    return [os.path.join(target, name) for name, _ in objects]
