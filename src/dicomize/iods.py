"""Which attributes belong to the IODs dicomize writes, from the standard's module tables.

``data/iod_attributes.json`` lists, per SOP Class, the modules of its IOD (PS3.3
A.8.1-A.8.5, A.32.4) and, per module, its top-level attributes (macros included);
``scripts/iod_attributes.py`` makes it. An attribute outside them makes the
object a Standard Extended SOP Class (PS3.4 B.1.3), which many PACS and every
validator flag, so dicomize refuses it unless asked to keep it.

>>> outside(["PatientName", "ReferencedSOPInstanceUID"], IOD_FAMILIES["sc"])
['ReferencedSOPInstanceUID']
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path

__all__ = ["DOCUMENT_SOP_CLASSES", "IOD_FAMILIES", "VIDEO_FAMILIES", "attributes_of", "outside"]

#: The SOP Classes an ``iod`` option can produce: SC is chosen among five by the pixels.
IOD_FAMILIES: dict[str, tuple[str, ...]] = {
    "sc": (
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    ),
    "vl-photo": ("1.2.840.10008.5.1.4.1.1.77.1.4",),
    "video-endoscopic": ("1.2.840.10008.5.1.4.1.1.77.1.1.1",),
    "video-microscopic": ("1.2.840.10008.5.1.4.1.1.77.1.2.1",),
    "video-photo": ("1.2.840.10008.5.1.4.1.1.77.1.4.1",),
}

#: The ``iod`` options that write video (their IODs are in :mod:`dicomize.build_video`).
VIDEO_FAMILIES = frozenset({"video-endoscopic", "video-microscopic", "video-photo"})
#: Encapsulated PDF, STL, OBJ and MTL (A.45.1, A.85.1-A.85.3), which an ``sc`` call
#: writes for documents and models (their IODs are in :mod:`dicomize.build_document`).
DOCUMENT_SOP_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.104.1",
    "1.2.840.10008.5.1.4.1.1.104.3",
    "1.2.840.10008.5.1.4.1.1.104.4",
    "1.2.840.10008.5.1.4.1.1.104.5",
)


@functools.cache
def _table() -> dict[str, dict[str, list[str]]]:
    text = (Path(__file__).parent / "data" / "iod_attributes.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@functools.cache
def attributes_of(sop_class: str) -> frozenset[str]:
    """Return the keywords of the top-level attributes of `sop_class`'s IOD."""
    table = _table()
    modules = table["sop_classes"][sop_class]
    return frozenset(keyword for module in modules for keyword in table["modules"][module])


def outside(keywords: Iterable[str], sop_classes: Iterable[str]) -> list[str]:
    """Return the `keywords` that none of the IODs of `sop_classes` defines, in their order."""
    allowed = _defined_by(tuple(sop_classes))
    return [keyword for keyword in keywords if keyword not in allowed]


@functools.cache
def _defined_by(sop_classes: tuple[str, ...]) -> frozenset[str]:
    # A batch asks the same question for every file: the union is made once.
    return frozenset().union(*(attributes_of(uid) for uid in sop_classes))
