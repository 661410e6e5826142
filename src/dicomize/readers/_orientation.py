"""EXIF/TIFF Orientation (values 2-8): how each is undone, for every way dicomize moves pixels.

One table serves the numpy arrays, Pillow images and jpegtran transcodes, so the
three can never disagree on what "Orientation 6" means. The value says how the
stored rows and columns are laid out relative to the scene (TIFF 6.0, tag 274);
undoing it makes the pixels upright, as DICOM's rows and columns must be.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

__all__ = ["ORIENTATIONS", "Turn", "apply_orientation"]


class Turn:
    """How one Orientation value is undone."""

    __slots__ = ("jpegtran", "mirror_columns", "mirror_rows", "pillow", "transpose")

    #: Swap rows and columns first.
    transpose: bool
    #: Then mirror left-right.
    mirror_columns: bool
    #: Then mirror top-bottom.
    mirror_rows: bool
    #: The same transform for jpegtran, on the DCT coefficients.
    jpegtran: tuple[str, ...]
    #: The same transform as a member of Pillow's ``Image.Transpose``.
    pillow: str

    def __init__(
        self,
        *,
        transpose: bool,
        mirror_columns: bool,
        mirror_rows: bool,
        jpegtran: tuple[str, ...],
        pillow: str,
    ) -> None:
        self.transpose = transpose
        self.mirror_columns = mirror_columns
        self.mirror_rows = mirror_rows
        self.jpegtran = jpegtran
        self.pillow = pillow


ORIENTATIONS: dict[int, Turn] = {
    2: Turn(
        transpose=False,
        mirror_columns=True,
        mirror_rows=False,
        jpegtran=("-flip", "horizontal"),
        pillow="FLIP_LEFT_RIGHT",
    ),
    3: Turn(
        transpose=False,
        mirror_columns=True,
        mirror_rows=True,
        jpegtran=("-rotate", "180"),
        pillow="ROTATE_180",
    ),
    4: Turn(
        transpose=False,
        mirror_columns=False,
        mirror_rows=True,
        jpegtran=("-flip", "vertical"),
        pillow="FLIP_TOP_BOTTOM",
    ),
    5: Turn(
        transpose=True,
        mirror_columns=False,
        mirror_rows=False,
        jpegtran=("-transpose",),
        pillow="TRANSPOSE",
    ),
    6: Turn(
        transpose=True,
        mirror_columns=True,
        mirror_rows=False,
        jpegtran=("-rotate", "90"),
        pillow="ROTATE_270",
    ),
    7: Turn(
        transpose=True,
        mirror_columns=True,
        mirror_rows=True,
        jpegtran=("-transverse",),
        pillow="TRANSVERSE",
    ),
    8: Turn(
        transpose=True,
        mirror_columns=False,
        mirror_rows=True,
        jpegtran=("-rotate", "270"),
        pillow="ROTATE_90",
    ),
}


def apply_orientation(array: npt.NDArray[Any], orientation: int) -> npt.NDArray[Any]:
    """Undo an Orientation value on an array of rows and columns (1 and unknown: unchanged).

    The result is a view; :func:`~dicomize.readers._array.picture_from_array`
    makes it contiguous.
    """
    turn = ORIENTATIONS.get(orientation)
    if turn is None:
        return array
    if turn.transpose:
        array = array.swapaxes(0, 1)
    if turn.mirror_columns:
        array = array[:, ::-1]
    if turn.mirror_rows:
        array = array[::-1]
    return array
