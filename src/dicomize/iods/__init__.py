"""The IODs dicomize writes: one row each in :data:`IODS`, one module each for its rules.

A row says what an IOD is: the name ``iod`` takes (on the command line, in a
manifest's ``iod`` column, on the web page), its SOP Classes, the kind of
content it holds, its Modality rule, the values it writes by default, and the
module that holds its rules (imported only when the IOD is used). The command
line's choices, :class:`dicomize.ConvertOptions`' check, the web page's list, the
attribute check and the manual's tables all read the rows, so a new IOD is one
module and one row.

The attributes each IOD defines come from the standard's module tables:
``data/iod_attributes.json`` lists, per SOP Class, the modules of its IOD and,
per module, its top-level attributes (macros included); ``scripts/iod_attributes.py``
makes it. An attribute outside them makes the object a Standard Extended SOP
Class (PS3.4 B.1.3), which many PACS and every validator flag, so dicomize
refuses it unless asked to keep it.

>>> outside(["PatientName", "ReferencedSOPInstanceUID"], IODS["sc"].sop_classes)
['ReferencedSOPInstanceUID']

Each IOD's Modality (0008,0060) is decided here too, by its row
(:func:`modality_for`): the user's, else the worklist order's Scheduled Modality
where the IOD allows it, else the IOD's own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from dicomize.dicom.uids import (
    DERMOSCOPIC_PHOTOGRAPHY_IMAGE_STORAGE,
    ENCAPSULATED_MTL_STORAGE,
    ENCAPSULATED_OBJ_STORAGE,
    ENCAPSULATED_PDF_STORAGE,
    ENCAPSULATED_STL_STORAGE,
    MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    OPHTHALMIC_PHOTOGRAPHY_8_BIT_IMAGE_STORAGE,
    OPHTHALMIC_PHOTOGRAPHY_16_BIT_IMAGE_STORAGE,
    SECONDARY_CAPTURE_IMAGE_STORAGE,
    VIDEO_ENDOSCOPIC_IMAGE_STORAGE,
    VIDEO_MICROSCOPIC_IMAGE_STORAGE,
    VIDEO_PHOTOGRAPHIC_IMAGE_STORAGE,
    VL_ENDOSCOPIC_IMAGE_STORAGE,
    VL_MICROSCOPIC_IMAGE_STORAGE,
    VL_PHOTOGRAPHIC_IMAGE_STORAGE,
    VL_WHOLE_SLIDE_MICROSCOPY_IMAGE_STORAGE,
)
from dicomize.errors import MetadataError

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = [
    "IOD",
    "IODS",
    "ORDER_KEYWORDS",
    "PLACED_IN_ITEMS",
    "attributes_of",
    "chosen",
    "modality_for",
    "of_sop_class",
    "outside",
]


class IOD:
    """One IOD dicomize writes: what the registry knows of it.

    A plain slotted class, not a dataclass: ``--help`` and every conversion build
    the registry, and a dataclass costs a millisecond of their start-up to define.

    Parameters
    ----------
    name : str
        What ``iod`` takes: the ``--iod`` choice, a manifest's ``iod`` value, the
        page's choice.
    title : str
        The IOD's name in PS3.3, for people.
    section : str
        Its IOD definition in PS3.3 (``A.32.1``).
    kind : str
        What it holds: ``picture``, ``video``, ``document`` or ``model``.
    sop_classes : tuple of str
        Its SOP Classes; where there are several, its rules pick one from the content.
    modality : str
        The Modality (0008,0060) written when neither the user nor the worklist
        order gives one.
    fixed : bool
        The IOD allows no other Modality (an Enumerated Value): another given one
        is refused.
    keeps_own : str
        Why the worklist order's Scheduled Modality is not used (and, for a fixed
        IOD, why another given one is refused); empty when the order's is used.
    rules : str
        The module that holds its rules, imported only when the IOD is used.
    summary : str
        One line for ``--help``, the page and the manual.
    defaults : Mapping[str, str]
        Attribute values of its own, written unless the user gives others.
    chosen : bool
        The user names it; otherwise the content picks it (documents, models).
    mime_types : tuple of str
        Documents and models: the MIME types it stores.
    """

    __slots__ = (
        "chosen",
        "defaults",
        "fixed",
        "keeps_own",
        "kind",
        "mime_types",
        "modality",
        "name",
        "rules",
        "section",
        "sop_classes",
        "summary",
        "title",
    )

    def __init__(
        self,
        *,
        name: str,
        title: str,
        section: str,
        kind: str,
        sop_classes: tuple[str, ...],
        modality: str,
        fixed: bool = False,
        keeps_own: str = "",
        rules: str,
        summary: str,
        defaults: Mapping[str, str] | None = None,
        chosen: bool = True,
        mime_types: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.title = title
        self.section = section
        self.kind = kind
        self.sop_classes = sop_classes
        self.modality = modality
        self.fixed = fixed
        self.keeps_own = keeps_own
        self.rules = rules
        self.summary = summary
        self.defaults: Mapping[str, str] = defaults or {}
        self.chosen = chosen
        self.mime_types = mime_types

    def __repr__(self) -> str:
        return f"IOD({self.name!r}, {self.title!r})"

    def modules(self) -> tuple[str, ...]:
        """Return the modules of the IOD (of all its SOP Classes), from PS3.3's tables.

        >>> "ophthalmic-photography-image" in IODS["ophthalmic"].modules()
        True
        """
        table = _table()["sop_classes"]
        return tuple(sorted({module for uid in self.sop_classes for module in table[uid]}))

    def load(self) -> ModuleType:
        """Import and return the module of the IOD's rules."""
        import importlib

        return importlib.import_module(self.rules)


def _fixed(modality: str, title: str, section: str) -> dict[str, Any]:
    return {
        "modality": modality,
        "fixed": True,
        "keeps_own": f"{title} requires {modality} (PS3.3 {section})",
    }


def _model(name: str, sop_class: str, section: str) -> IOD:
    title = f"Encapsulated {name.upper()}"
    return IOD(
        name=name,
        title=title,
        section=section,
        kind="model",
        sop_classes=(sop_class,),
        # A.85.x.4.3: STL, OBJ and MTL, Modality M3D only.
        **_fixed("M3D", title, f"{section}.4.3"),
        rules="dicomize.iods.encapsulated",
        summary=f"a 3D model in {name.upper()}, stored byte for byte",
        # C.24.2: a model is rarely embossed with a name (embossed identification is YES).
        defaults={"BurnedInAnnotation": "NO"},
        chosen=False,
        mime_types=(f"model/{name}",),
    )


#: Every IOD dicomize writes, by the name ``iod`` takes; the first of each kind is its
#: default, and the order is the order of the choices offered.
IODS: dict[str, IOD] = {
    row.name: row
    for row in (
        IOD(
            name="sc",
            title="Secondary Capture Image",
            section="A.8.1-A.8.5",
            kind="picture",
            sop_classes=(
                SECONDARY_CAPTURE_IMAGE_STORAGE,
                MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
                MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
                MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
                MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
            ),
            # C.8.6.1: SC Equipment's Modality, which overrides General Series', is the
            # "source equipment for the image": here the equipment of the order the
            # picture fulfils, as IHE RAD TF-2 Appendix A keeps the worklist's Modality
            # where the IOD allows it.
            modality="OT",
            rules="dicomize.iods.sc",
            summary="Secondary Capture, for screenshots, scans and any picture "
            "(multi-frame SC chosen by the pixels)",
            # Screenshots and scans usually show names and dates: "YES" is the safe
            # statement for de-identification until the user says otherwise.
            defaults={"BurnedInAnnotation": "YES"},
        ),
        IOD(
            name="vl-photo",
            title="VL Photographic Image",
            section="A.32.4",
            kind="picture",
            sop_classes=(VL_PHOTOGRAPHIC_IMAGE_STORAGE,),
            **_fixed("XC", "VL Photographic Image", "A.32.4.4.1"),
            rules="dicomize.iods.vl_photo",
            summary="VL Photographic Image, for clinical photographs, with EXIF mapped",
            # NO would assert that no identifying text is in the pixels, which dicomize
            # cannot know (a wristband, a label in the frame): YES unless the user says.
            # Photographs often show people.
            defaults={"BurnedInAnnotation": "YES", "RecognizableVisualFeatures": "YES"},
        ),
        IOD(
            name="vl-endoscopic",
            title="VL Endoscopic Image",
            section="A.32.1",
            kind="picture",
            sop_classes=(VL_ENDOSCOPIC_IMAGE_STORAGE,),
            **_fixed("ES", "VL Endoscopic Image", "C.8.12.1"),
            rules="dicomize.iods.vl_endoscopic",
            summary="VL Endoscopic Image, for stills from an endoscope",
            # Endoscopy towers overlay the patient's name and the date on the picture.
            defaults={"BurnedInAnnotation": "YES"},
        ),
        IOD(
            name="vl-microscopic",
            title="VL Microscopic Image",
            section="A.32.2",
            kind="picture",
            sop_classes=(VL_MICROSCOPIC_IMAGE_STORAGE,),
            **_fixed("GM", "VL Microscopic Image", "C.8.12.1"),
            rules="dicomize.iods.vl_microscopic",
            summary="VL Microscopic Image, for pictures from a microscope camera",
            defaults={"BurnedInAnnotation": "YES"},
        ),
        IOD(
            name="ophthalmic",
            title="Ophthalmic Photography Image",
            section="A.41-A.42",
            kind="picture",
            sop_classes=(
                OPHTHALMIC_PHOTOGRAPHY_8_BIT_IMAGE_STORAGE,
                OPHTHALMIC_PHOTOGRAPHY_16_BIT_IMAGE_STORAGE,
            ),
            **_fixed("OP", "Ophthalmic Photography", "C.8.17.1"),
            rules="dicomize.iods.ophthalmic",
            summary="Ophthalmic Photography 8 or 16 Bit (by the pixels), for fundus and eye "
            "photographs; needs --laterality",
            # Type 1 here (C.8.17.2): fundus cameras often print the name and date.
            defaults={"BurnedInAnnotation": "YES"},
        ),
        IOD(
            name="dermoscopic",
            title="Dermoscopic Photography Image",
            section="A.32.11",
            kind="picture",
            sop_classes=(DERMOSCOPIC_PHOTOGRAPHY_IMAGE_STORAGE,),
            **_fixed("DMS", "Dermoscopic Photography Image", "C.8.12.1, CID 33"),
            rules="dicomize.iods.dermoscopic",
            summary="Dermoscopic Photography, for pictures from a dermatoscope",
            defaults={
                # Dermoscopy software may print the patient or the date on the picture.
                "BurnedInAnnotation": "YES",
                # Type 1 here (C.8.12.13): YES is the safe statement; a close-up can show a
                # fingerprint.
                "RecognizableVisualFeatures": "YES",
            },
        ),
        IOD(
            name="video-photo",
            title="Video Photographic Image",
            section="A.32.7",
            kind="video",
            sop_classes=(VIDEO_PHOTOGRAPHIC_IMAGE_STORAGE,),
            **_fixed("XC", "Video Photographic Image", "A.32.7.4.1"),
            rules="dicomize.iods.video",
            summary="Video Photographic Image, for clips from a camera or a phone",
            # As for photographs: NO is a claim about every frame dicomize cannot make.
            defaults={"BurnedInAnnotation": "YES"},
        ),
        IOD(
            name="video-endoscopic",
            title="Video Endoscopic Image",
            section="A.32.5",
            kind="video",
            sop_classes=(VIDEO_ENDOSCOPIC_IMAGE_STORAGE,),
            **_fixed("ES", "Video Endoscopic Image", "A.32.5.4.1"),
            rules="dicomize.iods.video",
            summary="Video Endoscopic Image, for endoscopy clips",
            # Endoscopy towers and microscope cameras often overlay the patient's name.
            defaults={"BurnedInAnnotation": "YES"},
        ),
        IOD(
            name="video-microscopic",
            title="Video Microscopic Image",
            section="A.32.6",
            kind="video",
            sop_classes=(VIDEO_MICROSCOPIC_IMAGE_STORAGE,),
            **_fixed("GM", "Video Microscopic Image", "A.32.6.4.1"),
            rules="dicomize.iods.video",
            summary="Video Microscopic Image, for clips from a microscope camera",
            defaults={"BurnedInAnnotation": "YES"},
        ),
        IOD(
            name="pdf",
            title="Encapsulated PDF",
            section="A.45.1",
            kind="document",
            sop_classes=(ENCAPSULATED_PDF_STORAGE,),
            # C.24.1 leaves an Encapsulated PDF's Modality to the Defined Terms of
            # C.7.3.1.1.1, and the one that says what the object is, "DOC" (Document),
            # is kept: the order's Modality names the acquiring equipment, which a
            # document does not come from.
            modality="DOC",
            keeps_own="an Encapsulated PDF is a document, DOC (PS3.3 C.7.3.1.1.1), whatever "
            "equipment the order was for",
            rules="dicomize.iods.encapsulated",
            summary="a PDF, stored byte for byte",
            # A document names its patient.
            defaults={"BurnedInAnnotation": "YES"},
            chosen=False,
            mime_types=("application/pdf",),
        ),
        IOD(
            name="wsm",
            title="VL Whole Slide Microscopy Image",
            section="A.32.8",
            kind="slide",
            sop_classes=(VL_WHOLE_SLIDE_MICROSCOPY_IMAGE_STORAGE,),
            # C.8.12.3: the Whole Slide Microscopy Series module fixes SM.
            **_fixed("SM", "VL Whole Slide Microscopy Image", "C.8.12.3"),
            rules="dicomize.iods.vl_wsm",
            summary="a whole-slide image: one instance per pyramid level, label, overview "
            "and thumbnail, the scanner's tiles kept",
            # C.8.12.4: a level shows tissue, never a name; the label and overview are
            # set apart by the builder (they show the slide's label).
            defaults={},
            chosen=False,
            mime_types=(),
        ),
        _model("stl", ENCAPSULATED_STL_STORAGE, "A.85.1"),
        _model("obj", ENCAPSULATED_OBJ_STORAGE, "A.85.2"),
        _model("mtl", ENCAPSULATED_MTL_STORAGE, "A.85.3"),
    )
}

#: What a worklist order tells the builders without being written itself: the
#: Scheduled Procedure Step, whose Modality (0008,0060) :func:`modality_for` reads
#: (:func:`dicomize.worklist.worklist_metadata` gives it). No IOD here has the
#: attribute, so :func:`outside` does not count it.
ORDER_KEYWORDS = frozenset({"ScheduledProcedureStepSequence"})


def chosen(kind: str | None = None) -> tuple[IOD, ...]:
    """Return the IODs a user may name, of one `kind` or of all, default first.

    >>> [iod.name for iod in chosen("video")]
    ['video-photo', 'video-endoscopic', 'video-microscopic']
    """
    return tuple(row for row in IODS.values() if row.chosen and (kind is None or row.kind == kind))


@functools.cache
def of_sop_class(sop_class: str) -> IOD:
    """Return the IOD a SOP Class belongs to.

    Raises
    ------
    KeyError
        For a SOP Class dicomize does not write.
    """
    for row in IODS.values():
        if sop_class in row.sop_classes:
            return row
    raise KeyError(sop_class)


def by_mime_type(mime_type: str) -> IOD:
    """Return the IOD that stores a document or model of `mime_type`."""
    return next(row for row in IODS.values() if mime_type in row.mime_types)


@functools.cache
def _table() -> dict[str, dict[str, list[str]]]:
    import json  # --help lists the IODs without reading their tables
    from pathlib import Path

    text = (Path(__file__).parent.parent / "data" / "iod_attributes.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


#: Attributes a user gives by keyword that the IOD's builder places inside an item of the
#: object (C.7.6.22: a slide's specimen is an item of the Specimen Description Sequence).
PLACED_IN_ITEMS: dict[str, frozenset[str]] = {
    VL_WHOLE_SLIDE_MICROSCOPY_IMAGE_STORAGE: frozenset(
        {"SpecimenIdentifier", "SpecimenShortDescription"}
    ),
}


@functools.cache
def attributes_of(sop_class: str) -> frozenset[str]:
    """Return the keywords of the top-level attributes of `sop_class`'s IOD.

    Those its builder places inside an item (:data:`PLACED_IN_ITEMS`) count too: a
    user gives them as any other.
    """
    table = _table()
    modules = table["sop_classes"][sop_class]
    return frozenset(
        keyword for module in modules for keyword in table["modules"][module]
    ) | PLACED_IN_ITEMS.get(sop_class, frozenset())


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
    """Decide the Modality (0008,0060) of an object of `sop_class`, by its IOD's row.

    The user's Modality comes first; then the worklist order's Scheduled
    Modality, where the IOD allows any (Secondary Capture, as IHE RAD TF-2
    Appendix A suggests); then the IOD's own. When the order's Modality is not
    used, a log record at WARNING level says so and why.

    Parameters
    ----------
    sop_class : str
        A SOP Class of a row of :data:`IODS`.
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
    >>> modality_for(IODS["sc"].sop_classes[0], order)
    'XC'
    >>> modality_for(IODS["sc"].sop_classes[0], {**order, "Modality": "OT"})
    'OT'
    """
    rule = of_sop_class(sop_class)
    users = given.get("Modality")
    if users:
        if rule.fixed and users != rule.modality:
            raise MetadataError("Modality", users, rule.keeps_own, option="modality")
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
