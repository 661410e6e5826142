"""Joining the study a real PACS (Orthanc) holds: Study Root C-FIND and QIDO-RS, one match."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, assert_conforms
from peers import Orthanc


def _stored_study(folder: Path, orthanc: Orthanc, accession: str, patient_id: str) -> str:
    """Put a one-image study into Orthanc; return its Study Instance UID."""
    path = folder / f"{accession}.dcm"
    metadata = {**FULL_METADATA, "AccessionNumber": accession, "PatientID": patient_id,
                "StudyDescription": "Outside CT", "StudyDate": "20261201"}  # fmt: skip
    dicomize.write(dicomize.convert(np.zeros((8, 8), np.uint8), metadata), path)
    (result,) = dicomize.send_files([path], f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}")
    assert result.status == "stored", result.error
    return str(pydicom.dcmread(path).StudyInstanceUID)


def _cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("how", ["c-find", "qido-rs"])
def test_a_scan_joins_the_study_the_pacs_holds_for_its_accession(
    how: str, tmp_path: Path, orthanc: Orthanc, dicomize_cli: list[str]
) -> None:
    study = _stored_study(tmp_path, orthanc, "A778", "12345")
    _stored_study(tmp_path, orthanc, "A779", "67890")
    url = (
        f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}"
        if how == "c-find"
        else f"{orthanc.url}/dicom-web"
    )
    scan = tmp_path / "scan.png"
    Image.fromarray(np.full((48, 64), 200, np.uint8)).save(scan)
    output = tmp_path / "scan.dcm"
    result = _cli(dicomize_cli, "convert", str(scan), "-o", str(output),
                  "--find-study", url, "--accession", "A778")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    ds = pydicom.dcmread(output)
    assert (ds.StudyInstanceUID, ds.AccessionNumber, ds.PatientID) == (study, "A778", "12345")
    assert (str(ds.PatientName), ds.StudyDescription) == ("Doe^Jane", "Outside CT")
    # Stored beside the study's first image: the PACS shows one study with two series.
    (sent,) = dicomize.send_files([output], f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}")
    assert sent.status == "stored", sent.error
    studies = orthanc.get("/studies?expand")
    (joined,) = [s for s in studies if s["MainDicomTags"]["StudyInstanceUID"] == study]
    assert len(joined["Series"]) == 2


def test_no_study_or_several_is_refused_with_the_matches(
    tmp_path: Path, orthanc: Orthanc, dicomize_cli: list[str]
) -> None:
    _stored_study(tmp_path, orthanc, "A778", "12345")
    _stored_study(tmp_path, orthanc, "A779", "12345")
    url = f"{orthanc.url}/dicom-web"
    scan = tmp_path / "scan.png"
    Image.fromarray(np.full((48, 64), 200, np.uint8)).save(scan)
    none = _cli(dicomize_cli, "convert", str(scan), "--find-study", url, "--accession", "B1")
    assert none.returncode == 2
    assert none.stderr.strip() == f"dicomize: PACS {url}: no study matches the AccessionNumber"
    several = _cli(dicomize_cli, "convert", str(scan), "--find-study", url, "--patient-id", "12345")
    assert several.returncode == 2
    lines = several.stderr.strip().splitlines()
    assert lines[0] == f"dicomize: PACS {url}: 2 studies match the PatientID; narrow the query"
    assert sorted(line.split()[2] for line in lines[1:]) == ["A778", "A779"]
    assert not (tmp_path / "scan.dcm").exists()
