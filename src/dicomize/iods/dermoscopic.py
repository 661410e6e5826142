"""Dermoscopic Photography Image (PS3.3 A.32.11, Supplement 221): pictures from a dermoscope.

A VL Image IOD (:mod:`dicomize.iods._vl`) with Modality DMS (C.8.12.1, CID 33
"Dermoscopy"), Enhanced General Equipment and the Dermoscopic Image module
(C.8.12.13). The dermoscope is named by Enhanced General Equipment (C.7.5.2, four
Type 1 attributes): from the camera's EXIF (Make, Model, Software) or the user;
what neither gives is written ``unknown``, as the models' equipment is, because
dicomize cannot know the device. The dermoscopy settings the module makes Type 2
(polarization, contact method, colour temperature, magnification) are written
empty unless given: they are facts of the acquisition, not of the file.

The pinned dciodvfy (20260927) checks a Frame of Reference module for this IOD,
which its template lists as U: one per series is written, derived from the series
(the lesion photos of one series share their space no more than that claim says).
"""

from __future__ import annotations

from collections.abc import Mapping

from dicomize.iods._vl import VisibleLight
from dicomize.picture import Picture

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RULES", "Dermoscopic"]

#: Enhanced General Equipment (C.7.5.2): Type 1, about the dermoscope.
_EQUIPMENT = ("Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions")
#: What is written where neither the EXIF record nor the user names the device.
_UNKNOWN = "unknown"
#: C.8.12.13: Type 2, empty when not known.
_EMPTY = {
    "LightSourcePolarization": "",
    "EmitterColorTemperature": "",
    "ContactMethod": "",
    "OpticalMagnificationFactor": "",
}


class Dermoscopic(VisibleLight):
    """Dermoscopic Photography: a VL Image, its dermoscope named, its settings as given."""

    def series(self, values: dict[str, Any], user: Mapping[str, Any]) -> None:
        """Add the Dermoscopic Image module's Type 2 settings to the VL defaults."""
        super().series(values, user)
        values.update(_EMPTY)
        values["PositionReferenceIndicator"] = ""  # Frame of Reference (C.7.4.1), Type 2

    def finish(self, values: dict[str, Any]) -> None:
        """Derive the series' Frame of Reference; ask for an immersion medium's place."""
        from dicomize.dicom.uids import derive_uid

        values.setdefault(
            "FrameOfReferenceUID",
            derive_uid(str(values["SeriesInstanceUID"]), "FrameOfReferenceUID"),
        )
        if values.get("ContactMethod") == "CONTACT":
            values.setdefault("ImmersionMedia", "")  # C.8.12.13, Type 2C

    def instance(self, values: dict[str, Any], picture: Picture, sop_class: str) -> Picture:
        """Name the dermoscope, from the EXIF record or the user, or say it is unknown."""
        for keyword in _EQUIPMENT:
            if not values.get(keyword):
                values[keyword] = _UNKNOWN
        return picture


#: What the ``dermoscopic`` row's ``rules`` names.
RULES = Dermoscopic()
