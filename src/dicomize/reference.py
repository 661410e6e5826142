"""Attach new objects to an existing patient, study and series (PS3.3 C.7.1.1, C.7.2.1, C.7.3.1).

:func:`reference_metadata` reads a DICOM file's header, never its Pixel Data,
and returns the attributes that put a new instance into that file's study
(Patient, General Study, Patient Study) or series (also General Series), as
a metadata mapping that later sources may override.

>>> import dicomize
>>> ref = dicomize.convert(__import__("numpy").zeros((2, 2), "uint8"), {"PatientID": "7"})
>>> meta = reference_metadata(ref, series=True)
>>> meta["PatientID"], meta["StudyInstanceUID"] == ref.StudyInstanceUID, meta["InstanceNumber"]
('7', True, '2')
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from dicomize.errors import InputError, MetadataError

__all__ = [
    "PATIENT_AND_STUDY",
    "SERIES",
    "check_same_patient",
    "frame_of_reference_of",
    "reference_metadata",
]

#: Patient (C.7.1.1), General Study (C.7.2.1) and Patient Study (C.7.2.2) attributes copied.
PATIENT_AND_STUDY: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "EthnicGroup",
    "PatientComments",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "PatientSpeciesDescription",
    "PatientSpeciesCodeSequence",
    "PatientBreedDescription",
    "PatientBreedCodeSequence",
    "BreedRegistrationSequence",
    "ResponsiblePerson",
    "ResponsiblePersonRole",
    "ResponsibleOrganization",
    "QualityControlSubject",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyDescription",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "ProcedureCodeSequence",
    "ReferencedStudySequence",
    "AdmittingDiagnosesDescription",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientSexNeutered",
    "Occupation",
    "AdditionalPatientHistory",
    "MedicalAlerts",
    "Allergies",
    "PregnancyStatus",
)
#: General Series (C.7.3.1) attributes copied when joining the series.
SERIES: tuple[str, ...] = (
    "SeriesInstanceUID",
    "SeriesNumber",
    "Modality",
    "SeriesDate",
    "SeriesTime",
    "SeriesDescription",
    "BodyPartExamined",
    "Laterality",
    "OperatorsName",
    "PerformingPhysicianName",
    "ProtocolName",
)


def reference_metadata(
    reference: str | os.PathLike[str] | Dataset,
    *,
    series: bool = False,
    source_image: bool = False,
) -> dict[str, Any]:
    """Return the attributes that file a new instance beside `reference`.

    Parameters
    ----------
    reference : str, os.PathLike or pydicom.dataset.Dataset
        A DICOM file (its Pixel Data is not read) or a dataset.
    series : bool
        Join the reference's series too: its General Series attributes, and
        Instance Numbers that continue after the reference's.
    source_image : bool
        Reference the reference instance as the source of the new one
        (Source Image Sequence, and Referenced Series Sequence of the
        Common Instance Reference module, PS3.3 C.12.2).

    Returns
    -------
    dict
        ``{keyword: value}`` for :func:`dicomize.convert`; later metadata wins.

    Raises
    ------
    dicomize.errors.InputError
        When the reference cannot be read or has no Study Instance UID.
    """
    ds = reference if isinstance(reference, Dataset) else _read(Path(reference))
    if "StudyInstanceUID" not in ds:
        raise InputError("reference has no Study Instance UID", _name(reference))
    keywords = PATIENT_AND_STUDY + (SERIES if series else ())
    out = {keyword: _plain(ds[keyword].value) for keyword in keywords if keyword in ds}
    if series:
        if "SeriesInstanceUID" not in ds:
            raise InputError("reference has no Series Instance UID", _name(reference))
        number = ds.get("InstanceNumber")
        out["InstanceNumber"] = str(int(number) + 1) if number not in (None, "") else "1"
    if source_image:
        out.update(_source_image(ds))
    return out


def check_same_patient(
    reference: Mapping[str, Any], given: Mapping[str, Any], *, option: str | None = None
) -> None:
    """Refuse metadata that files a new instance under another patient than the reference's.

    A study belongs to one patient (PS3.3 A.1.2): an instance that joins the
    reference's study with another Patient ID, or another Issuer of Patient ID
    where both name one, would split that study between two patients in any
    archive that files it. Patient's Name is not compared: the ID identifies the
    patient, while one name is spelled many ways (``Müller`` and ``Mueller``,
    components in another order, another character set) and a misspelling is a
    reason to give a corrected one; a differing name stays a note of the caller's.

    Parameters
    ----------
    reference : Mapping[str, Any]
        What :func:`reference_metadata` returned.
    given : Mapping[str, Any]
        The metadata the new instance gets, the reference's values merged under
        the caller's (a keyword left out keeps the reference's value).
    option : str or None
        The option that named the reference, carried by the error.

    Raises
    ------
    dicomize.errors.MetadataError
        When Patient ID, or Issuer of Patient ID where both have one, differs. The
        message names the attributes, not their values: they are patient data.
    """
    for keyword, both_needed in (("PatientID", False), ("IssuerOfPatientID", True)):
        theirs = _identifier(reference.get(keyword))
        ours = _identifier(given.get(keyword, reference.get(keyword)))
        if both_needed and not (theirs and ours):
            continue  # an issuer left out says nothing against the other's
        if theirs != ours:
            raise MetadataError(
                keyword,
                None,
                f"differs from the reference's {keyword}, and a study belongs to one "
                "patient (PS3.3 A.1.2): the new instance would file another patient's "
                "content in the reference's study",
                option=option,
            )


def _identifier(value: object) -> str:
    """Return an LO value as compared: its surrounding spaces are not significant (PS3.5 6.2)."""
    return "" if value is None else str(value).strip(" \x00")


def frame_of_reference_of(reference: str | os.PathLike[str] | Dataset) -> str | None:
    """Return the Frame of Reference UID of `reference` (C.7.4.1), or None when it has none.

    A model segmented from a CT series takes the CT's frame, so that its
    coordinates and the images' mean the same place (PS3.3 A.85.1.4.1 note).

    Raises
    ------
    dicomize.errors.InputError
        When the reference cannot be read.
    """
    ds = reference if isinstance(reference, Dataset) else _read(Path(reference))
    value = str(ds.get("FrameOfReferenceUID", "") or "").strip()
    return value or None


def _read(path: Path) -> Dataset:
    try:
        # stop_before_pixels and defer_size: the reference's pixels, and any other
        # large value, are never read into memory.
        return dcmread(path, stop_before_pixels=True, defer_size="64 KB")
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read the reference DICOM file ({exc})", path) from exc


def _name(reference: object) -> str | None:
    return None if isinstance(reference, Dataset) else str(reference)


def _plain(value: object) -> object:
    """Turn a pydicom value into what dicomize's metadata validation takes."""
    if isinstance(value, Sequence):
        return copy.deepcopy(value)
    if isinstance(value, MultiValue | list):
        return [_plain(item) for item in value]
    # PN, IS, DS and the rest go back to their text form, which validation takes.
    return value if isinstance(value, str) else str(value)


def _source_image(ds: Dataset) -> dict[str, Any]:
    instance = Dataset()
    instance.ReferencedSOPClassUID = ds.SOPClassUID
    instance.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    referenced_series = Dataset()
    referenced_series.SeriesInstanceUID = ds.SeriesInstanceUID
    referenced_series.ReferencedInstanceSequence = Sequence([copy.deepcopy(instance)])
    return {
        "SourceImageSequence": Sequence([instance]),
        # C.12.2: required when an instance references others in its own study.
        "ReferencedSeriesSequence": Sequence([referenced_series]),
    }
