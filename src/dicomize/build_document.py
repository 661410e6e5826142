"""Document + attributes → an Encapsulated PDF object (PS3.3 A.45.1), pure: no IO.

The modules: Patient, General Study and Patient Study as for the images;
Encapsulated Document Series (Modality ``DOC`` by default, Series Number Type 1);
General Equipment (Manufacturer, Type 2, empty: dicomize did not make the
document); SC Equipment (the converter, Conversion Type Type 1); Encapsulated
Document (C.24.2); SOP Common. Attributes the image IODs carry but this one does
not (Image Type, Patient Orientation, Date of Secondary Capture, ...) are left
out by the standard's own module tables (:mod:`dicomize.iods`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydicom.uid import UID

from dicomize._part10 import Part10Object
from dicomize.build import any_non_ascii, tag_and_vr
from dicomize.documents import Document
from dicomize.iods import attributes_of
from dicomize.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, new_uid

__all__ = ["ENCAPSULATED_PDF_STORAGE", "build_encapsulated_document"]

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
#: ST holds at most 1024 characters (PS3.5 6.2).
_ST_LENGTH = 1024


def build_encapsulated_document(
    document: Document,
    attributes: Mapping[str, Any],
    *,
    user: Mapping[str, Any],
    title: str,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
) -> Part10Object:
    """Build an Encapsulated PDF object with its File Meta Information.

    Parameters
    ----------
    document : Document
        The PDF, stored byte for byte.
    attributes : Mapping[str, Any]
        The series' attributes (:func:`dicomize.build.series_attributes`); those
        the Encapsulated PDF IOD does not define are left out.
    user : Mapping[str, Any]
        What the user gave: it wins over the document's own title and date.
    title : str
        Document Title when neither the user nor the PDF gives one (the file name).
    instance_number, sop_instance_uid
        As for :func:`dicomize.build.build_secondary_capture`.
    """
    allowed = attributes_of(ENCAPSULATED_PDF_STORAGE)
    values = {keyword: value for keyword, value in attributes.items() if keyword in allowed}
    if "Modality" not in user:
        values["Modality"] = "DOC"  # C.7.3.1.1.1 "Document"
    if "ImageLaterality" not in user:
        values.pop("ImageLaterality", None)  # the image IODs' "U" says nothing of a document
    values.setdefault("Manufacturer", "")  # General Equipment (C.7.5.1), Type 2
    values.setdefault("AcquisitionDateTime", "")  # C.24.2, Type 2
    values.setdefault("DocumentTitle", (document.title or title)[:_ST_LENGTH])
    values.setdefault("ConceptNameCodeSequence", [])  # Type 2, zero or one item (BCID 7020)
    if document.created is not None and "ContentDate" not in user:
        # C.24.2 note: Content Date/Time is when the document's content was created.
        values["ContentDate"] = document.created.strftime("%Y%m%d")
        values["ContentTime"] = document.created.strftime("%H%M%S")
    values.setdefault("InstanceNumber", str(instance_number))
    if not values.get("SOPInstanceUID"):
        values["SOPInstanceUID"] = sop_instance_uid or new_uid()
    values["SOPClassUID"] = ENCAPSULATED_PDF_STORAGE
    values["MIMETypeOfEncapsulatedDocument"] = document.mime_type
    # C.24.2: the length before the OB value's padding byte, so that an odd-length
    # document comes back exactly (PS3.5 6.2 pads OB to even length with 00H).
    values["EncapsulatedDocumentLength"] = len(document.data)
    if any_non_ascii(values):
        values["SpecificCharacterSet"] = "ISO_IR 192"  # C.12.1.1.2
    body = [(*tag_and_vr(keyword), value, False) for keyword, value in values.items()]
    body.append((*tag_and_vr("EncapsulatedDocument"), document.data, False))
    body.sort(key=lambda element: element[0])
    meta = [
        (*tag_and_vr(keyword), value, False)
        for keyword, value in (
            ("MediaStorageSOPClassUID", UID(ENCAPSULATED_PDF_STORAGE)),
            ("MediaStorageSOPInstanceUID", UID(values["SOPInstanceUID"])),
            ("TransferSyntaxUID", UID(_EXPLICIT_VR_LITTLE_ENDIAN)),
            ("ImplementationClassUID", UID(IMPLEMENTATION_CLASS_UID)),
            ("ImplementationVersionName", IMPLEMENTATION_VERSION_NAME),
        )
    ]
    return Part10Object(meta, body, str(values.get("SpecificCharacterSet", "")))
