"""Series and study consistency: each rule found in a set seeded with one disagreement.

The seeded sets are written as ``*.dicom``: they are deliberately inconsistent
inputs, so the autouse fixture (which judges ``*.dcm`` outputs as sets) leaves
them alone. dcentvfy, dicom3tools' judge of the same question, is held to what
``conftest.run_dcentvfy`` says it prints.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomize
from conftest import FULL_METADATA, dcmtk_tool, gradient, output_sets, run_dcentvfy
from dicomize.consistency import ConsistencyReport, check_consistency

Change = Callable[[pydicom.Dataset], None]


def _set(tmp_path: Path, *changes: Change | None, same_sop: bool = False) -> list[Path]:
    """Write one instance of one picture's series per change (None: as converted) to ``set/``.

    Each instance after the first gets its own SOP Instance UID (unless
    `same_sop`) and Instance Number, then its change.
    """
    folder = tmp_path / "set"
    folder.mkdir(exist_ok=True)
    encoded = io.BytesIO()
    dicomize.write(dicomize.convert(gradient(), FULL_METADATA), encoded)
    paths = []
    for index, change in enumerate(changes):
        ds = pydicom.dcmread(io.BytesIO(encoded.getvalue()))
        if index and not same_sop:
            ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{index}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = str(index + 1)
        if change is not None:
            change(ds)
        path = folder / f"{'abcdefgh'[index]}.dicom"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _setter(keyword: str, value: str) -> Change:
    def change(ds: pydicom.Dataset) -> None:
        setattr(ds, keyword, value)

    return change


def _rows(report: ConsistencyReport) -> list[tuple[str, str, str, str]]:
    return [(f.severity, f.rule, f.attribute, f.message) for f in report.findings]


def _uid(path: Path, keyword: str) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True)[keyword].value)


def test_one_conversion_of_several_pictures_is_consistent(tmp_path: Path) -> None:
    pictures = [np.roll(gradient(), index) for index in range(3)]
    for index, (_, ds) in enumerate(dicomize.convert_series(pictures, FULL_METADATA)):
        assert isinstance(ds, pydicom.Dataset)
        dicomize.write(ds, tmp_path / f"{index}.dcm")
    report = check_consistency([tmp_path])
    assert (report.files, report.studies, report.series, report.findings) == (3, 1, 1, ())
    assert report.ok


def test_two_files_with_one_sop_instance_uid_are_an_error_naming_both(tmp_path: Path) -> None:
    a, b = _set(tmp_path, None, None, same_sop=True)
    uid = _uid(a, "SOPInstanceUID")
    assert _rows(check_consistency([a, b])) == [
        (
            "error",
            "sop-instance-uid",
            "SOPInstanceUID",
            f"SOP Instance UID {uid} is in 2 files: {a}, {b} "
            "(PS3.3 C.12.1.1.1: one UID, one object)",
        )
    ]


def test_a_lossless_transcode_keeping_its_sop_instance_uid_is_still_two_files_for_one_uid(
    tmp_path: Path,
) -> None:
    # PS3.5 10: dcmtk keeps the UID of an object it transcodes; a receiver keeps one file.
    (a,) = _set(tmp_path, None)
    implicit = tmp_path / "set" / "implicit.dicom"
    subprocess.run([dcmtk_tool("dcmconv"), "+ti", str(a), str(implicit)], check=True, timeout=60)
    assert [f.rule for f in check_consistency([a, implicit]).errors] == ["sop-instance-uid"]
    verdict = run_dcentvfy([a, implicit])
    assert [e.split(" - ")[1] for e in verdict.errors] == ["Duplicate SOPInstanceUID"]


def test_a_file_named_twice_is_one_file_not_a_duplicate(tmp_path: Path) -> None:
    (a,) = _set(tmp_path, None)
    report = check_consistency([a, tmp_path / "set" / ".." / "set" / "a.dicom", tmp_path])
    assert (report.files, report.findings) == (1, ())


def test_a_series_under_two_studies_is_an_error(tmp_path: Path) -> None:
    a, b = _set(tmp_path, None, _setter("StudyInstanceUID", "2.25.7"))
    series, study = _uid(a, "SeriesInstanceUID"), _uid(a, "StudyInstanceUID")
    assert _rows(check_consistency([a, b])) == [
        (
            "error",
            "series-in-one-study",
            "StudyInstanceUID",
            f"StudyInstanceUID differs within series {series}: '{study}' in {a}, "
            f"'2.25.7' in {b} (PS3.3 A.1.2.3: a series is in one study)",
        )
    ]


STUDY_VALUES = {
    "PatientName": ("Doe^Jane", "Roe^Jim"),
    "PatientID": ("12345", "54321"),
    "IssuerOfPatientID": ("HOSP-A", "HOSP-B"),
    "PatientBirthDate": ("19800101", "19800102"),
    "PatientSex": ("F", "M"),
    "StudyDate": ("20250101", "20250102"),
    "StudyTime": ("120000", "120001"),
    "StudyID": ("S1", "S2"),
    "AccessionNumber": ("A778", "A779"),
    "ReferringPhysicianName": ("Who^Doctor", "Other^Doctor"),
    "StudyDescription": ("Wound photos", "Burns"),
}
SERIES_VALUES = {
    "Modality": ("OT", "XC"),
    "SeriesNumber": ("1", "2"),
    "Laterality": ("L", "R"),
    "BodyPartExamined": ("HAND", "FOOT"),
    "FrameOfReferenceUID": ("2.25.1", "2.25.2"),
    "SeriesDate": ("20250101", "20250102"),
    "SeriesTime": ("120000", "130000"),
    "SeriesDescription": ("Left hand", "Right foot"),
}


@pytest.mark.parametrize(
    ("keyword", "level"),
    [*((k, "study") for k in STUDY_VALUES), *((k, "series") for k in SERIES_VALUES)],
)
def test_two_values_of_a_study_or_series_attribute_are_an_error(
    keyword: str, level: str, tmp_path: Path
) -> None:
    first, second = {**STUDY_VALUES, **SERIES_VALUES}[keyword]
    a, b = _set(tmp_path, _setter(keyword, first), _setter(keyword, second))
    uid = _uid(a, f"{level.capitalize()}InstanceUID")
    section = {"study": "A.1.2.2", "series": "A.1.2.3"}[level]
    assert _rows(check_consistency([a, b])) == [
        (
            "error",
            level,
            keyword,
            f"{keyword} differs within {level} {uid}: '{first}' in {a}, '{second}' in {b} "
            f"(PS3.3 {section})",
        )
    ]


@pytest.mark.parametrize(
    ("keyword", "severity"),
    [
        ("PatientSex", "error"),  # Type 2 (C.7.1.1): empty says "unknown", the other knows
        ("AccessionNumber", "error"),  # Type 2 (C.7.2.1)
        ("SeriesNumber", "error"),  # Type 2 (C.7.3.1)
        ("StudyDescription", "warning"),  # Type 3: a writer may leave it out
        ("SeriesDescription", "warning"),
        ("Laterality", "warning"),  # Type 2C: its condition is per IOD
    ],
)
def test_a_value_in_one_instance_and_none_in_another_is_an_error_only_for_type_1_and_2(
    keyword: str, severity: str, tmp_path: Path
) -> None:
    value = {**STUDY_VALUES, **SERIES_VALUES}[keyword][1]
    a, b = _set(tmp_path, _setter(keyword, ""), _setter(keyword, value))
    report = check_consistency([a, b])
    assert [(f.severity, f.attribute) for f in report.findings] == [(severity, keyword)]
    assert f"no value in {a}, " in report.findings[0].message
    assert report.ok is (severity == "warning")


def test_absent_and_empty_are_the_same_no_value(tmp_path: Path) -> None:
    def remove(ds: pydicom.Dataset) -> None:
        del ds.PatientBirthDate

    a, b = _set(tmp_path, _setter("PatientBirthDate", ""), remove)
    assert check_consistency([a, b]).findings == ()


def test_values_equal_as_their_vr_reads_them_agree(tmp_path: Path) -> None:
    def rewrite(ds: pydicom.Dataset) -> None:
        ds.SeriesNumber = "01"  # IS: a number
        ds.PatientName = "Doe^Jane^^^"  # PS3.5 6.2.1.1: trailing empty components
        ds.StudyTime = f"{ds.StudyTime}.000"  # TM: a zero fraction

    a, b = _set(tmp_path, None, rewrite)
    assert check_consistency([a, b]).findings == ()


def test_two_series_of_one_study_sharing_a_series_number_is_only_a_warning(
    tmp_path: Path,
) -> None:
    a, b = _set(tmp_path, None, _setter("SeriesInstanceUID", "2.25.8"))
    study, series = _uid(a, "StudyInstanceUID"), _uid(a, "SeriesInstanceUID")
    report = check_consistency([a, b])
    assert _rows(report) == [
        (
            "warning",
            "series-number",
            "SeriesNumber",
            f"SeriesNumber 1 is shared by 2 series of study {study}: {series} in {a}, "
            f"2.25.8 in {b} (allowed, but a viewer lists them alike)",
        )
    ]
    assert report.ok


def test_one_patient_id_with_two_names_in_two_studies_is_only_a_warning(tmp_path: Path) -> None:
    def other_study(ds: pydicom.Dataset) -> None:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = "2.25.9", "2.25.10"
        ds.PatientName = "Doe^Janet"

    a, b = _set(tmp_path, None, other_study)
    report = check_consistency([a, b])
    assert _rows(report) == [
        (
            "warning",
            "patient",
            "PatientName",
            f"PatientName differs for Patient ID 12345 across 2 studies: 'Doe^Jane' in {a}, "
            f"'Doe^Janet' in {b} (PS3.3 A.1.2.1)",
        )
    ]
    assert report.ok


def test_a_value_shared_by_several_files_names_the_first_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    paths = _set(tmp_path, None, None, None, _setter("Modality", "XC"))
    series = _uid(paths[0], "SeriesInstanceUID")
    (finding,) = check_consistency(paths).findings
    assert finding.message == (
        f"Modality differs within series {series}: 'OT' in {paths[0]} (+2 more), "
        f"'XC' in {paths[3]} (PS3.3 A.1.2.3)"
    )
    assert finding.paths == (str(paths[0]), str(paths[3]))


def test_files_that_are_not_part_10_are_skipped_and_listed(tmp_path: Path) -> None:
    (a,) = _set(tmp_path, None)
    notes = tmp_path / "set" / "notes.txt"
    notes.write_text("not DICOM")
    headless = tmp_path / "set" / "headless.dicom"
    headless.write_bytes(a.read_bytes()[132:])  # no preamble, no "DICM"
    report = check_consistency([tmp_path / "set"])
    assert (report.files, report.findings) == (1, ())
    assert sorted(report.skipped) == sorted([str(notes), str(headless)])


def test_report_json_is_one_line_marked_as_the_consistency_check(tmp_path: Path) -> None:
    a, b = _set(tmp_path, None, _setter("Modality", "XC"))
    document = json.loads(check_consistency([a, b]).to_json())
    assert (document["check"], document["ok"], document["files"]) == ("consistency", False, 2)
    assert document["findings"][0]["attribute"] == "Modality"
    assert document["findings"][0]["paths"] == [str(a), str(b)]


def test_validate_cli_prints_the_set_after_the_files_and_fails_on_inconsistency(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    a, b = _set(tmp_path, None, _setter("Modality", "XC"))
    series = _uid(a, "SeriesInstanceUID")
    text = subprocess.run(
        [*dicomize_cli, "validate", str(tmp_path / "set")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert text.returncode == 1, text.stderr
    assert text.stdout.splitlines()[-2:] == [
        "consistency (2 files, 1 study, 1 series): INCONSISTENT, 1 error(s), 0 warning(s)",
        f"  error [series] Modality differs within series {series}: 'OT' in {a}, "
        f"'XC' in {b} (PS3.3 A.1.2.3)",
    ]
    machine = subprocess.run(
        [*dicomize_cli, "validate", str(a), str(b), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert machine.returncode == 1
    rows = [json.loads(line) for line in machine.stdout.splitlines()]
    assert [row.get("path") for row in rows] == [str(a), str(b), None]
    assert [row["ok"] for row in rows] == [True, True, False]  # each file is valid alone
    assert rows[-1]["check"] == "consistency"
    assert rows[-1]["findings"][0]["rule"] == "series"


def test_validate_cli_says_a_consistent_set_is_ok_and_quiet_says_nothing(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    _set(tmp_path, None, None, None)
    ok = subprocess.run(
        [*dicomize_cli, "validate", str(tmp_path / "set")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.splitlines()[-1] == "consistency (3 files, 1 study, 1 series): OK"
    quiet = subprocess.run(
        [*dicomize_cli, "validate", "-q", str(tmp_path / "set")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (quiet.returncode, quiet.stdout) == (0, "")


def test_dcentvfy_is_silent_on_a_consistent_set(tmp_path: Path) -> None:
    verdict = run_dcentvfy(_set(tmp_path, None, None, None))
    assert (verdict.returncode, verdict.output) == (0, "")


AGREED: dict[str, tuple[Change, str, str]] = {
    # name: (change, dicomize's attribute, dcentvfy's error)
    "modality": (
        _setter("Modality", "XC"),
        "Modality",
        "Error - String attribute has different value - Element=<Modality>",
    ),
    "series_number": (
        _setter("SeriesNumber", "7"),
        "SeriesNumber",
        "Error - Numeric string attribute has different value - Element=<SeriesNumber>",
    ),
    "patient_name": (
        _setter("PatientName", "Roe^Jim"),
        "PatientName",
        "Error - String attribute has different value - Element=<PatientName>",
    ),
    "study_date": (
        _setter("StudyDate", "20200101"),
        "StudyDate",
        "Error - String attribute has different value - Element=<StudyDate>",
    ),
    "series_in_two_studies": (
        _setter("StudyInstanceUID", "2.25.7"),
        "StudyInstanceUID",
        "Error - Different StudyInstanceUID for same SeriesInstanceUID",
    ),
    "patient_id": (
        _setter("PatientID", "999"),
        "PatientID",
        "Error - Different PatientID for same StudyInstanceUID",
    ),
}


@pytest.mark.parametrize("name", sorted(AGREED))
def test_dcentvfy_agrees_on_an_inconsistent_set(name: str, tmp_path: Path) -> None:
    change, attribute, message = AGREED[name]
    a, b = _set(tmp_path, None, change)
    assert attribute in [f.attribute for f in check_consistency([a, b]).errors]
    verdict = run_dcentvfy([a, b])
    assert verdict.returncode == 1
    assert any(line.startswith(message) for line in verdict.errors), verdict.output


def test_dcentvfy_calls_any_reused_sop_instance_uid_an_error_even_a_copy(
    tmp_path: Path,
) -> None:
    a, b = _set(tmp_path, None, None, same_sop=True)
    copy = tmp_path / "set" / "copy.dicom"
    copy.write_bytes(a.read_bytes())
    uid = _uid(a, "SOPInstanceUID")
    for twin in (b, copy):
        verdict = run_dcentvfy([a, twin])
        assert verdict.errors == [
            f"Error - Duplicate SOPInstanceUID - {uid} within Series for file <{twin}> versus <{a}>"
        ]
        assert [f.rule for f in check_consistency([a, twin]).errors] == ["sop-instance-uid"]


def test_dcentvfy_only_warns_where_one_file_lacks_a_value(tmp_path: Path) -> None:
    a, b = _set(tmp_path, _setter("PatientSex", ""), _setter("PatientSex", "M"))
    verdict = run_dcentvfy([a, b])
    assert verdict.errors == []
    assert verdict.warnings == [
        "Warning - Attribute is empty (zero length) in one instance - OK only If Type 2 "
        f"attribute in that IOD - Element=<PatientSex> IE=<Patient> for file <{a}> versus <{b}>"
    ]
    # dicomize is stricter: Type 2, "unknown" here and known there (module documentation).
    assert [f.attribute for f in check_consistency([a, b]).errors] == ["PatientSex"]


def test_output_sets_are_the_folders_directly_under_the_test_folder(tmp_path: Path) -> None:
    paths = [
        tmp_path / "a.dcm",
        tmp_path / "b.dcm",
        tmp_path / "run1" / "x.dcm",
        tmp_path / "run1" / "deep" / "y.dcm",
        tmp_path / "run2" / "x.dcm",
    ]
    assert output_sets(tmp_path, paths) == {
        "": paths[:2],
        "run1": paths[2:4],
        "run2": paths[4:],
    }
