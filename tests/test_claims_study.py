"""What dicomize claims of a study's patient and of a PDF's conversion is true (issue 30, 9-10).

A study belongs to one patient (PS3.3 A.1.2): joining a reference's study with
another Patient ID is refused, not noted. A PDF is made on a computer: it and
its rendered pages are Conversion Type ``WSD`` (C.8.6.1), unless the user says
it was scanned.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import FULL_METADATA, encode, gradient
from dicomize.reference import check_same_patient, reference_metadata
from test_documents import make_pdf


def _run(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A reference of patient 12345, issued by HOSP-A."""
    ds = dicomize.convert(gradient(), {**FULL_METADATA, "IssuerOfPatientID": "HOSP-A"})
    path = tmp_path / "reference.dicom"  # not *.dcm: the test's input, not an output
    dicomize.write(ds, path)
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "new.png"
    path.write_bytes(encode(Image.fromarray(gradient() // 2), "PNG"))
    return path


@pytest.mark.parametrize(
    ("flag", "given", "keyword"),
    [
        ("--study-from", ("--patient-id", "OTHER-77"), "PatientID"),
        ("--series-from", ("--patient-id", "OTHER-77"), "PatientID"),
        ("--study-from", ("--set", "IssuerOfPatientID=HOSP-B"), "IssuerOfPatientID"),
    ],
)
def test_joining_a_study_under_another_patient_is_refused_and_nothing_written(
    flag: str,
    given: tuple[str, str],
    keyword: str,
    reference: Path,
    photo: Path,
    tmp_path: Path,
    dicomize_cli: list[str],
) -> None:
    output = tmp_path / "new.dcm"
    result = _run(
        dicomize_cli, "convert", str(photo), "-o", str(output), flag, str(reference), *given
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    # The attribute, the reference's, the rule and the way out; never the values (patient data).
    assert f"{keyword}: differs from the reference's {keyword}" in lines[0]
    assert "A.1.2" in lines[0]
    assert flag in lines[0]
    assert "OTHER-77" not in lines[0]
    assert "HOSP-B" not in lines[0]
    assert not output.exists()


def test_the_same_patient_joins_and_a_respelled_name_is_only_noted(
    reference: Path, photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    # Same ID, same issuer: one patient, whatever the name's spelling.
    output = tmp_path / "new.dcm"
    result = _run(
        dicomize_cli,
        "convert",
        str(photo),
        "-o",
        str(output),
        "--study-from",
        str(reference),
        "--patient-id",
        "12345",
        "--patient-name",
        "DOE^JANE",
    )
    assert result.returncode == 0, result.stderr
    new = pydicom.dcmread(output)
    assert (new.PatientName, new.IssuerOfPatientID) == ("DOE^JANE", "HOSP-A")
    notes = [line for line in result.stderr.splitlines() if "replace the reference's" in line]
    assert notes == ["dicomize: note: given values replace the reference's PatientName"]


def test_an_issuer_only_one_side_names_is_no_contradiction(reference: Path) -> None:
    found = reference_metadata(reference)
    check_same_patient(found, {**found, "IssuerOfPatientID": ""})
    check_same_patient({**found, "IssuerOfPatientID": ""}, {**found, "IssuerOfPatientID": "X"})


def test_the_library_refuses_by_option_not_by_flag(reference: Path) -> None:
    found = reference_metadata(reference)
    with pytest.raises(dicomize.MetadataError) as refused:
        check_same_patient(found, {**found, "PatientID": "OTHER-77"}, option="study_from")
    assert refused.value.option == "study_from"
    assert "--" not in str(refused.value)
    assert "OTHER-77" not in str(refused.value)


def test_a_pdf_is_a_workstation_document_unless_the_user_says_scanned(tmp_path: Path) -> None:
    source = tmp_path / "consent.pdf"
    source.write_bytes(make_pdf())
    born_digital = dicomize.convert(source, FULL_METADATA)
    assert born_digital.ConversionType == "WSD"
    scanned = dicomize.convert(source, {**FULL_METADATA, "ConversionType": "SD"})
    assert scanned.ConversionType == "SD"


def test_pages_rendered_from_a_pdf_are_workstation_unless_the_user_says(tmp_path: Path) -> None:
    source = tmp_path / "pages.pdf"
    page = Image.fromarray(gradient(120, 90))
    page.save(source, save_all=True, append_images=[page], resolution=150)
    options = dicomize.ConvertOptions(pdf_as_images=True)
    rendered = dicomize.convert(source, FULL_METADATA, options=options)
    assert rendered.ConversionType == "WSD"
    given = dicomize.convert(source, {**FULL_METADATA, "ConversionType": "SI"}, options=options)
    assert given.ConversionType == "SI"
