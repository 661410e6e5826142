"""VL Photographic Image (PS3.3 A.32.4): clinical photographs, with the camera's EXIF mapped.

Everything it asks is what every VL Image IOD asks (:mod:`dicomize.iods._vl`);
its own modules (VL Photographic Equipment, Acquisition and Geolocation) are
filled from the EXIF record (:mod:`dicomize.exif`).
"""

from __future__ import annotations

from dicomize.iods._vl import VisibleLight

__all__ = ["RULES"]

#: What the ``vl-photo`` row's ``rules`` names.
RULES = VisibleLight()
