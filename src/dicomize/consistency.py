"""Do these DICOM files agree with each other? Study and series attributes across instances.

dciodvfy judges one file at a time; it cannot see that two files of one series
name different modalities. The DICOM model of the real world (PS3.3 A.1.2)
says what a set of instances must share, and :func:`check_consistency` checks
it over any set of Part 10 files, dicomize's or anyone's:

* **SOP Instance UID**: different files never share one (PS3.3 C.12.1.1.1,
  PS3.5 9: a UID identifies one object). Error, even for a copy or a lossless
  transcode (which keeps the UID): a receiver keeps one of the two files.
* **One series, one study**: a Series Instance UID under two Study Instance
  UIDs (PS3.3 A.1.2.3: each series is associated with exactly one study). Error.
* **Study**: within a Study Instance UID, the Patient (C.7.1.1) and General
  Study (C.7.2.1) attributes are one entity's: Patient's Name, Patient ID,
  Issuer of Patient ID, Birth Date, Sex, Study Date and Time, Study ID,
  Accession Number, Referring Physician's Name and Study Description.
* **Series**: within a Series Instance UID, Modality (A.1.2.3: "all composite
  instances within a series must be of the same modality"), Series Number,
  Laterality, Body Part Examined, Series Date and Time, Series Description
  (C.7.3.1) and Frame of Reference UID (A.1.2.3: a series has at most one
  Frame of Reference).
* **Series Number**: two series of one study with the same number. The
  standard does not forbid it, but viewers list both as "series 1". Warning.
* **Patient**: one Patient ID (and issuer) with different Patient's Names,
  Birth Dates or Sexes in different studies. Warning: demographics are
  corrected between studies; within one study the Study rule makes it an error.

Absent and empty are the same here: no value. Two different values are an
error. A value in one instance and none in another is an error for Type 1 and 2
attributes of the Patient, General Study and General Series modules (the
entity is known in one place and "unknown" in the other, and a PACS keeps
whichever came first), and a warning for Type 3 and conditional ones, which a
writer may leave out of an instance. Values are compared as the VR reads
them: numbers as numbers (``"01"`` is Series Number 1), times without trailing
zero fractions, person names without trailing empty components (PS3.5 6.2.1.1),
text without its padding.

Each file is read up to the attributes above and forgotten: the check keeps,
per study and series, each distinct value with the first file that has it and
a count, so a folder of any size costs memory per study, not per file (and one
path per SOP Instance UID).

>>> report = check_consistency([])
>>> report.ok, report.files
(True, 0)
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from dicomize.dicom.uids import MEDIA_STORAGE_DIRECTORY_STORAGE
from dicomize.files import walk_files

__all__ = [
    "SERIES_ATTRIBUTES",
    "STUDY_ATTRIBUTES",
    "ConsistencyFinding",
    "ConsistencyReport",
    "check_consistency",
]

#: Keyword: whether a value in one instance and none in another is an error
#: (Type 1 and 2) rather than a warning (Type 3, conditional).
STUDY_ATTRIBUTES: dict[str, bool] = {
    # PS3.3 C.7.1.1 Patient Module
    "PatientName": True,
    "PatientID": True,
    "IssuerOfPatientID": False,
    "PatientBirthDate": True,
    "PatientSex": True,
    # PS3.3 C.7.2.1 General Study Module
    "StudyDate": True,
    "StudyTime": True,
    "ReferringPhysicianName": True,
    "StudyID": True,
    "AccessionNumber": True,
    "StudyDescription": False,
}
SERIES_ATTRIBUTES: dict[str, bool] = {
    # PS3.3 C.7.3.1 General Series Module (Laterality is Type 2C)
    "Modality": True,
    "SeriesNumber": True,
    "Laterality": False,
    "BodyPartExamined": False,
    "SeriesDate": False,
    "SeriesTime": False,
    "SeriesDescription": False,
    # PS3.3 C.7.4.1: Type 1, but the Frame of Reference Module is in some IODs only
    "FrameOfReferenceUID": False,
    # PS3.3 C.7.4.2 (Ophthalmic Photography): Frame of Reference IE, one per series
    "SynchronizationFrameOfReferenceUID": False,
}
_PATIENT_ATTRIBUTES = ("PatientName", "PatientBirthDate", "PatientSex")
_UIDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_READ = (*_UIDS, *STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES)
#: PS3.6 Table A-1: the Media Storage Directory (DICOMDIR) is not a composite instance.
_NO_VALUE = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsistencyFinding:
    """One disagreement between files of a set.

    Attributes
    ----------
    severity : str
        ``"error"`` or ``"warning"``.
    rule : str
        Which rule: ``"sop-instance-uid"``, ``"series-in-one-study"``,
        ``"study"``, ``"series"``, ``"series-number"`` or ``"patient"``.
    attribute : str
        The keyword of the attribute the files disagree on.
    message : str
        One line: the attribute, the values, and the files that hold them.
    paths : tuple of str
        The files named in the message (the first file of each value).
    """

    severity: str
    rule: str
    attribute: str
    message: str
    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsistencyReport:
    """What :func:`check_consistency` found in a set of files.

    Attributes
    ----------
    files : int
        The DICOM instances read.
    studies, series : int
        The distinct Study and Series Instance UIDs among them.
    findings : tuple of ConsistencyFinding
        Errors and warnings, rule by rule, in the order the files came.
    skipped : tuple of str
        Files passed over: not DICOM Part 10, unreadable, or a DICOMDIR.
    """

    files: int
    studies: int
    series: int
    findings: tuple[ConsistencyFinding, ...]
    skipped: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[ConsistencyFinding, ...]:
        """The findings of severity error."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[ConsistencyFinding, ...]:
        """The findings of severity warning."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return not self.errors

    def to_json(self) -> str:
        """Return the report as one JSON line, ``"check": "consistency"`` first."""
        document = {"check": "consistency", "ok": self.ok, **asdict(self)}
        return json.dumps(document, ensure_ascii=False)


def check_consistency(paths: Iterable[str | os.PathLike[str]]) -> ConsistencyReport:
    """Check that DICOM files agree on their patient, study and series attributes.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Files, and folders whose files (hidden ones passed over) are read. A
        file that is not DICOM Part 10 is skipped and listed, not an error:
        :func:`dicomize.validate_file` judges files one by one.

    Returns
    -------
    ConsistencyReport
        The findings (see the module's documentation for the rules), and the
        files skipped.

    Examples
    --------
    >>> import tempfile, numpy as np, dicomize
    >>> folder = tempfile.mkdtemp()
    >>> ds = dicomize.convert(np.zeros((2, 2), np.uint8), dicomize.Metadata(patient_id="1"))
    >>> dicomize.write(ds, f"{folder}/a.dcm")
    >>> ds.Modality = "XC"
    >>> ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "2.25.1"
    >>> dicomize.write(ds, f"{folder}/b.dcm")
    >>> report = check_consistency([folder])
    >>> report.ok, [f.attribute for f in report.errors]
    (False, ['Modality'])
    """
    tally = _Tally()
    for _, path in walk_files(paths):
        tally.add(str(path))
    return tally.report()


class _Seen:
    """One distinct value of an attribute: as first written, its first file, how many files."""

    __slots__ = ("count", "display", "first")

    def __init__(self, display: str, first: str, count: int = 1) -> None:
        self.display = display
        self.first = first
        self.count = count


#: Per attribute keyword, each distinct (normalised) value, _NO_VALUE for none.
_Values = dict[str, dict[str, _Seen]]


class _Series:
    __slots__ = ("studies", "values")

    def __init__(self) -> None:
        self.values: _Values = {}
        self.studies: dict[str, _Seen] = {}


class _Tally:
    """What the files read so far say, kept per study and series, not per file."""

    def __init__(self) -> None:
        self.files = 0
        self.read: set[str] = set()  # real paths: a file named twice is one file
        self.skipped: list[str] = []
        self.sop: dict[str, str] = {}  # SOP Instance UID: its first file
        self.duplicates: dict[str, list[str]] = {}  # SOP Instance UID: all its files
        self.studies: dict[str, _Values] = {}
        self.series: dict[str, _Series] = {}

    def add(self, path: str) -> None:
        real = os.path.realpath(path)
        if real in self.read:
            return
        self.read.add(real)
        values = _read(path)
        if values is None:
            self.skipped.append(path)
            return
        self.files += 1
        sop, study, series = (values.get(uid, (_NO_VALUE, ""))[0] for uid in _UIDS)
        if sop:
            first = self.sop.setdefault(sop, path)
            if first is not path:
                self.duplicates.setdefault(sop, [first]).append(path)
        if study:
            _note(self.studies.setdefault(study, {}), STUDY_ATTRIBUTES, values, path)
        if series:
            group = self.series.setdefault(series, _Series())
            _note(group.values, SERIES_ATTRIBUTES, values, path)
            if study:
                _count(group.studies, study, study, path)

    def report(self) -> ConsistencyReport:
        findings = [_duplicate(uid, paths) for uid, paths in self.duplicates.items()]
        for uid, group in self.series.items():
            if len(group.studies) > 1:
                findings.append(
                    ConsistencyFinding(
                        severity="error",
                        rule="series-in-one-study",
                        attribute="StudyInstanceUID",
                        message=f"StudyInstanceUID differs within series {uid}: "
                        f"{_listing(group.studies)} (PS3.3 A.1.2.3: a series is in one study)",
                        paths=_paths(group.studies),
                    )
                )
        for uid, values in self.studies.items():
            findings += _differences(values, STUDY_ATTRIBUTES, "study", uid)
        for uid, group in self.series.items():
            findings += _differences(group.values, SERIES_ATTRIBUTES, "series", uid)
        findings += self._shared_series_numbers()
        findings += self._patients()
        return ConsistencyReport(
            files=self.files,
            studies=len(self.studies),
            series=len(self.series),
            findings=tuple(findings),
            skipped=tuple(self.skipped),
        )

    def _shared_series_numbers(self) -> list[ConsistencyFinding]:
        numbers: dict[tuple[str, str], dict[str, _Seen]] = {}  # (study, number): series
        for uid, group in self.series.items():
            for study in group.studies:
                for number, seen in group.values.get("SeriesNumber", {}).items():
                    if number != _NO_VALUE:
                        numbers.setdefault((study, number), {})[uid] = seen
        findings = []
        for (study, number), series in numbers.items():
            if len(series) > 1:
                listing = ", ".join(f"{uid} in {seen.first}" for uid, seen in series.items())
                findings.append(
                    ConsistencyFinding(
                        severity="warning",
                        rule="series-number",
                        attribute="SeriesNumber",
                        message=f"SeriesNumber {number} is shared by {len(series)} series of study "
                        f"{study}: {listing} (allowed, but a viewer lists them alike)",
                        paths=_paths(series),
                    )
                )
        return findings

    def _patients(self) -> list[ConsistencyFinding]:
        # Patient ID and its issuer identify the patient (PS3.3 C.7.1.1): the values of
        # the studies of one patient are pooled, with the studies that hold each.
        pooled: dict[tuple[str, str, str], dict[str, tuple[_Seen, set[str]]]] = {}
        for study, values in self.studies.items():
            ids = [next(iter(values[key])) if len(values[key]) == 1 else None for key in _KEYS]
            if not ids[0] or ids[1] is None:  # no Patient ID, or a study that disagrees
                continue
            for keyword in _PATIENT_ATTRIBUTES:
                pool = pooled.setdefault((ids[0], ids[1], keyword), {})
                for value, seen in values[keyword].items():
                    if value != _NO_VALUE:
                        entry, holders = pool.setdefault(
                            value, (_Seen(seen.display, seen.first, 0), set())
                        )
                        entry.count += seen.count
                        holders.add(study)
        findings = []
        for (patient_id, _, keyword), pool in pooled.items():
            among = set().union(*(holders for _, holders in pool.values()))
            if len(pool) > 1 and len(among) > 1:
                first = {value: entry for value, (entry, _) in pool.items()}
                findings.append(
                    ConsistencyFinding(
                        severity="warning",
                        rule="patient",
                        attribute=keyword,
                        message=f"{keyword} differs for Patient ID {patient_id} across "
                        f"{len(among)} studies: {_listing(first)} (PS3.3 A.1.2.1)",
                        paths=_paths(first),
                    )
                )
        return findings


_KEYS = ("PatientID", "IssuerOfPatientID")


def _duplicate(uid: str, paths: list[str]) -> ConsistencyFinding:
    # Even a lossless transcode of one object, which keeps its UID (PS3.5 10), is one
    # object in two files: a receiver keeps one of them.
    return ConsistencyFinding(
        severity="error",
        rule="sop-instance-uid",
        attribute="SOPInstanceUID",
        message=f"SOP Instance UID {uid} is in {len(paths)} files: {', '.join(paths)} "
        "(PS3.3 C.12.1.1.1: one UID, one object)",
        paths=tuple(paths),
    )


def _note(
    values: _Values, keywords: dict[str, bool], read: dict[str, tuple[str, str]], path: str
) -> None:
    for keyword in keywords:
        value, display = read.get(keyword, (_NO_VALUE, ""))
        _count(values.setdefault(keyword, {}), value, display, path)


def _count(seen: dict[str, _Seen], value: str, display: str, path: str) -> None:
    entry = seen.get(value)
    if entry is None:
        seen[value] = _Seen(display, path)
    else:
        entry.count += 1


def _differences(
    values: _Values, keywords: dict[str, bool], level: str, uid: str
) -> list[ConsistencyFinding]:
    findings = []
    for keyword, required in keywords.items():
        seen = values.get(keyword, {})
        if len(seen) < 2:  # noqa: PLR2004  (one value everywhere: consistent)
            continue
        given = len(seen) - (_NO_VALUE in seen)
        severity = "error" if given > 1 or required else "warning"
        findings.append(
            ConsistencyFinding(
                severity=severity,
                rule=level,
                attribute=keyword,
                message=f"{keyword} differs within {level} {uid}: {_listing(seen)} ({_WHY[level]})",
                paths=_paths(seen),
            )
        )
    return findings


#: Where the standard says the entity has one value of each of its attributes.
_WHY = {"study": "PS3.3 A.1.2.2", "series": "PS3.3 A.1.2.3"}


def _listing(seen: dict[str, _Seen]) -> str:
    parts = []
    for value, entry in seen.items():
        more = f" (+{entry.count - 1} more)" if entry.count > 1 else ""
        shown = repr(entry.display) if value != _NO_VALUE else "no value"
        parts.append(f"{shown} in {entry.first}{more}")
    return ", ".join(parts)


def _paths(seen: dict[str, _Seen]) -> tuple[str, ...]:
    return tuple(entry.first for entry in seen.values())


def _read(path: str) -> dict[str, tuple[str, str]] | None:
    """Return ``{keyword: (normalised, as written)}`` for each value; None: skip the file."""
    from pydicom import dcmread  # pydicom only when files are read

    with warnings.catch_warnings():
        # A value that breaks its VR is validate_file's finding; here it is only compared.
        warnings.simplefilter("ignore")
        try:
            with Path(path).open("rb") as stream:
                if stream.read(132)[128:] != b"DICM":  # PS3.10 7.1: preamble, then "DICM"
                    return None
            ds = dcmread(path, stop_before_pixels=True, specific_tags=list(_READ))
        except Exception:  # any file pydicom cannot read is skipped, not a crash
            return None
        if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY_STORAGE:
            return None
        found = {}
        for keyword in _READ:
            if keyword not in ds:
                continue
            try:
                element = ds[keyword]
                # VM 1 is the value itself; more are a MultiValue of them (PS3.5 6.4)
                values = element.value if element.VM > 1 else [element.value]
                texts = ["" if v is None else str(v) for v in values]
            except Exception:  # a value pydicom cannot convert: compare what is written
                raw = ds.get_item(keyword).value
                texts = (raw or b"").decode("latin-1").split("\\")
            value = _value(texts, _vr(keyword))
            if value is not None:
                found[keyword] = value
    return found


def _vr(keyword: str) -> str:
    from pydicom.datadict import dictionary_VR

    return str(dictionary_VR(keyword))


def _value(values: list[str], vr: str) -> tuple[str, str] | None:
    """Return ``(normalised, as written)`` for comparing, or None for no value."""
    parts = [value.strip(" \0") for value in values]
    written = "\\".join(parts)
    if not "".join(parts):
        return None
    if vr in {"IS", "DS"}:
        parts = [_number(part) for part in parts]
    elif vr == "TM":
        # PS3.5 6.2: "070907.0705" and "070907.070500" are one time
        parts = [part.rstrip("0").rstrip(".") if "." in part else part for part in parts]
    elif vr == "PN":
        # PS3.5 6.2.1.1: trailing empty components and groups, and their delimiters, may go
        parts = [
            "=".join(group.rstrip("^") for group in part.split("=")).rstrip("=") for part in parts
        ]
    return "\\".join(parts), written


def _number(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else repr(number)
