"""numpy arrays to :class:`~dicomize.picture.Picture`: the pixel policies for arrays.

Accepted: ``bool``, ``uint8``, ``uint16`` and ``int16``; shape ``(rows, columns)``
for grayscale, ``(rows, columns, 3)`` for RGB and ``(rows, columns, 4)`` for RGBA
(alpha is composited onto the background). Colour must be unsigned (PS3.3
C.7.6.3.1: Pixel Representation 0 for colour).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dicomize.dicom.icc import srgb_profile
from dicomize.errors import UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size, stack_pictures

__all__ = ["composite", "picture_from_array", "read_array"]

_RGB = 3
_RGBA = 4
_GRAY_ALPHA = 2


def read_array(source: Any, options: ConvertOptions) -> Picture:  # noqa: ANN401  (array-like)
    """Read a numpy array (or anything with ``__array_interface__``).

    ``(frames, rows, columns)`` and ``(frames, rows, columns, samples)`` are
    stacks of frames; ``(rows, columns, 1-4)`` is one frame with samples.
    """
    array = np.asarray(source)
    if array.ndim == 4 or (array.ndim == 3 and array.shape[2] not in {1, 2, 3, 4}):
        if array.shape[0] == 0:
            raise UnsupportedInput("the array has no frames")
        frames = [picture_from_array(frame, background=options.background) for frame in array]
        return frames[0] if len(frames) == 1 else stack_pictures(frames, None)
    return picture_from_array(array, background=options.background)


def picture_from_array(
    array: npt.NDArray[Any],
    *,
    background: tuple[int, int, int] = (255, 255, 255),
    bits_stored: int | None = None,
    icc_profile: bytes | None = None,
    derivation: tuple[str, ...] = (),
    lossy: tuple[tuple[str | None, float | None], ...] = (),
    source_format: str = "array",
) -> Picture:
    """Describe `array` as DICOM pixels, sharing its memory where the layout allows.

    Parameters
    ----------
    array : numpy.ndarray
        Pixels as described in the module docstring.
    background : tuple of int
        8-bit RGB colour that alpha is composited onto.
    bits_stored : int or None
        The real depth of 16-bit samples when the source states it (PNG sBIT,
        PGM maxval); None means the full width of the dtype.
    icc_profile, derivation, lossy, source_format
        Passed through to the :class:`Picture`.

    Returns
    -------
    Picture
        Pixels in native DICOM layout.

    Raises
    ------
    UnsupportedInput
        For dtypes, shapes or sizes DICOM cannot hold in these IODs.
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == np.bool_:
        array = array.view(np.uint8) * np.uint8(255)
        derivation = (*derivation, "boolean pixels stored as 0 and 255")
    kind = array.dtype.kind + str(array.dtype.itemsize)
    if kind not in {"u1", "u2", "i2"}:
        raise UnsupportedInput(
            f"pixel type {array.dtype} is not supported; use bool, uint8, uint16 or int16"
        )
    if array.ndim == 3 and array.shape[2] in {_GRAY_ALPHA, _RGBA}:
        if kind == "i2":
            raise UnsupportedInput("pixels with alpha must be unsigned")
        array, note = composite(array, background)
        derivation = (*derivation, note)
    if array.ndim == 2:
        samples, photometric = 1, "MONOCHROME2"
    elif array.ndim == 3 and array.shape[2] == _RGB:
        if kind == "i2":
            raise UnsupportedInput("colour pixels must be unsigned (PS3.3 C.7.6.3.1)")
        samples, photometric = 3, "RGB"
    else:
        raise UnsupportedInput(
            f"array shape {array.shape} is not supported; use (rows, columns) for grayscale, "
            "(rows, columns, 3) for RGB or (rows, columns, 4) for RGBA"
        )
    rows, columns = array.shape[:2]
    # An array is in memory already: no pixel limit, only what DICOM can hold.
    check_size(columns, rows, None)
    bits = array.dtype.itemsize * 8
    stored = bits if bits_stored is None or bits == 8 else bits_stored
    # Native Pixel Data is little-endian and row-major (PS3.5 8.1.1); this copies
    # only when the caller's array is not already laid out that way.
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return Picture(
        pixels=memoryview(array.data).cast("B"),
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        photometric_interpretation=photometric,
        bits_allocated=bits,
        bits_stored=stored,
        pixel_representation=1 if kind == "i2" else 0,
        # Untagged colour is sRGB by convention (the web's, and cameras' default).
        icc_profile=(icc_profile or srgb_profile()) if samples == _RGB else None,
        derivation=derivation,
        lossy=lossy,
        source_format=source_format,
    )


def composite(
    array: npt.NDArray[Any], background: tuple[int, int, int]
) -> tuple[npt.NDArray[Any], str]:
    """Composite gray+alpha or RGBA pixels onto an 8-bit RGB background colour.

    Gray+alpha stays gray when the background is neutral, otherwise becomes RGB.

    Returns
    -------
    tuple
        The opaque pixels (same dtype) and a note for Derivation Description.
    """
    maximum = int(np.iinfo(array.dtype).max)
    scale = maximum // 255  # 1 for 8-bit, 257 for 16-bit: exact 8-to-16-bit widening
    colour = array[..., :-1].astype(np.uint32)
    alpha = array[..., -1:].astype(np.uint32)
    neutral = background[0] == background[1] == background[2]
    bg = (
        np.array(
            background[:1] if colour.shape[-1] == 1 and neutral else background, dtype=np.uint32
        )
        * scale
    )
    mixed = (colour * alpha + bg * (maximum - alpha) + maximum // 2) // maximum
    if mixed.shape[-1] == 1:
        mixed = mixed[..., 0]
    hex_colour = "#{:02X}{:02X}{:02X}".format(*background)
    return mixed.astype(array.dtype), f"alpha channel composited onto background {hex_colour}"
