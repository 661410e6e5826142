"""VL Microscopic Image (PS3.3 A.32.2): pictures from a microscope camera, Modality GM.

The VL Image IOD rules (:mod:`dicomize.iods._vl`) are all it asks. Its Specimen
module is required only "if the Imaging Subject is a Specimen" (A.32.2.3), which
dicomize cannot know: the user gives it (``--set`` or a manifest column) when
the picture is of a slide; Optical Path is U.
"""

from __future__ import annotations

from dicomize.iods._vl import VisibleLight

__all__ = ["RULES"]

#: What the ``vl-microscopic`` row's ``rules`` names.
RULES = VisibleLight()
