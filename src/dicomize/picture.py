"""What every reader produces: pixels laid out as DICOM native Pixel Data, and their description."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from dicomize.dicom.part10 import PixelStrips
from dicomize.dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN
from dicomize.errors import ImageTooLarge, UnsupportedInput

__all__ = ["MAX_DIMENSION", "PagesDiffer", "Picture", "check_size", "stack_pictures"]

#: Rows and Columns are US (PS3.3 C.7.6.3).
MAX_DIMENSION = 65535


def check_size(columns: int, rows: int, max_pixels: int | None, *, frames: int = 1) -> None:
    """Refuse a picture beyond the pixel limit, or with rows or columns DICOM cannot hold.

    Every reader calls this as soon as the size is known, before decoding: the
    limit guards against decompression bombs. None means no limit (an array in
    memory already).

    >>> check_size(6000, 4000, 1000)
    Traceback (most recent call last):
    ...
    dicomize.errors.ImageTooLarge: 6000x4000 pixels exceeds the limit of 1000 pixels

    Raises
    ------
    ImageTooLarge
        When ``columns * rows * frames`` exceeds `max_pixels`.
    UnsupportedInput
        When rows or columns are outside 1 to 65535.
    """
    if max_pixels is not None and columns * rows * frames > max_pixels:
        size = f"{frames} frames of {columns}x{rows}" if frames > 1 else f"{columns}x{rows}"
        raise ImageTooLarge(f"{size} pixels exceeds the limit of {max_pixels} pixels")
    if not (1 <= rows <= MAX_DIMENSION and 1 <= columns <= MAX_DIMENSION):
        raise UnsupportedInput(
            f"{columns}x{rows} pixels; DICOM rows and columns are 1 to {MAX_DIMENSION}"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Picture:
    """Decoded pixels and the facts about them that the Image Pixel module records.

    For native transfer syntaxes `pixels` is in DICOM native layout (PS3.5
    8.1.1): rows top to bottom, samples interleaved (Planar Configuration 0),
    little-endian 16-bit words. It may be a ``memoryview`` onto a caller's
    array, so a conversion of a large array does not copy it. For encapsulated
    transfer syntaxes it is the frame's codestream.
    """

    pixels: bytes | memoryview | PixelStrips
    rows: int
    columns: int
    samples_per_pixel: int
    photometric_interpretation: str
    bits_allocated: int
    bits_stored: int
    pixel_representation: int = 0
    #: ICC profile (Input class, RGB data colour space) for colour pixels, else None.
    icc_profile: bytes | None = None
    #: Human-readable notes on what was done to the source pixels (Derivation Description).
    derivation: tuple[str, ...] = ()
    #: Lossy compression steps so far, oldest first: (method defined term or None, ratio or None).
    lossy: tuple[tuple[str | None, float | None], ...] = ()
    #: Short name of the source format ("PNG", "JPEG", "array", ...).
    source_format: str = ""
    #: Explicit VR Little Endian for native pixels; for an encapsulated transfer
    #: syntax, `pixels` is the first frame's codestream and `frames` holds every frame's.
    transfer_syntax: str = EXPLICIT_VR_LITTLE_ENDIAN
    #: Frames in the picture; native frames are concatenated in `pixels`.
    number_of_frames: int = 1
    #: Each frame's codestream, when encapsulated with more than one frame.
    frames: tuple[bytes, ...] = ()
    #: How long each frame is shown, in ms (animations); None for pages or slices.
    frame_times: tuple[float, ...] | None = None
    #: Every frame was bilevel (1 bit per pixel) in the source.
    bilevel: bool = False
    #: Modality LUT (PS3.3 C.11.1): the source's value is stored x slope + intercept.
    #: Grayscale only: signed pixels stored unsigned, floating-point pixels stored as
    #: 16-bit integers (the slope is then the quantisation step).
    rescale_intercept: float = 0
    rescale_slope: float = 1
    #: The source's EXIF block, for the VL Photographic IOD (never written as it is).
    exif: bytes | None = None
    #: When the content was made, as the source records it (EXIF DateTimeOriginal, a
    #: PDF's CreationDate): aware when the source gives its UTC offset, naive when it
    #: gives none; None when it records no time. Content Date and Time say it.
    created: dt.datetime | None = None
    #: Pixels per inch across and down, as the source records them in real units (PNG
    #: pHYs in metres, JFIF or TIFF in inches or cm; a rendered page's --dpi); None when
    #: it records none, or only an aspect ratio. What Nominal Scanned Pixel Spacing says.
    dpi: tuple[float, float] | None = None

    @property
    def codestreams(self) -> tuple[bytes, ...]:
        """The codestream of every frame (encapsulated transfer syntaxes only)."""
        return self.frames or (bytes(self.native()),)

    def native(self) -> bytes | memoryview:
        """Return the native pixels (or first codestream) in one buffer."""
        pixels = self.pixels
        return pixels.materialize() if isinstance(pixels, PixelStrips) else pixels


class PagesDiffer(UnsupportedInput):
    """Pictures that cannot be one multi-frame picture: they differ in size.

    A multi-page document whose pages differ becomes one object per page
    (:class:`dicomize.objectset.ObjectSet`); frames to be joined are refused.
    """

    def __init__(self, message: str, *, pages: tuple[Picture, ...]) -> None:
        super().__init__(message)
        #: Each page as its own picture, in order.
        self.pages = pages

    def with_source(self, source: str | os.PathLike[str]) -> PagesDiffer:
        """Return a copy of this error that names `source` as the input."""
        named = PagesDiffer(self.message, pages=self.pages)
        named.source = str(source)
        return named


def stack_pictures(pictures: Sequence[Picture], frame_times: tuple[float, ...] | None) -> Picture:
    """Join single-frame pictures that agree in size and layout into one multi-frame picture.

    Raises
    ------
    UnsupportedInput
        When a frame differs from the first in size, samples, bits, encoding or rescale.
    """
    first = pictures[0]
    for index, other in enumerate(pictures[1:], start=2):
        if (other.rows, other.columns) != (first.rows, first.columns):
            raise PagesDiffer(
                f"frame {index} is {other.columns}x{other.rows} but frame 1 is "
                f"{first.columns}x{first.rows}; frames must agree in size",
                pages=tuple(pictures),
            )
        if _layout(other) != _layout(first):
            raise UnsupportedInput(
                f"frame {index} differs from frame 1 in colour, bit depth, encoding or rescale"
            )
    encapsulated = first.transfer_syntax != EXPLICIT_VR_LITTLE_ENDIAN
    notes = tuple(dict.fromkeys(note for picture in pictures for note in picture.derivation))
    return replace(
        first,
        pixels=b"" if encapsulated else b"".join(p.native() for p in pictures),
        frames=tuple(bytes(p.native()) for p in pictures) if encapsulated else (),
        number_of_frames=len(pictures),
        frame_times=frame_times,
        bilevel=all(p.bilevel for p in pictures),
        derivation=notes,
        lossy=tuple(dict.fromkeys(step for p in pictures for step in p.lossy)),
    )


def _layout(picture: Picture) -> tuple[object, ...]:
    return (
        picture.samples_per_pixel,
        picture.photometric_interpretation,
        picture.bits_allocated,
        picture.bits_stored,
        picture.pixel_representation,
        picture.transfer_syntax,
        picture.rescale_slope,
        picture.rescale_intercept,
    )
