"""How a legal codestream is described in DICOM, and the picture that wraps it unchanged."""

from __future__ import annotations

from dicomize.dicom.icc import srgb_profile
from dicomize.picture import Picture, compression_ratio

__all__ = ["Passthrough"]


class Passthrough:
    """How a legal codestream is described in DICOM."""

    __slots__ = (
        "bits_allocated",
        "bits_stored",
        "lossy_method",
        "photometric_interpretation",
        "pixel_representation",
        "samples_per_pixel",
        "transfer_syntax",
    )

    transfer_syntax: str
    photometric_interpretation: str
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    lossy_method: str | None
    pixel_representation: int

    def __init__(
        self,
        *,
        transfer_syntax: str,
        photometric_interpretation: str,
        samples_per_pixel: int,
        bits_allocated: int,
        bits_stored: int,
        lossy_method: str | None,
        pixel_representation: int = 0,
    ) -> None:
        self.transfer_syntax = transfer_syntax
        self.photometric_interpretation = photometric_interpretation
        self.samples_per_pixel = samples_per_pixel
        self.bits_allocated = bits_allocated
        self.bits_stored = bits_stored
        self.lossy_method = lossy_method
        self.pixel_representation = pixel_representation

    def picture(
        self,
        stream: bytes,
        *,
        rows: int,
        columns: int,
        icc: bytes | None,
        notes: tuple[str, ...],
        source_format: str,
    ) -> Picture:
        """Describe `stream`, a codestream this passthrough decision is about, stored unchanged."""
        lossy: tuple[tuple[str | None, float | None], ...] = ()
        if self.lossy_method is not None:
            ratio = compression_ratio(
                rows=rows,
                columns=columns,
                samples_per_pixel=self.samples_per_pixel,
                bits_allocated=self.bits_allocated,
                compressed=len(stream),
            )
            lossy = ((self.lossy_method, ratio),)
        colour = self.samples_per_pixel == 3
        return Picture(
            pixels=stream,
            rows=rows,
            columns=columns,
            samples_per_pixel=self.samples_per_pixel,
            photometric_interpretation=self.photometric_interpretation,
            bits_allocated=self.bits_allocated,
            bits_stored=self.bits_stored,
            pixel_representation=self.pixel_representation,
            icc_profile=(icc or srgb_profile()) if colour else None,
            derivation=notes,
            lossy=lossy,
            source_format=source_format,
            transfer_syntax=self.transfer_syntax,
        )
