"""What every reader produces: pixels laid out as DICOM native Pixel Data, and their description."""

from __future__ import annotations

import dataclasses

__all__ = ["Picture"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Picture:
    """Decoded pixels and the facts about them that the Image Pixel module records.

    For native transfer syntaxes `pixels` is in DICOM native layout (PS3.5
    8.1.1): rows top to bottom, samples interleaved (Planar Configuration 0),
    little-endian 16-bit words. It may be a ``memoryview`` onto a caller's
    array, so a conversion of a large array does not copy it. For encapsulated
    transfer syntaxes it is the frame's codestream.
    """

    pixels: bytes | memoryview
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
    #: syntax, `pixels` is the one frame's codestream.
    transfer_syntax: str = "1.2.840.10008.1.2.1"
