"""Which attributes belong to the IODs dicomize writes, from the standard's module tables.

``data/iod_attributes.json`` lists, per SOP Class, the modules of its IOD (PS3.3
A.8.1-A.8.5, A.32.4) and, per module, its top-level attributes (macros included);
``scripts/iod_attributes.py`` makes it. An attribute outside them makes the
object a Standard Extended SOP Class (PS3.4 B.1.3), which many PACS and every
validator flag, so dicomize refuses it unless asked to keep it.

>>> outside(["PatientName", "ReferencedSOPInstanceUID"], IOD_FAMILIES["sc"])
['ReferencedSOPInstanceUID']

Each IOD's Modality (0008,0060) is decided here too, by one rule per IOD
(:data:`MODALITY_RULES`, :func:`modality_for`): the user's, else the worklist
order's Scheduled Modality where the IOD allows it, else the IOD's own.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from dicomize.errors import MetadataError
from dicomize.uids import (
    ENCAPSULATED_MTL_STORAGE,
    ENCAPSULATED_OBJ_STORAGE,
    ENCAPSULATED_PDF_STORAGE,
    ENCAPSULATED_STL_STORAGE,
    MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    SECONDARY_CAPTURE_IMAGE_STORAGE,
    VIDEO_ENDOSCOPIC_IMAGE_STORAGE,
    VIDEO_MICROSCOPIC_IMAGE_STORAGE,
    VIDEO_PHOTOGRAPHIC_IMAGE_STORAGE,
    VL_PHOTOGRAPHIC_IMAGE_STORAGE,
)

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DOCUMENT_SOP_CLASSES",
    "IOD_FAMILIES",
    "MODALITY_RULES",
    "ORDER_KEYWORDS",
    "VIDEO_FAMILIES",
    "ModalityRule",
    "attributes_of",
    "modality_for",
    "outside",
]

#: The SOP Classes an ``iod`` option can produce: SC is chosen among five by the pixels.
IOD_FAMILIES: dict[str, tuple[str, ...]] = {
    "sc": (
        SECONDARY_CAPTURE_IMAGE_STORAGE,
        MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
        MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
        MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
        MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    ),
    "vl-photo": (VL_PHOTOGRAPHIC_IMAGE_STORAGE,),
    "video-endoscopic": (VIDEO_ENDOSCOPIC_IMAGE_STORAGE,),
    "video-microscopic": (VIDEO_MICROSCOPIC_IMAGE_STORAGE,),
    "video-photo": (VIDEO_PHOTOGRAPHIC_IMAGE_STORAGE,),
}

#: The ``iod`` options that write video (their IODs are in :mod:`dicomize.build_video`).
VIDEO_FAMILIES = frozenset({"video-endoscopic", "video-microscopic", "video-photo"})
#: Encapsulated PDF, STL, OBJ and MTL (A.45.1, A.85.1-A.85.3), which an ``sc`` call
#: writes for documents and models (their IODs are in :mod:`dicomize.build_document`).
DOCUMENT_SOP_CLASSES = (
    ENCAPSULATED_PDF_STORAGE,
    ENCAPSULATED_STL_STORAGE,
    ENCAPSULATED_OBJ_STORAGE,
    ENCAPSULATED_MTL_STORAGE,
)
#: What a worklist order tells the builders without being written itself: the
#: Scheduled Procedure Step, whose Modality (0008,0060) :func:`modality_for` reads
#: (:func:`dicomize.worklist.worklist_metadata` gives it). No IOD here has the
#: attribute, so :func:`outside` does not count it.
ORDER_KEYWORDS = frozenset({"ScheduledProcedureStepSequence"})


class ModalityRule:
    """How one IOD's Modality (0008,0060) is decided."""

    __slots__ = ("fixed", "keeps_own", "modality")

    #: The Modality when neither the user nor the worklist order gives one.
    modality: str
    #: The IOD allows no other value (an Enumerated Value): another given one is refused.
    fixed: bool
    #: Why the worklist order's Scheduled Modality is not used (and, for a fixed IOD,
    #: why another given one is refused); empty when the order's is used.
    keeps_own: str

    def __init__(self, *, modality: str, fixed: bool = False, keeps_own: str = "") -> None:
        self.modality = modality
        self.fixed = fixed
        self.keeps_own = keeps_own


# C.8.6.1: SC Equipment's Modality, which overrides General Series', is the "source
# equipment for the image": here the equipment of the order the picture fulfils. IHE RAD
# TF-2 Appendix A keeps the worklist's Modality where the IOD allows it (as issue 23
# reads it; Table A.1-1 itself was not checked).
_SECONDARY_CAPTURE = ModalityRule(modality="OT")
#: One rule per SOP Class dicomize writes: every builder asks :func:`modality_for`.
MODALITY_RULES: dict[str, ModalityRule] = {
    **dict.fromkeys(IOD_FAMILIES["sc"], _SECONDARY_CAPTURE),
    # A.32.4.4.1: VL Photographic Image, Modality XC only.
    IOD_FAMILIES["vl-photo"][0]: ModalityRule(
        modality="XC", fixed=True, keeps_own="VL Photographic Image requires XC (PS3.3 A.32.4.4.1)"
    ),
    # A.32.5.4.1, A.32.6.4.1, A.32.7.4.1: each video IOD has one Modality.
    IOD_FAMILIES["video-endoscopic"][0]: ModalityRule(
        modality="ES", fixed=True, keeps_own="Video Endoscopic Image requires ES (PS3.3 A.32.5.4.1)"
    ),
    IOD_FAMILIES["video-microscopic"][0]: ModalityRule(
        modality="GM",
        fixed=True,
        keeps_own="Video Microscopic Image requires GM (PS3.3 A.32.6.4.1)",
    ),
    IOD_FAMILIES["video-photo"][0]: ModalityRule(
        modality="XC",
        fixed=True,
        keeps_own="Video Photographic Image requires XC (PS3.3 A.32.7.4.1)",
    ),
    # C.24.1 leaves an Encapsulated PDF's Modality to the Defined Terms of C.7.3.1.1.1,
    # and the one that says what the object is, "DOC" (Document), is kept: the order's
    # Modality names the acquiring equipment, which a document does not come from.
    DOCUMENT_SOP_CLASSES[0]: ModalityRule(
        modality="DOC",
        keeps_own="an Encapsulated PDF is a document, DOC (PS3.3 C.7.3.1.1.1), whatever "
        "equipment the order was for",
    ),
    # A.85.1.4.3, A.85.2.4.3, A.85.3.4.3: STL, OBJ and MTL, Modality M3D only.
    **{
        sop_class: ModalityRule(
            modality="M3D",
            fixed=True,
            keeps_own=f"Encapsulated {kind} requires M3D (PS3.3 {section})",
        )
        for sop_class, kind, section in zip(
            DOCUMENT_SOP_CLASSES[1:],
            ("STL", "OBJ", "MTL"),
            ("A.85.1.4.3", "A.85.2.4.3", "A.85.3.4.3"),
            strict=True,
        )
    },
}


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
    """Return the `keywords` that none of the IODs of `sop_classes` defines, in their order.

    The worklist order's keywords (:data:`ORDER_KEYWORDS`) are never counted: they
    are read by the builders, not written.
    """
    allowed = _defined_by(tuple(sop_classes))
    return [
        keyword for keyword in keywords if keyword not in allowed and keyword not in ORDER_KEYWORDS
    ]


def modality_for(sop_class: str, given: Mapping[str, Any]) -> str:
    """Decide the Modality (0008,0060) of an object of `sop_class`, by its IOD's rule.

    The user's Modality comes first; then the worklist order's Scheduled
    Modality, where the IOD allows any (Secondary Capture, as IHE RAD TF-2
    Appendix A suggests); then the IOD's own. When the order's Modality is not
    used, a log record at WARNING level says so and why.

    Parameters
    ----------
    sop_class : str
        A SOP Class of :data:`MODALITY_RULES`.
    given : Mapping[str, Any]
        The validated metadata: ``Modality`` is the user's, and the first item of
        ``ScheduledProcedureStepSequence`` the worklist order's.

    Raises
    ------
    MetadataError
        When the user's Modality is not the one a fixed IOD allows.

    Examples
    --------
    >>> order = {"ScheduledProcedureStepSequence": [{"Modality": "XC"}]}
    >>> modality_for("1.2.840.10008.5.1.4.1.1.7", order)
    'XC'
    >>> modality_for("1.2.840.10008.5.1.4.1.1.7", {**order, "Modality": "OT"})
    'OT'
    """
    rule = MODALITY_RULES[sop_class]
    users = given.get("Modality")
    if users:
        if rule.fixed and users != rule.modality:
            raise MetadataError("Modality", users, rule.keeps_own)
        return str(users)
    ordered = _ordered_modality(given)
    if ordered and not rule.keeps_own:
        return ordered
    if ordered and ordered != rule.modality:
        import logging  # start-up does without it: only a note needs it

        logging.getLogger(__name__).warning(
            "the worklist's Modality %s is not used: %s", ordered, rule.keeps_own
        )
    return rule.modality


def _ordered_modality(given: Mapping[str, Any]) -> str | None:
    steps = given.get("ScheduledProcedureStepSequence") or []
    return str(steps[0].get("Modality") or "") or None if steps else None


@functools.cache
def _defined_by(sop_classes: tuple[str, ...]) -> frozenset[str]:
    # A batch asks the same question for every file: the union is made once.
    return frozenset().union(*(attributes_of(uid) for uid in sop_classes))
