"""dicomize validate: every seeded defect found with the right severity, on anyone's files."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageCms

import dicomize
from conftest import FULL_METADATA, dcmtk_tool, encode, gradient
from dicomize.validate import Verdict, validate_file
from test_documents import make_pdf
from test_models import binary_stl

#: Everything known, the side too: a good file draws no finding at all.
KNOWN = {**FULL_METADATA, "ImageLaterality": "L"}


def _good(source: object = None, **options: object) -> pydicom.Dataset:
    opts = dicomize.ConvertOptions(**options)  # type: ignore[arg-type]
    return dicomize.convert(gradient() if source is None else source, KNOWN, options=opts)


def _save(ds: pydicom.Dataset, tmp_path: Path, name: str) -> Path:
    # *.dicom: these are deliberately broken inputs, not outputs the suite must keep clean.
    path = tmp_path / f"{name}.dicom"
    ds.save_as(path, enforce_file_format=True)
    return path


def _finding(verdict: Verdict, severity: str, text: str) -> bool:
    return any(f.severity == severity and text in f.message for f in verdict.findings)


def _missing_patient_id(ds: pydicom.Dataset) -> None:
    del ds.PatientID


def _bad_date(ds: pydicom.Dataset) -> None:
    # Written as another tool would: without pydicom's value check.
    ds[0x00080020] = pydicom.DataElement(
        0x00080020, "DA", "2023-13-45", validation_mode=pydicom.config.IGNORE
    )


def _modality_sc(ds: pydicom.Dataset) -> None:
    ds.Modality = "SC"


def _truncated_pixels(ds: pydicom.Dataset) -> None:
    ds.PixelData = bytes(ds.PixelData)[:-100]


def _display_profile(ds: pydicom.Dataset) -> None:
    ds.ICCProfile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _lossy_syntax_marked_lossless(ds: pydicom.Dataset) -> None:
    ds.LossyImageCompression = "00"
    del ds.LossyImageCompressionMethod
    del ds.LossyImageCompressionRatio


def _garbage_fragment(ds: pydicom.Dataset) -> None:
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00\x11" * 500])


def _offset_table_count(ds: pydicom.Dataset) -> None:
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    fragment = frame + (b"\x00" if len(frame) % 2 else b"")
    table = b"\xfe\xff\x00\xe0" + (8).to_bytes(4, "little") + bytes(8)  # 2 entries, 1 frame
    item = b"\xfe\xff\x00\xe0" + len(fragment).to_bytes(4, "little") + fragment
    ds.PixelData = table + item + b"\xfe\xff\xdd\xe0" + bytes(4)


def _wrong_document_length(ds: pydicom.Dataset) -> None:
    ds.EncapsulatedDocumentLength = 5  # dciodvfy does not compare it with the value


def _two_concept_names(ds: pydicom.Dataset) -> None:
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "18748-4", "LN", "Report"
    ds.ConceptNameCodeSequence = [item, item]


def _inches(ds: pydicom.Dataset) -> None:
    ds.MeasurementUnitsCodeSequence[0].CodeValue = "[in_i]"


def _damaged_stl(ds: pydicom.Dataset) -> None:
    data = bytearray(ds.EncapsulatedDocument)
    data[84 + 12 : 84 + 16] = b"\xff\xff\xff\x7f"  # a NaN coordinate in facet 1
    ds.EncapsulatedDocument = bytes(data)


JPEG = encode(Image.fromarray(gradient()), "JPEG", quality=90)
STL = binary_stl()
PDF = make_pdf()
DEFECTS: dict[str, tuple[Callable[[pydicom.Dataset], None], object, str, str, str | None]] = {
    # name: (defect, source, severity, message part, attribute)
    "missing_patient_id": (
        _missing_patient_id,
        None,
        "error",
        "Missing attribute Type 2 Required Element=<PatientID>",
        "PatientID",
    ),
    "bad_date": (_bad_date, None, "error", "Value invalid for this VR", "Study Date"),
    "modality_sc": (_modality_sc, None, "warning", "Unrecognized defined term <SC>", "Modality"),
    "truncated_pixels": (_truncated_pixels, None, "error", "Pixel Data is", "PixelData"),
    "display_profile": (_display_profile, None, "warning", "device class is b'mntr'", "ICCProfile"),
    "lossy_marked_lossless": (
        _lossy_syntax_marked_lossless,
        JPEG,
        "error",
        "Lossy Image Compression is 00",
        "LossyImageCompression",
    ),
    "garbage_fragment": (_garbage_fragment, JPEG, "error", "the pixels do not decode", "PixelData"),
    "wrong_document_length": (
        _wrong_document_length,
        PDF,
        "error",
        "Encapsulated Document Length is 5",
        "EncapsulatedDocumentLength",
    ),
    "two_concept_names": (
        _two_concept_names,
        PDF,
        "error",
        "more than one item",
        "ConceptNameCodeSequence",
    ),
    "inches": (
        _inches,
        STL,
        "error",
        "'[in_i]' is not in CID 7063",
        "MeasurementUnitsCodeSequence",
    ),
    "damaged_stl": (_damaged_stl, STL, "error", "STL is damaged", "EncapsulatedDocument"),
    "offset_table_count": (
        _offset_table_count,
        JPEG,
        "error",
        "Basic Offset Table has 2 entries for 1 frame",
        "PixelData",
    ),
}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_seeded_defect_is_found_with_its_severity_and_attribute(name: str, tmp_path: Path) -> None:
    defect, source, severity, message, attribute = DEFECTS[name]
    ds = _good(source)
    defect(ds)
    verdict = validate_file(_save(ds, tmp_path, name))
    assert _finding(verdict, severity, message), verdict.findings
    matching = [f for f in verdict.findings if message in f.message]
    assert matching[0].attribute == attribute
    assert verdict.ok is (severity != "error")


def test_garbage_fragment_also_warns_that_it_does_not_start_with_soi(tmp_path: Path) -> None:
    ds = _good(JPEG)
    _garbage_fragment(ds)
    assert _finding(validate_file(_save(ds, tmp_path, "g")), "warning", "does not start with SOI")


def test_img2dcm_output_misses_laterality(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(JPEG)
    wrapped = tmp_path / "img2dcm.dicom"
    subprocess.run(
        [dcmtk_tool("img2dcm"), str(source), str(wrapped)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    verdict = validate_file(wrapped)
    assert verdict.iod == "SCImage"
    assert _finding(verdict, "error", "Element=<Laterality>")
    assert _finding(verdict, "warning", "DICOMDIR - Patient ID")


def test_not_a_dicom_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    verdict = validate_file(path)
    assert not verdict.ok
    assert "not a readable DICOM file" in verdict.errors[0].message


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"transfer_syntax": "deflated"},
        {"transfer_syntax": "jpeg-ls-lossless"},
        {"iod": "vl-photo"},
    ],
)
def test_dicomize_outputs_have_no_errors(options: dict[str, object], tmp_path: Path) -> None:
    output = tmp_path / "ok.dcm"
    dicomize.write(_good(**options), output)
    verdict = validate_file(output)
    assert verdict.ok, verdict.findings
    assert verdict.findings == ()
    assert verdict.iod in {"SCImage", "VLPhotographicImage"}


def test_cli_text_json_and_exit_codes(tmp_path: Path, dicomize_cli: list[str]) -> None:
    good = tmp_path / "good.dcm"
    dicomize.write(_good(), good)
    broken = _good()
    _missing_patient_id(broken)
    bad = _save(broken, tmp_path, "bad")

    ok = subprocess.run(
        [*dicomize_cli, "validate", str(good)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0
    assert ok.stdout.strip() == f"{good}: OK (SCImage)"
    both = subprocess.run(
        [*dicomize_cli, "validate", str(good), str(bad), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert both.returncode == 1
    *rows, consistency = [json.loads(line) for line in both.stdout.splitlines()]
    assert [row["ok"] for row in rows] == [True, False]
    # The set's verdict comes last: two conversions, two studies, nothing to compare.
    assert (consistency["check"], consistency["ok"], consistency["files"]) == (
        "consistency",
        True,
        2,
    )
    missing = [f for f in rows[1]["findings"] if "Element=<PatientID>" in f["message"]]
    assert missing[0]["attribute"] == "PatientID"
    assert missing[0]["severity"] == "error"
    assert missing[0]["source"] == "dciodvfy"


def test_verify_reports_an_invalid_output_as_failed(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "p.png"
    source.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    good = subprocess.run(
        [*dicomize_cli, "convert", str(source), "--verify", "-q", "--patient-id", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    broken = _good()
    _truncated_pixels(broken)
    bad = _save(broken, tmp_path, "broken")
    refused = subprocess.run(
        [*dicomize_cli, "send", str(bad), "--verify", "--to", "dicom://NOBODY@127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1
    assert "not sent: failed verification: PixelData has incorrect value length" in refused.stderr
    assert "cannot connect" not in refused.stderr  # nothing was sent at all


def test_batch_verify_counts_verified_outputs(tmp_path: Path) -> None:
    from dicomize.batch import plan_tree, run_batch

    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(3):
        (photos / f"{index}.png").write_bytes(
            encode(Image.fromarray(np.roll(gradient(), index)), "PNG")
        )
    summary = run_batch(
        plan_tree(photos, tmp_path / "out"), tmp_path / "out", workers=1, verify=True
    )
    assert (summary.converted, summary.failed) == (3, 0)
