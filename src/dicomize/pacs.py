"""Join a study the PACS already holds: Study Root C-FIND or QIDO-RS, exactly one study.

:func:`find_study` asks ``dicom://AET@host:port`` (Study Root Query/Retrieve
Information Model - FIND, PS3.4 C.6.2, at STUDY level) or a DICOMweb root
(QIDO-RS ``/studies``, PS3.18 10.6) for the studies matching an accession number,
or a patient ID and a study date. One must match, as for the worklist: none or
several is a :class:`~dicomize.errors.QueryError` listing what matched.
:func:`study_metadata` turns the match into the Patient and General Study
attributes that file a new object into that study, checked like a user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# At run time, not for the type checker only: StudyMatch holds one, and its annotations
# resolve (typing.get_type_hints). Only a query of a PACS loads this module.
from pydicom.dataset import Dataset

from dicomize.dicom.uids import STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND
from dicomize.errors import ConfigError, MetadataError, QueryError
from dicomize.options import SendOptions
from dicomize.send.destination import DimseDestination, parse_destination

__all__ = ["StudyMatch", "StudyQuery", "find_study", "study_metadata"]

#: Patient (C.7.1.1) and General Study (C.7.2.1) attributes returned and copied, with their
#: Type in the object: 1 and 2 are refused when invalid, 3 left out.
_COPIED: dict[str, int] = {
    "PatientName": 2,
    "PatientID": 2,
    "IssuerOfPatientID": 3,
    "PatientBirthDate": 2,
    "PatientSex": 2,
    "StudyInstanceUID": 1,
    "StudyDate": 2,
    "StudyTime": 2,
    "StudyID": 2,
    "AccessionNumber": 2,
    "ReferringPhysicianName": 2,
    "StudyDescription": 3,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class StudyQuery:
    """The keys that find one study: an accession number, or a patient ID and a date."""

    accession: str | None = None
    patient_id: str | None = None
    study_date: str | None = None

    def __post_init__(self) -> None:
        if not self.accession and not self.patient_id:
            raise ConfigError("finding a study needs accession, or patient_id (and study_date)")

    def keys(self) -> dict[str, str]:
        """Return the matching keys by keyword (empty ones left out)."""
        found = {
            "AccessionNumber": self.accession,
            "PatientID": self.patient_id,
            "StudyDate": self.study_date,
        }
        return {keyword: value for keyword, value in found.items() if value}


@dataclass(frozen=True, kw_only=True, slots=True)
class StudyMatch:
    """One study the PACS answered with."""

    dataset: Dataset

    def summary(self, *, names: bool = False) -> dict[str, str]:
        """Describe the study in a line's worth (the patient only when asked)."""
        ds = self.dataset
        out = {
            "date": str(ds.get("StudyDate", "")),
            "time": str(ds.get("StudyTime", ""))[:6],
            "accession": str(ds.get("AccessionNumber", "")),
            "modality": "",
            "procedure": str(ds.get("StudyDescription", "")),
        }
        if names:
            out["patient_id"] = str(ds.get("PatientID", ""))
            out["patient_name"] = str(ds.get("PatientName", ""))
        return out


def find_study(url: str, query: StudyQuery, options: SendOptions | None = None) -> StudyMatch:
    """Return the one study on the PACS at `url` that matches `query`.

    Raises
    ------
    QueryError
        None matches, several do (``items`` holds them), or the PACS cannot be asked.
    """
    options = options or SendOptions()
    target = parse_destination(url)
    if isinstance(target, DimseDestination):
        matches = _c_find(target, query, options)
    else:
        matches = _qido(target.url, query, options)
    keys = ", ".join(query.keys())  # by keyword only: the values are patient data
    if not matches:
        raise QueryError(f"PACS {url}: no study matches the {keys}")
    if len(matches) > 1:
        raise QueryError(
            f"PACS {url}: {len(matches)} studies match the {keys}; narrow the query", matches
        )
    return matches[0]


def _identifier(query: StudyQuery) -> Dataset:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in _COPIED:
        setattr(ds, keyword, "")
    for keyword, value in query.keys().items():
        setattr(ds, keyword, value)
    return ds


def _c_find(target: DimseDestination, query: StudyQuery, options: SendOptions) -> list[StudyMatch]:
    from dicomize.send.dimse import c_find  # pynetdicom only for a query

    found = c_find(
        target,
        _identifier(query),
        STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
        options,
        "PACS",
    )
    return [StudyMatch(dataset=identifier) for identifier in found]


def _qido(root: str, query: StudyQuery, options: SendOptions) -> list[StudyMatch]:
    import httpx
    from pydicom.dataset import Dataset

    from dicomize.send.stow import client_settings

    params: list[tuple[str, str | int | float | bool | None]] = list(query.keys().items())
    params += [("includefield", keyword) for keyword in _COPIED]
    try:
        with httpx.Client(**client_settings(options)) as client:
            response = client.get(f"{root}/studies", params=params)
    except httpx.HTTPError as exc:
        raise QueryError(f"PACS {root}: cannot reach it ({type(exc).__name__})") from None
    if response.status_code == 204:  # noqa: PLR2004  (PS3.18 8.3.4.4: no match)
        return []
    if response.status_code >= 300:  # noqa: PLR2004
        raise QueryError(f"PACS {root}: HTTP {response.status_code} {response.reason_phrase}")
    try:
        document = response.json()
        return [StudyMatch(dataset=Dataset.from_json(item)) for item in document]
    except (ValueError, TypeError, KeyError) as exc:
        raise QueryError(f"PACS {root}: the answer is not DICOM JSON ({exc})") from None


def study_metadata(match: StudyMatch) -> tuple[dict[str, Any], list[str]]:
    """Return the attributes that file a new object into the matched study, and notes.

    Raises
    ------
    MetadataError
        When a Type 1 or 2 value the PACS returned breaks its VR's rules.
    """
    from dicomize.dicom.vr import validate_attribute

    out: dict[str, Any] = {}
    notes: list[str] = []
    ds = match.dataset
    for keyword, kind in _COPIED.items():
        value = ds.get(keyword)
        if value in (None, ""):
            continue
        text = value if isinstance(value, str) else str(value)
        try:
            validate_attribute(keyword, text)
        except MetadataError as exc:
            if kind < 3:  # noqa: PLR2004
                raise MetadataError(keyword, text, f"from the PACS: {exc.rule}") from None
            notes.append(f"the PACS's {keyword} is invalid ({exc.rule}); left out")
            continue
        out[keyword] = text
    return out, notes
