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
    """:func:`write`, for a dataset or an object from :mod:`dicomize.build` ready to encode."""
    if not isinstance(destination, str | os.PathLike):
        write_part10(destination, dataset)
        return
    write_atomically(destination, lambda stream: write_part10(stream, dataset), overwrite)


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
    if not overwrite and os.path.exists(target):
        raise OutputExists("exists", target, option="overwrite")
    temporary = temporary_name(target)
    try:
        # O_EXCL: never write through a name someone else created; 0o666 lets the umask decide.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as stream:
            produce(stream)
        if overwrite:
            os.replace(temporary, target)
        else:
            _link_without_replacing(temporary, target)
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc), target) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _link_without_replacing(temporary: str, target: str) -> None:
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
