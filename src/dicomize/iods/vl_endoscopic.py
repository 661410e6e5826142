"""VL Endoscopic Image (PS3.3 A.32.1): stills from an endoscope, Modality ES.

The VL Image IOD rules (:mod:`dicomize.iods._vl`) are all it asks: General
Equipment (the tower, when the camera's record names it), Acquisition Context
(Type 2, empty), VL Image (one 8-bit frame). Specimen is U and left out.
"""

from __future__ import annotations

from dicomize.iods._vl import VisibleLight

__all__ = ["RULES"]

#: What the ``vl-endoscopic`` row's ``rules`` names.
RULES = VisibleLight()
