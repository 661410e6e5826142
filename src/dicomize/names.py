"""The names attributes go by on the command line and in manifests, by DICOM keyword.

One table (:data:`METADATA_FLAGS`) gives each flag its keyword and help line; a
manifest column takes the flag's name (``patient_id``) or the keyword. It is apart
from :mod:`dicomize.metadata` so that ``--help`` builds its flags without the
metadata model.
"""

from __future__ import annotations

__all__ = ["METADATA_FLAGS", "keyword_for_name"]

#: The attributes with a name of their own on the command line and in manifests:
#: (flag, DICOM keyword, help). ``--patient-id`` on the command line is the
#: column ``patient_id`` (or ``patient-id``) in a manifest; both also take the keyword.
METADATA_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--patient-name", "PatientName", "Family^Given^Middle^Prefix^Suffix"),
    ("--patient-id", "PatientID", "patient identifier"),
    ("--issuer-of-patient-id", "IssuerOfPatientID", "who assigned the patient ID"),
    ("--birth-date", "PatientBirthDate", "YYYYMMDD or YYYY-MM-DD"),
    ("--sex", "PatientSex", "M, F or O (omit when unknown)"),
    ("--age", "PatientAge", "nnnY, nnnM, nnnW or nnnD"),
    ("--accession", "AccessionNumber", "accession number (at most 16 bytes)"),
    ("--study-id", "StudyID", "study identifier (default: empty, unknown)"),
    ("--study-description", "StudyDescription", "study description"),
    ("--study-date", "StudyDate", "default: now"),
    ("--study-time", "StudyTime", "default: now"),
    ("--study-uid", "StudyInstanceUID", "join this study (default: a new UID)"),
    ("--referring-physician", "ReferringPhysicianName", "Family^Given"),
    ("--series-description", "SeriesDescription", "series description"),
    ("--series-number", "SeriesNumber", "default 1"),
    ("--series-uid", "SeriesInstanceUID", "join this series (default: a new UID)"),
    ("--instance-number", "InstanceNumber", "first instance number (default 1)"),
    ("--modality", "Modality", "default OT; DOC for documents, XC for photos, ..."),
    ("--body-part", "BodyPartExamined", "e.g. CHEST, HAND; a clip needs it or --anatomic-region"),
    (
        "--laterality",
        "ImageLaterality",
        "R, L, B (both) or U (unpaired); default: not given, and the object says the side "
        "is unknown",
    ),
    (
        "--conversion-type",
        "ConversionType",
        "DI digital interface (default), WSD workstation, SD scanned document, SI scanned image, "
        "DF digitized film, DV digitized video, DRW drawing, SYN synthetic",
    ),
    (
        "--burned-in-annotation",
        "BurnedInAnnotation",
        "YES or NO; default YES for every image and clip (dicomize cannot see what the "
        "pixels show), NO for 3D models",
    ),
    ("--recognizable-visual-features", "RecognizableVisualFeatures", "YES or NO"),
    ("--image-comments", "ImageComments", "free text"),
    ("--manufacturer", "Manufacturer", "who made the equipment or software that made the content"),
    ("--model-name", "ManufacturerModelName", "its model name"),
    ("--device-serial-number", "DeviceSerialNumber", "its serial number"),
    ("--software-versions", "SoftwareVersions", "its software version"),
    (
        "--document-title",
        "DocumentTitle",
        "a document's title (default: the PDF's own Title, else the file name)",
    ),
    (
        "--slide-id",
        "ContainerIdentifier",
        "whole-slide images: the slide's barcode or identifier (default: the file's name)",
    ),
    (
        "--specimen-description",
        "SpecimenShortDescription",
        "whole-slide images: what is on the slide (stain, tissue), 64 characters at most",
    ),
    ("--species", "PatientSpeciesDescription", "veterinary patient, e.g. 'Canis lupus familiaris'"),
    ("--breed", "PatientBreedDescription", "veterinary breed"),
    ("--responsible-person", "ResponsiblePerson", "owner of an animal, Family^Given"),
    ("--responsible-person-role", "ResponsiblePersonRole", "OWNER, VETERINARIAN, ..."),
    ("--responsible-organization", "ResponsibleOrganization", "organisation responsible"),
)


def keyword_for_name(name: str) -> str | None:
    """Return the DICOM keyword a manifest column or flag name stands for, or None.

    >>> keyword_for_name("patient_id"), keyword_for_name("PatientID"), keyword_for_name("nope")
    ('PatientID', 'PatientID', None)
    """
    from dicomize.dicom.dictionary import lookup

    if lookup(name) is not None:
        return name
    return _BY_NAME.get(name.strip().lower().replace("-", "_"))


_BY_NAME = {flag.lstrip("-").replace("-", "_"): keyword for flag, keyword, _ in METADATA_FLAGS}
