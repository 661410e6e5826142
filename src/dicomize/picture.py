"""What every reader produces: pixels laid out as DICOM native Pixel Data, and their description."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from dicomize.dicom.part10 import PixelStrips
from dicomize.dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN
from dicomize.errors import ImageTooLarge, UnsupportedInput

__all__ = [
    "MAX_DIMENSION",
    "PagesDiffer",
    "Picture",
    "check_size",
    "compression_ratio",
    "measured",
    "stack_pictures",
]

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


def compression_ratio(
    *,
    rows: int,
    columns: int,
    samples_per_pixel: int,
    bits_allocated: int,
    frames: int = 1,
    compressed: int,
) -> float:
    """Return a Lossy Image Compression Ratio on dicomize's one basis (PS3.3 C.7.6.1.1.5).

    The uncompressed size of the stored pixels, Rows x Columns x Samples per Pixel x
    Bits Allocated / 8 x Number of Frames, over `compressed`, the bytes of the
    compressed pixels of every frame: the same for a codestream kept as it came, a
    decoded source, a re-encoding and a video stream (its packets: not its container,
    not its audio). A multi-frame object's ratio covers all its frames.

    >>> compression_ratio(rows=480, columns=640, samples_per_pixel=3, bits_allocated=8,
    ...                   frames=10, compressed=921_600)
    10.0
    """
    uncompressed = rows * columns * samples_per_pixel * bits_allocated / 8 * frames
    return round(uncompressed / max(compressed, 1), 2)


def measured(picture: Picture, compressed: int) -> Picture:
    """Return `picture` with its source's lossy step (its first) measured over `compressed`.

    A reader that decodes a lossy source calls it with the bytes of the source's
    compressed pixels, once the stored pixels (colour, depth, frames) are known.
    """
    if not picture.lossy:
        return picture
    ratio = compression_ratio(
        rows=picture.rows,
        columns=picture.columns,
        samples_per_pixel=picture.samples_per_pixel,
        bits_allocated=picture.bits_allocated,
        frames=picture.number_of_frames,
        compressed=compressed,
    )
    return replace(picture, lossy=((picture.lossy[0][0], ratio), *picture.lossy[1:]))


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
    lossy, lossy_notes = _joined_lossy(pictures)
    return replace(
        first,
        pixels=b"" if encapsulated else b"".join(p.native() for p in pictures),
        frames=tuple(bytes(p.native()) for p in pictures) if encapsulated else (),
        number_of_frames=len(pictures),
        frame_times=frame_times,
        bilevel=all(p.bilevel for p in pictures),
        derivation=(*notes, *lossy_notes),
        lossy=lossy,
    )


def _joined_lossy(
    pictures: Sequence[Picture],
) -> tuple[tuple[tuple[str | None, float | None], ...], tuple[str, ...]]:
    """Return the lossy history of frames joined into one picture, and notes on it.

    C.7.6.1.1.5: a multi-frame object's steps cover all its frames. Frames that went
    through the same steps make one history, each step's ratio that of all the frames:
    their stored sizes are equal, so it is the harmonic mean of theirs. Frames whose
    histories differ give every method met, with no ratio (none covers all the frames),
    and Derivation Description says which frames are lossy when not all are, as the
    standard's note asks.
    """
    histories = [picture.lossy for picture in pictures]
    methods = {tuple(method for method, _ in history) for history in histories}
    if len(methods) == 1:
        steps = []
        for index, method in enumerate(next(iter(methods))):
            ratios = [history[index][1] for history in histories]
            known = [ratio for ratio in ratios if ratio is not None]
            steps.append(
                (method, round(len(known) / sum(1 / r for r in known), 2))
                if len(known) == len(ratios) and all(known)
                else (method, None)
            )
        return tuple(steps), ()
    union = dict.fromkeys(method for history in histories for method, _ in history)
    lossy_frames = [str(number) for number, history in enumerate(histories, 1) if history]
    notes: tuple[str, ...] = ()
    if len(lossy_frames) < len(pictures):
        notes = (f"frames {', '.join(lossy_frames)} of {len(pictures)} were compressed lossily",)
    return tuple((method, None) for method in union), notes


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
