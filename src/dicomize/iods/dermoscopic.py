"""Dermoscopic Photography Image (PS3.3 A.32.11, Supplement 221): pictures from a dermoscope.

A VL Image IOD (:mod:`dicomize.iods._vl`) with Modality DMS (C.8.12.1, CID 33
"Dermoscopy"), Enhanced General Equipment and the Dermoscopic Image module
(C.8.12.13). The dermoscope is named by Enhanced General Equipment (C.7.5.2, four
Type 1 attributes): from the camera's EXIF (Make, Model, Software) or the user
(the serial number always from the user: EXIF serial numbers are never copied);
what neither gives is asked for, not invented. The dermoscopy settings the module makes Type 2
(polarization, contact method, colour temperature, magnification) are written
empty unless given: they are facts of the acquisition, not of the file.

The pinned dciodvfy (20260927) checks a Frame of Reference module for this IOD,
which its template lists as U: one per series is written (made like the Series
UID, or ``--frame-of-reference-from``'s), claiming no more than that the photos of
one series share it.
"""

from __future__ import annotations

from collections.abc import Mapping

from dicomize.errors import MetadataError
from dicomize.iods._vl import VisibleLight
from dicomize.picture import Picture

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RULES", "Dermoscopic"]

#: Enhanced General Equipment (C.7.5.2): Type 1, about the dermoscope; and how people say them.
_EQUIPMENT = {
    "Manufacturer": "maker",
    "ManufacturerModelName": "model",
    "DeviceSerialNumber": "serial number",
    "SoftwareVersions": "software version",
}
#: C.8.12.13: Type 2, empty when not known.
_EMPTY = {
    "LightSourcePolarization": "",
    "EmitterColorTemperature": "",
    "ContactMethod": "",
    "OpticalMagnificationFactor": "",
}


class Dermoscopic(VisibleLight):
    """Dermoscopic Photography: a VL Image, its dermoscope named, its settings as given."""

    series_uids = ("FrameOfReferenceUID",)

    def series(self, values: dict[str, Any], user: Mapping[str, Any]) -> None:
        """Add the Dermoscopic Image module's Type 2 settings to the VL defaults."""
        super().series(values, user)
        values.update(_EMPTY)
        values["PositionReferenceIndicator"] = ""  # Frame of Reference (C.7.4.1), Type 2

    def finish(self, values: dict[str, Any]) -> None:
        """Complete what the user's settings make required (C.8.12.13), or refuse them."""
        super().finish(values)
        if values.get("ContactMethod") == "CONTACT":
            values.setdefault("ImmersionMedia", "")  # Type 2C
        if bool(values.get("TrackingID")) != bool(values.get("TrackingUID")):
            given = "TrackingID" if values.get("TrackingID") else "TrackingUID"
            raise MetadataError(
                given,
                values[given],
                "Tracking ID and Tracking UID go together (PS3.3 C.8.12.13, Type 1C): give both",
            )

    def instance(self, values: dict[str, Any], picture: Picture, sop_class: str) -> Picture:
        """Refuse a picture whose dermoscope neither its EXIF record nor the user names."""
        missing = [_EQUIPMENT[keyword] for keyword in _EQUIPMENT if not values.get(keyword)]
        if missing:
            said = (
                ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
            )
            raise MetadataError(
                next(keyword for keyword in _EQUIPMENT if not values.get(keyword)),
                None,
                f"Dermoscopic Photography names its dermoscope: its {said} are not given and "
                "not in the picture's EXIF (Enhanced General Equipment, PS3.3 C.7.5.2, Type 1)",
                option="equipment",
            )
        return picture


#: What the ``dermoscopic`` row's ``rules`` names.
RULES = Dermoscopic()
