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
    transfer_syntax : str
        Transfer syntax for decoded pictures, by name (``"jpeg-ls-lossless"``,
        see :data:`dicomize.encode.TRANSFER_SYNTAXES`) or UID. Passed-through
        codestreams keep their own.
    jpeg_quality : int
        Quality 1-100 of baseline JPEG output.
    jpegls_error : int
        Largest error per sample (NEAR) of near-lossless JPEG-LS output.
    j2k_ratio : float
        Compression ratio of lossy JPEG 2000 output.
    uid_seed : str or None
        Derive every generated UID from this seed and the content, so the
        same conversion run again gives the same UIDs (a PACS then sees the
        same instances, not duplicates). None makes new UIDs each time.
    series_per_input : bool
        Give each input its own series instead of one series for all.
    iod : str
        ``"sc"`` (Secondary Capture, multi-frame SC chosen by the pixels) or
        ``"vl-photo"`` (VL Photographic Image, for clinical photographs).
    keep_gps : bool
        With ``"vl-photo"``, copy the EXIF GPS position (VL Photographic
        Geolocation). Off by default: a position can identify a patient's home.
    """

    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = DEFAULT_MAX_PIXELS
    uid_root: str | None = None
    passthrough: bool = True
    keep_jpeg_metadata: bool = False
    transfer_syntax: str = "1.2.840.10008.1.2.1"
    jpeg_quality: int = 90
    jpegls_error: int = 2
    j2k_ratio: float = 10.0
    uid_seed: str | None = None
    series_per_input: bool = False
    iod: str = "sc"
    keep_gps: bool = False

    def __post_init__(self) -> None:
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):  # noqa: PLR2004
            raise ValueError(f"background must be three values 0-255, got {self.background!r}")
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be positive")
        if self.uid_root is not None:
            object.__setattr__(self, "uid_root", check_uid_root(self.uid_root))
        if not 1 <= self.jpeg_quality <= 100:  # noqa: PLR2004
            raise ValueError("jpeg_quality must be 1 to 100")
        if not 1 <= self.jpegls_error <= 255:  # noqa: PLR2004
            raise ValueError("jpegls_error (NEAR) must be 1 to 255; 0 is lossless JPEG-LS")
        if self.iod not in {"sc", "vl-photo"}:
            raise ValueError(f"iod must be 'sc' or 'vl-photo', got {self.iod!r}")
        if self.uid_seed is not None and not self.uid_seed:
            raise ValueError("uid_seed must not be empty")
        if not self.j2k_ratio > 1:
            raise ValueError("j2k_ratio must be greater than 1")
        from dicomize.encode import resolve_transfer_syntax  # noqa: PLC0415

        object.__setattr__(self, "transfer_syntax", resolve_transfer_syntax(self.transfer_syntax))
