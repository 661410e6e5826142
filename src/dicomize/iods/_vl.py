"""What the VL Image IODs share (PS3.3 C.8.12.1): visible-light pictures taken by a device.

VL Photographic, Endoscopic and Microscopic Images and Dermoscopic Photography
have no SC Equipment: General Equipment names the device (Manufacturer, Type 2)
and Acquisition Context is Type 2. Their pixels are one frame of unsigned 8-bit
samples in the Photometric Interpretations of C.8.12.1.1.1, and a lossy JPEG
must be YBR_FULL_422: an RGB-coded one is decoded and stored losslessly instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from dicomize.build import PictureRules
from dicomize.dicom.uids import JPEG_BASELINE_PROCESS_1, JPEG_EXTENDED_PROCESS_2_4
from dicomize.errors import MetadataError, UnsupportedInput
from dicomize.iods import IOD
from dicomize.picture import Picture

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["VisibleLight"]

#: C.8.12.1.1.1: the VL pixels.
_PHOTOMETRIC = frozenset({"MONOCHROME2", "RGB", "YBR_FULL_422", "YBR_RCT", "YBR_ICT"})
#: The Specimen module's Type 1 attributes (C.7.6.22): giving any of the module makes
#: them required.
_SPECIMEN_REQUIRED = ("ContainerIdentifier", "SpecimenDescriptionSequence")
_SPECIMEN = (*_SPECIMEN_REQUIRED, "ContainerTypeCodeSequence", "ContainerDescription")
#: JPEG Baseline (Process 1) and Extended (Process 2 & 4): PS3.5 A.4.1.
_LOSSY_JPEG = frozenset({JPEG_BASELINE_PROCESS_1, JPEG_EXTENDED_PROCESS_2_4})


class VisibleLight(PictureRules):
    """A VL Image IOD: a device's picture, its camera record mapped."""

    exif = True

    def series(self, values: dict[str, Any], user: Mapping[str, Any]) -> None:
        """Name the device in General Equipment (Type 2) and leave Acquisition Context empty."""
        values.update(Manufacturer="", AcquisitionContextSequence=[])

    def finish(self, values: dict[str, Any]) -> None:
        """Complete a Specimen module the user began (C.7.6.22), or refuse it."""
        if not any(keyword in values for keyword in _SPECIMEN):
            return
        for keyword in _SPECIMEN_REQUIRED:
            if not values.get(keyword):
                raise MetadataError(
                    keyword,
                    None,
                    "a Specimen module needs Container Identifier and Specimen Description "
                    "Sequence (PS3.3 C.7.6.22, Type 1)",
                )
        values.setdefault("IssuerOfTheContainerIdentifierSequence", [])  # Type 2
        values.setdefault("ContainerTypeCodeSequence", [])  # Type 2

    def sop_class(self, picture: Picture, iod: IOD) -> str:
        """Take one frame of unsigned 8-bit samples in a VL Photometric Interpretation."""
        if picture.number_of_frames != 1:
            raise UnsupportedInput(f"{iod.title} is single-frame; use the SC IOD for frames")
        if picture.bits_allocated != 8 or picture.pixel_representation:  # noqa: PLR2004
            raise UnsupportedInput(f"{iod.title} holds unsigned 8-bit pixels only")
        if picture.photometric_interpretation not in _PHOTOMETRIC:
            raise UnsupportedInput(
                f"{iod.title} does not allow {picture.photometric_interpretation}"
            )
        return iod.sop_classes[0]

    def refuses(self, picture: Picture) -> str:
        """Refuse a lossy JPEG coded as RGB: VL Images take it as YBR_FULL_422 only."""
        rgb_jpeg = (
            picture.transfer_syntax in _LOSSY_JPEG and picture.photometric_interpretation == "RGB"
        )
        return (
            "the VL Image IODs take lossy JPEG as YBR_FULL_422 only (PS3.3 C.8.12.1.1.1)"
            if rgb_jpeg
            else ""
        )
