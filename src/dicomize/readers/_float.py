"""Floating-point pixels stored as 16-bit integers, and PFM files read exactly.

The picture IODs hold integer pixels only (PS3.3 C.7.6.3). Grayscale floats are
stored as unsigned 16-bit integers with a Modality LUT (PS3.3 C.11.1): the lowest
value is stored as 0, the highest as at most 65535, and Rescale Slope (the
quantisation step) and Rescale Intercept give every value back within half a
step. Both are chosen first, as decimals that Decimal String (DS, 16 characters)
writes exactly, and the pixels are quantised with exactly those values, so the
promise holds for what a viewer reads, not for numbers dicomize kept to itself.

Colour has no Modality LUT: the pixel pipeline applies one only to grayscale
(PS3.4 N.2), and a rescale beside RGB pixels would be ignored or misread. Colour
floats are therefore mapped linearly to 16-bit RGB, one scale for all three
samples so that hues keep their ratios, over a range that contains 0 to 1 (what
float colour pictures show as black to white); the mapping is written in
Derivation Description.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from dicomize.errors import CorruptImage, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size, stack_pictures
from dicomize.readers._array import picture_from_array

__all__ = ["float_picture", "read"]

#: The largest unsigned 16-bit value: stored values run from 0 to this.
_TOP = 65535
#: DS holds 16 characters (PS3.5 6.2); ``f"{x:.10g}"`` is what dicomize writes.
_DS_CHARACTERS = 16
_RGB = 3
#: PFM header: "PF" (RGB) or "Pf" (gray), width, height, scale, one whitespace byte.
_PFM_HEADER = re.compile(
    rb"P([Ff])\s+(\d{1,9})\s+(\d{1,9})\s+([-+]?[0-9.]{1,40}(?:[eE][-+]?\d{1,4})?)\s"
)


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:  # noqa: ARG001
    """Decode a Portable Float Map (``PF`` RGB or ``Pf`` gray, 32-bit floats).

    Pillow reads only the gray kind; the format is simple enough to read exactly:
    a negative scale means little-endian samples, and rows run bottom to top.

    Raises
    ------
    CorruptImage
        When the header is damaged or the pixels are cut short.
    UnsupportedInput
        When a sample is NaN or infinite.
    """
    data = source if isinstance(source, bytes) else source.read()
    header = _PFM_HEADER.match(data)
    if header is None:
        raise CorruptImage("PFM header is damaged or incomplete")
    kind, width, height, scale_text = header.groups()
    columns, rows = int(width), int(height)
    check_size(columns, rows, options.max_pixels)
    try:
        scale = float(scale_text)
    except ValueError:
        raise CorruptImage("PFM scale is not a number") from None
    if scale == 0 or not math.isfinite(scale):
        raise CorruptImage("PFM scale must be a non-zero number (its sign gives the byte order)")
    samples = _RGB if kind == b"F" else 1
    size = rows * columns * samples * 4
    body = data[header.end() : header.end() + size]
    if len(body) < size:
        raise CorruptImage("PFM pixel data is truncated")
    array = np.frombuffer(body, "<f4" if scale < 0 else ">f4")
    shape = (rows, columns, samples) if samples == _RGB else (rows, columns)
    return float_picture([array.reshape(shape)[::-1]], source_format="PFM")


def float_picture(
    frames: Sequence[npt.NDArray[Any]],
    *,
    source_format: str,
    derivation: tuple[str, ...] = (),
    icc_profile: bytes | None = None,
) -> Picture:
    """Store floating-point frames as 16-bit integers that keep their values.

    One scale serves every frame, so a multi-frame object has one rescale.

    Parameters
    ----------
    frames : sequence of numpy.ndarray
        Floating-point frames of one shape: ``(rows, columns)`` gray or
        ``(rows, columns, 3)`` RGB.
    source_format : str
        The format's name, for Derivation Description and messages.
    derivation : tuple of str
        Notes on what was already done to the pixels.
    icc_profile : bytes or None
        The colour profile of RGB frames (None: sRGB).

    Returns
    -------
    Picture
        Gray: MONOCHROME2, 16 bits, with ``rescale_slope`` and ``rescale_intercept``
        so that ``stored * slope + intercept`` is within ``slope / 2`` of the source.
        RGB: 16-bit RGB, the linear mapping stated in Derivation Description.

    Raises
    ------
    UnsupportedInput
        For NaN or infinite samples, alpha channels, or other sample counts.

    Examples
    --------
    >>> picture = float_picture([np.array([[-1.5, 0.25], [2.0, 0.0]])], source_format="array")
    >>> picture.bits_stored, picture.rescale_slope, picture.rescale_intercept
    (16, 5.340657664e-05, -1.5)
    """
    colour = frames[0].ndim == 3 and frames[0].shape[2] == _RGB
    if not colour and frames[0].ndim != 2:
        samples = frames[0].shape[2] if frames[0].ndim == 3 else "several"
        raise UnsupportedInput(
            f"floating-point {source_format} pixels with {samples} samples are not supported "
            "(gray or RGB only; an alpha channel has no place in the stored integers)"
        )
    low, high = math.inf, -math.inf
    for frame in frames:
        if not np.isfinite(frame).all():
            raise UnsupportedInput(
                f"{source_format} pixels include NaN or infinity, which no stored integer "
                "and rescale can stand for"
            )
        low, high = min(low, float(frame.min())), max(high, float(frame.max()))
    # Colour's range always holds 0 to 1, what float colour shows as black to white: a
    # picture within it keeps black at 0 and white at 65535.
    bounds = (min(low, 0.0), max(high, 1.0)) if colour else (low, high)
    slope, intercept = _rescale(*bounds, source_format)
    if colour:
        sign = "-" if intercept < 0 else "+"
        note = (
            f"floating-point RGB samples (lowest {low:.7g}, highest {high:.7g}) mapped "
            f"linearly to 16 bits: value = stored * {slope:.10g} {sign} {abs(intercept):.10g}, "
            "within half a step (colour has no Modality LUT, PS3.4 N.2)"
        )
    elif slope == 1 and low == high:
        note = f"constant floating-point picture ({low:.10g}) stored as 0 with Rescale Intercept"
    else:
        note = (
            f"floating-point pixels (lowest {low:.7g}, highest {high:.7g}) stored as 16-bit "
            "integers: value = stored * Rescale Slope + Rescale Intercept, within half the "
            f"quantisation step {slope:.10g} (the slope)"
        )
    pictures = []
    for frame in frames:
        picture = picture_from_array(
            _quantise(frame, slope, intercept),
            icc_profile=icc_profile,
            derivation=(*derivation, note),
            source_format=source_format,
        )
        if not colour:
            # Each frame carries the rescale: pages that cannot be joined (they differ in
            # size) become objects of their own, each keeping its values.
            picture = replace(picture, rescale_slope=slope, rescale_intercept=intercept)
        pictures.append(picture)
    return pictures[0] if len(pictures) == 1 else stack_pictures(pictures, None)


def _rescale(low: float, high: float, source_format: str) -> tuple[float, float]:
    """Choose Rescale Slope and Intercept that cover `low` to `high` in 0 to 65535.

    The intercept is rounded down and the slope up, so the lowest value is stored as
    0 or more and the highest as 65535 or less: no value is clipped.
    """
    if low == high:  # one value: nothing to divide, the intercept is the value
        return 1.0, _decimal(low, ROUND_HALF_EVEN)
    intercept = _decimal(low, ROUND_FLOOR)
    span = high - intercept
    if not math.isfinite(span):
        raise UnsupportedInput(
            f"{source_format} pixel values span more than double precision can subtract"
        )
    slope = _decimal(span / _TOP, ROUND_CEILING)
    return (slope if slope > 0 else 1.0), intercept


def _decimal(value: float, rounding: str) -> float:
    """Round `value` (in the direction `rounding`) to a number DS writes exactly."""
    for digits in (10, 9, 8):  # a three-digit exponent leaves room for fewer digits
        rounded = float(Context(prec=digits, rounding=rounding).plus(Decimal(value)))
        text = f"{rounded:.10g}"
        if len(text) <= _DS_CHARACTERS and float(text) == rounded:
            return rounded
    return round(value)  # pragma: no cover - every finite double fits in 8 digits


def _quantise(frame: npt.NDArray[Any], slope: float, intercept: float) -> npt.NDArray[np.uint16]:
    work = frame.astype(np.float64)
    work -= intercept
    work /= slope
    np.rint(work, out=work)
    # Directed rounding of slope and intercept keeps values in range; the clip
    # only absorbs the last bit of the double arithmetic.
    np.clip(work, 0, _TOP, out=work)
    return work.astype(np.uint16)
