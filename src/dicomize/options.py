"""The options of a conversion, one frozen object for every input of a call."""

from __future__ import annotations

import dataclasses

from dicomize.uids import check_uid_root

__all__ = ["DEFAULT_MAX_PIXELS", "ConvertOptions"]

#: Default decompression-bomb guard: 150 megapixels (a 6000x4000 photo is 24).
DEFAULT_MAX_PIXELS = 150_000_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvertOptions:
    """How pictures are read, encoded and identified.

    Parameters
    ----------
    background : tuple of int
        8-bit RGB colour that transparent pixels are composited onto (white).
    max_pixels : int
        Refuse pictures with more pixels (decompression-bomb guard).
    uid_root : str or None
        Organisation UID root for new UIDs; None gives ``2.25.<uuid>`` UIDs.
    passthrough : bool
        Store compressed inputs (JPEG) as they are when DICOM allows it,
        instead of decoding them.
    keep_jpeg_metadata : bool
        Keep EXIF, XMP, IPTC and comment segments in a passed-through JPEG.
        Off by default: they can hold GPS positions, serial numbers and names.
    """

    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = DEFAULT_MAX_PIXELS
    uid_root: str | None = None
    passthrough: bool = True
    keep_jpeg_metadata: bool = False

    def __post_init__(self) -> None:
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):  # noqa: PLR2004
            raise ValueError(f"background must be three values 0-255, got {self.background!r}")
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be positive")
        if self.uid_root is not None:
            object.__setattr__(self, "uid_root", check_uid_root(self.uid_root))
