"""Attaching to what exists: a reference's patient, study and series; deterministic UIDs."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, assert_conforms, encode, gradient


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A reference file as another system might write it: Latin-1 text, a sequence, pixels."""
    ds = dicomize.convert(
        gradient(),
        {
            **FULL_METADATA,
            "InstanceNumber": "7",
            "Modality": "XC",
            "SeriesDescription": "Wound series",
        },
    )
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Jürgen"
    other = Dataset()
    other.PatientID = "OLD-99"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    path = tmp_path / "reference.dicom"  # not *.dcm: it is the test's input, not our output
    dicomize.write(ds, path)
    return path


def _run(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "new.png"
    path.write_bytes(encode(Image.fromarray(gradient() // 2), "PNG"))
    return path


def test_study_from_files_the_new_series_in_the_reference_study(
    reference: Path, photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    before = hashlib.sha256(reference.read_bytes()).hexdigest()
    output = tmp_path / "new.dcm"

    result = _run(
        dicomize_cli, "convert", str(photo), "-o", str(output), "--study-from", str(reference)
    )

    assert result.returncode == 0, result.stderr
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    ref, new = pydicom.dcmread(reference), pydicom.dcmread(output)
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "StudyID",
        "AccessionNumber",
        "StudyDescription",
        "ReferringPhysicianName",
    ):
        assert new[keyword].value == ref[keyword].value, keyword
    assert str(new.PatientName) == "Müller^Jürgen"
    assert new.SpecificCharacterSet == "ISO_IR 192"  # re-encoded as UTF-8
    assert new.OtherPatientIDsSequence[0].PatientID == "OLD-99"
    assert new.SeriesInstanceUID != ref.SeriesInstanceUID
    assert new.SOPInstanceUID != ref.SOPInstanceUID
    assert new.Modality == "OT"  # a new series of its own
    assert hashlib.sha256(reference.read_bytes()).hexdigest() == before


def test_series_from_joins_the_series_and_numbers_after_the_reference(
    reference: Path, photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    result = _run(
        dicomize_cli,
        "convert",
        str(photo),
        str(second),
        "-o",
        str(out),
        "--series-from",
        str(reference),
    )
    assert result.returncode == 0, result.stderr
    ref = pydicom.dcmread(reference)
    new = [pydicom.dcmread(out / name) for name in ("new.dcm", "second.dcm")]
    assert [int(ds.InstanceNumber) for ds in new] == [8, 9]
    for ds in new:
        assert ds.SeriesInstanceUID == ref.SeriesInstanceUID
        assert ds.StudyInstanceUID == ref.StudyInstanceUID
        assert (ds.Modality, ds.SeriesDescription) == ("XC", "Wound series")
    assert len({ds.SOPInstanceUID for ds in [*new, ref]}) == 3


def test_reference_pixel_data_is_never_read(reference: Path, photo: Path) -> None:
    data = reference.read_bytes()
    cut = data[: data.rindex(b"\xe0\x7f\x10\x00") + 20]  # Pixel Data element cut short
    reference.write_bytes(cut)
    with pytest.raises(Exception, match=r"."):
        pydicom.dcmread(reference).pixel_array  # noqa: B018  (the pixels really are broken)
    ds = dicomize.convert(photo, dicomize.reference_metadata(reference, series=True))
    assert (
        ds.SeriesInstanceUID
        == pydicom.dcmread(reference, stop_before_pixels=True).SeriesInstanceUID
    )


def test_explicit_values_win_and_are_reported_without_the_values(
    reference: Path, photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    output = tmp_path / "new.dcm"
    result = _run(
        dicomize_cli,
        "convert",
        str(photo),
        "-o",
        str(output),
        "--study-from",
        str(reference),
        "--study-description",
        "NEW-1",
        "--accession",
        "A778",
    )
    assert result.returncode == 0, result.stderr
    assert pydicom.dcmread(output).StudyDescription == "NEW-1"
    notes = [line for line in result.stderr.splitlines() if "replace the reference" in line]
    assert len(notes) == 1
    assert "StudyDescription" in notes[0]
    assert "AccessionNumber" not in notes[0]  # same value as the reference: no conflict
    assert "NEW-1" not in result.stderr
    assert "Wound photos" not in result.stderr


def test_source_image_references_the_reference_instance(
    reference: Path, photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    output = tmp_path / "derived.dcm"
    result = _run(
        dicomize_cli,
        "convert",
        str(photo),
        "-o",
        str(output),
        "--study-from",
        str(reference),
        "--source-image",
    )
    assert result.returncode == 0, result.stderr
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    ref, new = pydicom.dcmread(reference), pydicom.dcmread(output)
    source = new.SourceImageSequence[0]
    assert (source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID) == (
        ref.SOPClassUID,
        ref.SOPInstanceUID,
    )
    series = new.ReferencedSeriesSequence[0]  # Common Instance Reference, C.12.2
    assert series.SeriesInstanceUID == ref.SeriesInstanceUID
    assert series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == ref.SOPInstanceUID


def test_source_image_alone_and_unreadable_references_are_refused(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    result = _run(dicomize_cli, "convert", str(photo), "--source-image")
    assert result.returncode == 2
    assert "--source-image needs --study-from or --series-from" in result.stderr
    not_dicom = tmp_path / "not.dicom"
    not_dicom.write_bytes(b"hello")
    result = _run(dicomize_cli, "convert", str(photo), "--study-from", str(not_dicom))
    assert result.returncode == 2
    assert "cannot read the reference DICOM file" in result.stderr
    assert not photo.with_suffix(".dcm").exists()


def test_uid_seed_gives_the_same_uids_on_every_run(photo: Path) -> None:
    options = dicomize.ConvertOptions(uid_seed="wound-clinic-2026-11-26")
    first, second = (dicomize.convert(photo, FULL_METADATA, options=options) for _ in range(2))
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert first[keyword].value == second[keyword].value, keyword
        assert dicomize.dicom.uids.is_valid_uid(first[keyword].value)
    other = dicomize.convert(
        photo, FULL_METADATA, options=dicomize.ConvertOptions(uid_seed="another-seed")
    )
    assert other.SOPInstanceUID != first.SOPInstanceUID
    unseeded = [dicomize.convert(photo, FULL_METADATA) for _ in range(2)]
    assert unseeded[0].SOPInstanceUID != unseeded[1].SOPInstanceUID


def test_uid_seed_keeps_identical_pictures_distinct_and_honours_the_root() -> None:
    options = dicomize.ConvertOptions(uid_seed="s", uid_root="1.2.826.0.1.3680043.10.543")
    pictures = [gradient(), gradient(), gradient() // 3]
    uids = [
        ds.SOPInstanceUID
        for _, ds in dicomize.convert_series(pictures, options=options)
        if isinstance(ds, Dataset)
    ]
    assert len(set(uids)) == 3
    again = [
        ds.SOPInstanceUID
        for _, ds in dicomize.convert_series(pictures, options=options)
        if isinstance(ds, Dataset)
    ]
    assert again == uids
    assert all(uid.startswith("1.2.826.0.1.3680043.10.543.") and len(uid) <= 64 for uid in uids)


def test_one_series_per_input(tmp_path: Path) -> None:
    options = dicomize.ConvertOptions(series_per_input=True)
    results = [
        ds
        for _, ds in dicomize.convert_series(
            [gradient(), gradient(channels=1)],
            {**FULL_METADATA, "SeriesNumber": "5"},
            options=options,
        )
    ]
    assert all(isinstance(ds, Dataset) for ds in results)
    datasets = [ds for ds in results if isinstance(ds, Dataset)]
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 2
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert [int(ds.SeriesNumber) for ds in datasets] == [5, 6]
    assert [int(ds.InstanceNumber) for ds in datasets] == [1, 1]
    for index, ds in enumerate(datasets):
        path = tmp_path / f"s{index}.dcm"
        dicomize.write(ds, path)
        assert_conforms(path, allowed_warnings=(LATERALITY_UNKNOWN,))


def test_api_reference_metadata_accepts_a_dataset() -> None:
    ref = dicomize.convert(np.zeros((2, 2), np.uint8), {"PatientID": "P1"})
    meta = dicomize.reference_metadata(ref, series=True, source_image=True)
    assert meta["SeriesInstanceUID"] == ref.SeriesInstanceUID
    new = dicomize.convert(np.ones((2, 2), np.uint8), meta)
    assert new.SourceImageSequence[0].ReferencedSOPInstanceUID == ref.SOPInstanceUID
    assert new.PatientID == "P1"
