"""Document + attributes → an Encapsulated PDF, STL, OBJ or MTL object (PS3.3 A.45.1, A.85), pure.

The modules: Patient, General Study and Patient Study as for the images;
Encapsulated Document Series (Series Number Type 1); General Equipment; the
Encapsulated Document (C.24.2); SOP Common. Then, by IOD (one row of
:data:`dicomize.iods.IODS` each, chosen by the document's MIME type):

* PDF: SC Equipment (the converter; Conversion Type Type 1, ``WSD`` unless given),
  Modality ``DOC``.
* STL, OBJ: Frame of Reference (the space the model's coordinates are in),
  Enhanced General Equipment (four Type 1 attributes that name the system that
  made the instance, C.7.5.2: dicomize unless the user names another),
  Manufacturing 3D Model (its units, C.35.1), Modality ``M3D``.
* MTL: as OBJ without Frame of Reference (materials have no coordinates).

OBJ and MTL also carry an sRGB ICC Profile: PS3.3 makes the module U, but
dciodvfy 20260927 requires it of these two IODs (``conformance-more.md`` 1.7),
and their colours are sRGB in practice. Attributes the image IODs carry but
these do not are left out by the standard's own module tables (:mod:`dicomize.iods`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dicomize._version import __version__
from dicomize.build import assemble, code_item, content_moment, tag_and_vr
from dicomize.dicom.icc import srgb_profile
from dicomize.dicom.part10 import Part10Object
from dicomize.dicom.uids import (
    ENCAPSULATED_MTL_STORAGE,
    ENCAPSULATED_OBJ_STORAGE,
    EXPLICIT_VR_LITTLE_ENDIAN,
    new_uid,
)
from dicomize.documents import Document
from dicomize.iods import IOD, attributes_of, modality_for

__all__ = ["PDF_CONVERSION_TYPE", "build_encapsulated_document", "for_document"]

#: C.8.6.1 "WSD" (Workstation): a PDF is made on a computer, not scanned ("SD") nor
#: received from a modality's interface ("DI"); dcmtk's pdf2dcm writes the same. Its
#: pages rendered as Secondary Capture take it too. A scanned PDF's user gives "SD".
PDF_CONVERSION_TYPE = "WSD"

#: ST holds at most 1024 characters (PS3.5 6.2).
_ST_LENGTH = 1024
#: Enhanced General Equipment (C.7.5.2, all Type 1) when the user names no equipment: the
#: equipment that made the instance is dicomize, made by the dicomize project (as SC
#: Equipment says for Secondary Capture). No STL/OBJ/MTL reader exposes an exporter's name.
_DICOMIZE_EQUIPMENT = {
    "Manufacturer": "dicomize",
    "ManufacturerModelName": "dicomize",
    # Table C.7-8 wants the maker's serial number of the equipment; the project numbers no
    # copies and every copy of one release is the same, so the release is the unit it names.
    "DeviceSerialNumber": __version__,
    "SoftwareVersions": __version__,
}
#: The attributes the user left out when naming other equipment: dicomize cannot know
#: that equipment's details, and must not mix its own into another system's description.
_UNKNOWN_EQUIPMENT = "unknown"


#: OBJ and MTL carry an sRGB ICC Profile: dciodvfy 20260927 requires it of these two.
_ICC_PROFILE = frozenset({ENCAPSULATED_OBJ_STORAGE, ENCAPSULATED_MTL_STORAGE})


def for_document(attributes: Mapping[str, Any], iod: IOD) -> dict[str, Any]:
    """Give an image's source reference the form a document's IOD takes (C.24.2, C.12.2).

    A document derived from DICOM instances lists them in Source Instance
    Sequence; ``--source-image`` gives the images' Source Image Sequence, the
    same items under the name the image IODs use, and the Referenced Series
    Sequence of the Common Instance Reference module, which the Encapsulated PDF
    IOD does not have (its references stay in Source Instance Sequence).
    """
    out = dict(attributes)
    if "SourceImageSequence" in out and "SourceInstanceSequence" not in out:
        out["SourceInstanceSequence"] = out.pop("SourceImageSequence")
        if "ReferencedSeriesSequence" not in attributes_of(iod.sop_classes[0]):
            out.pop("ReferencedSeriesSequence", None)
    return out


def build_encapsulated_document(
    document: Document,
    attributes: Mapping[str, Any],
    *,
    iod: IOD,
    user: Mapping[str, Any],
    title: str,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    units: str = "mm",
) -> Part10Object:
    """Build an Encapsulated Document object with its File Meta Information.

    Parameters
    ----------
    document : Document
        The document, stored byte for byte.
    attributes : Mapping[str, Any]
        The series' attributes (:func:`dicomize.build.series_attributes`); those
        the document's IOD does not define are left out.
    iod : IOD
        The row of the document's IOD (:func:`dicomize.iods.by_mime_type`).
    user : Mapping[str, Any]
        What the user gave: it wins over the document's own title and date.
    title : str
        Document Title when neither the user nor the document gives one (the file name).
    instance_number, sop_instance_uid
        As for :func:`dicomize.build.build_image`.
    frame_of_reference_uid : str or None
        STL, OBJ: the space of the model's coordinates (of the images it was
        segmented from); None makes a new one.
    units : str
        STL, OBJ, MTL: the unit of the model's numbers, one of
        :data:`dicomize.options.MODEL_UNITS`.

    Raises
    ------
    MetadataError
        When the user's Modality contradicts a model's IOD (M3D only,
        :func:`dicomize.iods.modality_for`).
    """
    sop_class = iod.sop_classes[0]
    allowed = attributes_of(sop_class)
    given = for_document(attributes, iod)
    values = {keyword: value for keyword, value in given.items() if keyword in allowed}
    # DOC for a PDF, M3D for a model: the worklist order's does not apply (their rows say).
    values["Modality"] = modality_for(sop_class, user)
    values.update((k, v) for k, v in iod.defaults.items() if k not in user)
    if "ConversionType" in allowed and "ConversionType" not in user:
        values["ConversionType"] = PDF_CONVERSION_TYPE  # SC Equipment: the PDF IOD only
    values.setdefault("Manufacturer", "")  # General Equipment (C.7.5.1), Type 2
    if iod.kind == "model":
        values.update(_model_values(values, sop_class, frame_of_reference_uid, units))
    values.setdefault("AcquisitionDateTime", "")  # C.24.2, Type 2
    values.setdefault("DocumentTitle", (document.title or title)[:_ST_LENGTH])
    values.setdefault("ConceptNameCodeSequence", [])  # Type 2, zero or one item (BCID 7020/7061)
    # C.24.2 note: Content Date/Time is when the document's content was created.
    content_moment(values, document.created, user)
    values.setdefault("InstanceNumber", str(instance_number))
    if not values.get("SOPInstanceUID"):
        values["SOPInstanceUID"] = sop_instance_uid or new_uid()
    values["SOPClassUID"] = sop_class
    values["MIMETypeOfEncapsulatedDocument"] = document.mime_type
    # C.24.2: the length before the OB value's padding byte, so that an odd-length
    # document comes back exactly (PS3.5 6.2 pads OB to even length with 00H).
    values["EncapsulatedDocumentLength"] = len(document.data)
    bulk = (*tag_and_vr("EncapsulatedDocument"), document.data, False)
    return assemble(values, bulk, EXPLICIT_VR_LITTLE_ENDIAN)


def _model_values(
    values: Mapping[str, Any], sop_class: str, frame_of_reference_uid: str | None, units: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Enhanced General Equipment (C.7.5.2): Type 1, about the equipment that made the
    # instance: dicomize, unless the user names another (then its details they left out
    # are unknown, not dicomize's).
    named = any(values.get(keyword) for keyword in _DICOMIZE_EQUIPMENT)
    for keyword, own in _DICOMIZE_EQUIPMENT.items():
        if not values.get(keyword):
            out[keyword] = _UNKNOWN_EQUIPMENT if named else own
    if "FrameOfReferenceUID" in attributes_of(sop_class):  # STL, OBJ: their coordinates
        if not values.get("FrameOfReferenceUID"):
            out["FrameOfReferenceUID"] = frame_of_reference_uid or new_uid()
        if "PositionReferenceIndicator" not in values:
            out["PositionReferenceIndicator"] = ""  # Type 2 (C.7.4.1.1.2)
    if "MeasurementUnitsCodeSequence" not in values:
        # C.35.1: exactly one item, DCID 7063 (UCUM; the meaning is the code itself).
        out["MeasurementUnitsCodeSequence"] = [code_item(units, "UCUM", units)]
    if sop_class in _ICC_PROFILE and "ICCProfile" not in values:
        out["ICCProfile"] = srgb_profile()
        out["ColorSpace"] = "SRGB"  # C.11.15.1.2: agrees with the profile
    return out
