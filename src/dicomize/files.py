"""Files and folders as every command sees them: hidden names passed over, temporary names.

Batch planning, sending and validation walk trees the same way, and the
atomic writer's temporary names are made and recognised in one place.

>>> name = os.path.basename(temporary_name("out/a.dcm"))
>>> name.startswith(".a.dcm.") and is_temporary_of(name, "a.dcm")
True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["is_temporary", "is_temporary_of", "temporary_name", "walk_files"]

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
