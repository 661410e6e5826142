r"""Ophthalmic Photography 8 Bit and 16 Bit Images (PS3.3 A.41, A.42): photographs of the eye.

Modality OP (C.8.17.1). The pixels pick the SOP Class: 8/8/7 is 8 Bit, 16/16/15 is
16 Bit (A.41.4.1, A.42.4.1); other depths are refused. The IOD is multi-frame even
for one frame (Multi-frame, C.7.6.6: Number of Frames 1, Frame Increment Pointer to
a Frame Time of 0, as C.7.6.5.1.1 allows for one frame) and has a Synchronization
module (C.7.4.2: a Synchronization Frame of Reference per series, no trigger).
Image Type is ORIGINAL\\PRIMARY: DERIVED would need the source image referenced
(C.8.17.2.1.4), which a converter does not have; ORIGINAL then needs when the
photograph was taken (Acquisition DateTime, 1C), from the camera's EXIF or the user.

What only the user knows is asked, not invented: the eye (Image Laterality R, L or
B, Type 1: ``--laterality``) and the acquiring device (Acquisition Device Type Code
Sequence, Type 1, CID 4202: a code item in ``--metadata`` JSON or the API). The
region defaults to the eye (CID 4209 "Eye"); the other Type 2 acquisition and
photographic parameters are written empty (C.8.17.3, C.8.17.4).
"""

from __future__ import annotations

from collections.abc import Mapping

from dicomize.build import code_item
from dicomize.errors import MetadataError, UnsupportedInput
from dicomize.iods import IOD
from dicomize.iods._vl import VisibleLight
from dicomize.picture import Picture

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RULES", "OphthalmicPhotography"]

#: C.8.17.2 (and the VL pixels it shares, C.8.12.1.1.1): YBR_PARTIAL_420 is MPEG-2 only.
_PHOTOMETRIC = frozenset({"MONOCHROME2", "RGB", "YBR_FULL_422", "YBR_RCT", "YBR_ICT"})
#: The 8 Bit and 16 Bit SOP Classes, by Bits Allocated (their rows' order).
_DEPTHS = (8, 16)
#: CID 4209 Ophthalmic Anatomic Structure Imaged: the eye (or both), when the user names
#: no part.
_EYE = ("81745001", "SCT", "Eye")
_BOTH_EYES = ("40638003", "SCT", "Both eyes")
#: Some of CID 4202 Ophthalmic Image Acquisition Device, for the message that asks for one.
_DEVICES = "409898007 Fundus Camera, 397247004 Slit Lamp Biomicroscope, 409903006 External Camera"
_FRAME_TIME = 0x00181063
#: C.8.17.3, C.8.17.4: Type 2, empty when not known.
_EMPTY = {
    "PatientEyeMovementCommanded": "",
    "HorizontalFieldOfView": "",
    "RefractiveStateSequence": [],
    "EmmetropicMagnification": "",
    "IntraOcularPressure": "",
    "PupilDilated": "",
    "IlluminationTypeCodeSequence": [],
    "LightPathFilterTypeStackCodeSequence": [],
    "ImagePathFilterTypeStackCodeSequence": [],
    "LensesCodeSequence": [],
    "DetectorType": "",
}


class OphthalmicPhotography(VisibleLight):
    """Ophthalmic Photography: the eye and the device from the user, the rest from the pixels."""

    # C.7.4.2: one Synchronization Frame of Reference per series, made like the Series UID.
    series_uids = ("SynchronizationFrameOfReferenceUID",)

    def series(self, values: dict[str, Any], user: Mapping[str, Any]) -> None:
        """Write the Synchronization module, the eye as region, and the Type 2 parameters."""
        super().series(values, user)
        del values["AcquisitionContextSequence"]  # its module is U here (A.41, A.42)
        values["ImageType"] = self.image_type(camera=True)
        values["SynchronizationTrigger"] = "NO TRIGGER"
        values["AcquisitionTimeSynchronized"] = "N"
        values["AnatomicRegionSequence"] = [code_item(*_EYE)]
        values.update(_EMPTY)

    def finish(self, values: dict[str, Any]) -> None:
        """Refuse a series without the eye or the device; complete what settings require."""
        super().finish(values)
        if values.get("ImageLaterality") not in {"R", "L", "B"}:
            raise MetadataError(
                "ImageLaterality",
                values.get("ImageLaterality") or None,
                "Ophthalmic Photography needs the eye imaged: Image Laterality R, L or B "
                "(PS3.3 C.8.17.5, Type 1)",
                option="laterality",
            )
        if not values.get("AcquisitionDeviceTypeCodeSequence"):
            raise MetadataError(
                "AcquisitionDeviceTypeCodeSequence",
                None,
                "Ophthalmic Photography needs the acquiring device (PS3.3 C.8.17.3, Type 1, "
                f"a code of CID 4202 such as {_DEVICES})",
                option="metadata",
            )
        region = _codes(values["AnatomicRegionSequence"])
        if values["ImageLaterality"] == "B" and region == [_EYE[0]]:
            values["AnatomicRegionSequence"] = [code_item(*_BOTH_EYES)]
        elif not set(region) <= _structures():
            raise MetadataError(
                "AnatomicRegionSequence",
                region,
                "Ophthalmic Photography's region is a structure of the eye (PS3.3 C.8.17.5, "
                "CID 4209), such as 81745001^SCT^Eye or 5665001^SCT^Retina",
            )
        _check_given(values)

    def image_type(self, *, camera: bool) -> list[str]:
        r"""Return ORIGINAL\\PRIMARY: DERIVED would need its source image referenced."""
        return ["ORIGINAL", "PRIMARY"]

    def sop_class(self, picture: Picture, iod: IOD) -> str:
        """Take one frame, 8/8/7 or 16/16/15 unsigned, in a VL Photometric Interpretation."""
        if picture.number_of_frames != 1:
            raise UnsupportedInput(
                f"{iod.title}: dicomize stores one frame per object; give the frames as "
                "pictures of their own"
            )
        if picture.pixel_representation or picture.bits_allocated not in _DEPTHS:
            raise UnsupportedInput(f"{iod.title} holds unsigned 8- or 16-bit pixels only")
        if picture.bits_stored != picture.bits_allocated:
            raise UnsupportedInput(
                f"{iod.title} {picture.bits_allocated} Bit needs all {picture.bits_allocated} "
                f"bits stored, not {picture.bits_stored} (PS3.3 A.41.4.1, A.42.4.1)"
            )
        if picture.photometric_interpretation not in _PHOTOMETRIC:
            raise UnsupportedInput(
                f"{iod.title} does not allow {picture.photometric_interpretation}"
            )
        return iod.sop_classes[_DEPTHS.index(picture.bits_allocated)]

    def instance(self, values: dict[str, Any], picture: Picture, sop_class: str) -> Picture:
        """Describe the one frame; refuse an ORIGINAL image without its acquisition time."""
        values.update(NumberOfFrames="1", FrameIncrementPointer=_FRAME_TIME, FrameTime="0")
        if picture.photometric_interpretation == "MONOCHROME2":
            values["PresentationLUTShape"] = "IDENTITY"  # C.8.17.2, 1C
        if values["ImageType"][0] == "ORIGINAL" and not values.get("AcquisitionDateTime"):
            raise MetadataError(
                "AcquisitionDateTime",
                None,
                "Ophthalmic Photography needs when the photograph was taken (PS3.3 C.8.17.2, "
                "Type 1C for ORIGINAL images) and the picture's EXIF has no date",
                option="acquired",
            )
        return picture


def _structures() -> frozenset[str]:
    """Return the code values of CID 4209 Ophthalmic Anatomic Structure Imaged (SNOMED CT)."""
    from pydicom.sr.codedict import codes  # the DICOM code tables: only to check a region

    group = codes.cid4209
    return frozenset(str(getattr(group, name).value) for name in group.dir())


def _codes(items: Any) -> list[str]:  # noqa: ANN401  (a pydicom Sequence or items)
    return [str(item.get("CodeValue", "")) for item in items]


def _check_given(values: dict[str, Any]) -> None:
    """Complete the 2C attributes a user's setting requires; refuse what cannot be."""
    image_type = values.get("ImageType") or ["ORIGINAL"]
    if str(image_type[0]) == "DERIVED" or values.get("SourceImageSequence"):
        # C.8.17.2.1.4: a DERIVED image names its kind (MONTAGE, ...) and its sources, with
        # their purpose; a converted photograph has neither.
        raise MetadataError(
            "ImageType" if str(image_type[0]) == "DERIVED" else "SourceImageSequence",
            None,
            "Ophthalmic Photography from dicomize is the camera's ORIGINAL image; a derived "
            "one (a montage) needs its source images and their purpose (PS3.3 C.8.17.2)",
        )
    if values.get("PupilDilated") == "YES":
        values.setdefault("MydriaticAgentSequence", [])  # C.8.17.4, Type 2C
        values.setdefault("DegreeOfDilation", "")
    if values.get("PatientEyeMovementCommanded") == "YES" and not values.get(
        "PatientEyeMovementCommandCodeSequence"
    ):
        raise MetadataError(
            "PatientEyeMovementCommandCodeSequence",
            None,
            "required when Patient Eye Movement Commanded is YES (PS3.3 C.8.17.4, Type 1C)",
        )


#: What the ``ophthalmic`` row's ``rules`` names.
RULES = OphthalmicPhotography()
