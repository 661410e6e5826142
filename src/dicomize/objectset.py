"""Several objects made from one input, written together into a folder named after it.

A whole-slide image is one object per pyramid level and associated image; a document
whose pages differ in size is one object per page. Such an input's objects are
written into a folder of their own (``OUT/<name>/``), renamed into place whole
(:func:`dicomize._write.write_folder`), so a reader sees all of them or none.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from dicomize.dicom.part10 import Part10Object

__all__ = ["ObjectSet"]


class ObjectSet:
    """The objects of one input, each with its file name in the input's folder.

    Their content may stream from the input's file as they are written (a slide's
    tiles): close the set (or use it as a context manager) when done.
    """

    __slots__ = ("_close", "name", "names", "objects")

    #: The input's name: its folder's.
    name: str
    objects: list[Part10Object]
    #: The file name of each object in the folder (``level-0.dcm``, ``page-1.dcm``).
    names: list[str]

    def __init__(
        self,
        name: str,
        objects: list[Part10Object],
        names: list[str],
        *,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.objects = objects
        self.names = names
        self._close = close

    @property
    def notes(self) -> tuple[str, ...]:
        """What was done on the way: the first object's notes say it for all."""
        return self.objects[0].notes if self.objects else ()

    def close(self) -> None:
        """Release what the objects hold open (a slide's spooled tiles)."""
        if self._close is not None:
            self._close()

    def __enter__(self) -> ObjectSet:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ObjectSet({self.name!r}, {len(self.objects)} objects)"
