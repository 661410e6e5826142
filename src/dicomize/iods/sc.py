"""Secondary Capture Image and its four multi-frame kin (PS3.3 A.8.1-A.8.5).

The converting device is dicomize (SC Equipment, C.8.6.1) and the date of the
capture is the conversion's (SC Image, C.8.6.2). The SOP Class follows the pixels:
one frame is Secondary Capture, the least constrained; several frames are Single
Bit for bilevel pages stored natively, Grayscale Byte or Word by depth, True Color
for 8-bit colour.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

from dicomize._version import __version__
from dicomize.build import PictureRules, rescale_attributes
from dicomize.dicom.part10 import PixelStrips
from dicomize.dicom.uids import (
    MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    NATIVE_SYNTAXES,
    SECONDARY_CAPTURE_IMAGE_STORAGE,
)
from dicomize.errors import UnsupportedInput
from dicomize.iods import IOD
from dicomize.picture import Picture

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_CONVERSION_TYPE", "RULES", "SecondaryCapture"]

#: C.8.6.1 "DI" (Digital Interface): the picture arrived as a digital file.
DEFAULT_CONVERSION_TYPE = "DI"
#: C.8.6.1 Conversion Types of a scan: digitized film, scanned document, scanned image.
_SCANNED = frozenset({"DF", "SD", "SI"})
_GRAYSCALE = (
    MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
)


class SecondaryCapture(PictureRules):
    """The Secondary Capture IODs: dicomize is the capturing device."""

    def series(self, values: dict[str, Any], user: Mapping[str, Any]) -> None:
        """Name dicomize as the converting device, and the conversion as the capture."""
        values.update(
            # SC Equipment (C.8.6.1)
            ConversionType=DEFAULT_CONVERSION_TYPE,
            SecondaryCaptureDeviceManufacturer="dicomize",
            SecondaryCaptureDeviceManufacturerModelName="dicomize",
            SecondaryCaptureDeviceSoftwareVersions=__version__,
            # SC Image (C.8.6.2)
            DateOfSecondaryCapture=values["ContentDate"],
            TimeOfSecondaryCapture=values["ContentTime"],
        )

    def sop_class(self, picture: Picture, iod: IOD) -> str:
        """Choose the SC IOD the pixels need.

        Raises
        ------
        UnsupportedInput
            For several frames of 16-bit colour (True Color is 8-bit only).
        """
        if picture.number_of_frames == 1:
            return SECONDARY_CAPTURE_IMAGE_STORAGE
        if picture.samples_per_pixel == 3:  # noqa: PLR2004
            if picture.bits_allocated != 8:  # noqa: PLR2004
                raise UnsupportedInput(
                    "several frames of 16-bit colour have no multi-frame SC IOD (True Color "
                    "is 8-bit); convert the frames one by one"
                )
            return MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE
        if picture.bilevel and picture.transfer_syntax in NATIVE_SYNTAXES:
            return MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE
        return _GRAYSCALE[picture.bits_allocated != 8]  # noqa: PLR2004

    def instance(self, values: dict[str, Any], picture: Picture, sop_class: str) -> Picture:
        """Describe several frames and a scan's pixel spacing; pack bilevel pages to one bit."""
        values.update(_scanned_spacing(picture, values, sop_class))
        if sop_class == SECONDARY_CAPTURE_IMAGE_STORAGE:
            return picture
        values.update(_multiframe_attributes(picture, sop_class))
        if sop_class == MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE:
            return _pack_bits(picture)
        return picture


#: What the ``sc`` row's ``rules`` names.
RULES = SecondaryCapture()


def _scanned_spacing(picture: Picture, values: Mapping[str, Any], sop_class: str) -> dict[str, Any]:
    """Nominal Scanned Pixel Spacing (C.8.6.2, C.8.6.3) from the resolution the source records.

    Only for a scan (Conversion Type DF, SD or SI: the user says the picture was scanned,
    so its recorded resolution is the scanner's) or a page rendered from a PDF (its
    --dpi). A photo's or a screenshot's DPI is a writer's default, not a pixel's size
    on anything, so it is never written for them. A user's own value stands.

    Rendered pages are WSD, and the SC Multi-frame Image module (C.8.6.3) makes the
    attribute 1C on DF, SD or SI, which dciodvfy reads as absent otherwise: several
    rendered pages carry it only when the user calls them scanned.
    """
    dpi = picture.dpi
    if dpi is None or "NominalScannedPixelSpacing" in values:
        return {}
    scanned = values.get("ConversionType") in _SCANNED
    rendered = picture.source_format == "PDF" and sop_class == SECONDARY_CAPTURE_IMAGE_STORAGE
    if not (scanned or rendered):
        return {}
    across, down = dpi
    # Row spacing (between rows, down the picture), then column spacing; 25.4 mm an inch.
    return {"NominalScannedPixelSpacing": [_ds(25.4 / down), _ds(25.4 / across)]}


def _ds(value: float) -> str:
    """Return `value` as a Decimal String of at most 16 characters (PS3.5 6.2)."""
    text = f"{value:.12g}"
    return text if len(text) <= 16 else f"{value:.9e}"  # noqa: PLR2004


def _multiframe_attributes(picture: Picture, sop_class: str) -> dict[str, Any]:
    # Multi-frame (C.7.6.6), Cine (C.7.6.5), SC Multi-frame Image (C.8.6.3) and
    # SC Multi-frame Vector (C.8.6.4).
    out: dict[str, Any] = {"NumberOfFrames": str(picture.number_of_frames)}
    if picture.number_of_frames > 1:
        times = picture.frame_times
        if times and len(set(times)) == 1:
            out["FrameTime"] = f"{times[0]:.10g}"
            out["FrameIncrementPointer"] = 0x00181063
        elif times:
            # The first frame has no increment; then each frame follows the previous one's time.
            out["FrameTimeVector"] = ["0", *(f"{t:.10g}" for t in times[:-1])]
            out["FrameIncrementPointer"] = 0x00181065
        else:
            out["PageNumberVector"] = [str(page) for page in range(1, picture.number_of_frames + 1)]
            out["FrameIncrementPointer"] = 0x00182001
    if sop_class in _GRAYSCALE:
        # C.8.6.3: required for MONOCHROME2 with Bits Stored > 1; Byte needs 0 and 1.
        out.update(rescale_attributes(picture), PresentationLUTShape="IDENTITY")
    return out


def _pack_bits(picture: Picture) -> Picture:
    import numpy as np

    # PS3.5 8.1.1 / D: 8 pixels per byte, the first in the least significant bit, frames
    # concatenated without padding.
    source = picture.pixels
    if isinstance(source, PixelStrips):
        # Pages made as they are written stay that way: a frame need not end on a byte,
        # so the bits left over from one strip open the next.
        def packed() -> Iterator[bytes]:
            carry = np.empty(0, bool)
            for strip in source.strips():
                bits = np.concatenate((carry, np.frombuffer(strip, np.uint8) > 0))
                whole = len(bits) - len(bits) % 8
                yield np.packbits(bits[:whole], bitorder="little").tobytes()
                carry = bits[whole:]
            if len(carry):
                yield np.packbits(carry, bitorder="little").tobytes()

        count = picture.rows * picture.columns * picture.number_of_frames
        pixels: bytes | PixelStrips = PixelStrips((count + 7) // 8, packed)
    else:
        ink = np.frombuffer(picture.native(), np.uint8) > 0
        pixels = np.packbits(ink, bitorder="little").tobytes()
    return replace(picture, pixels=pixels, bits_allocated=1, bits_stored=1, icc_profile=None)
