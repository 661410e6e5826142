"""Every picture IOD of the registry, from every front door: valid, bit-exact, scan-kept.

Each picture row of ``dicomize.iods.IODS`` is converted from a lossless PNG (pixels
compared bit for bit) and a JPEG (its codestream compared byte for byte), by
``convert``, by a batch manifest's ``iod`` column, by ``watch --iod`` and through
the web page's IOD list, and judged by the real dciodvfy. A new picture IOD is
tested here by adding its row; what only a user can give an IOD is in
:data:`NEEDS`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames

from conftest import LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, assert_conforms, encode, gradient
from dicomize.iods import IODS, chosen
from dicomize.service.web.visits import iod_choices
from test_serve import Server, _visit, _wait_for_states, serving  # noqa: F401  (the fixture)

#: What the user must give an IOD (the others need nothing beyond a patient).
NEEDS: dict[str, dict[str, Any]] = {
    "ophthalmic": {
        "ImageLaterality": "L",
        "AcquisitionDateTime": "20261204101500",
        "AcquisitionDeviceTypeCodeSequence": [
            {
                "CodeValue": "409898007",
                "CodingSchemeDesignator": "SCT",
                "CodeMeaning": "Fundus Camera",
            }
        ],
    },
}
NEEDS["dermoscopic"] = {
    # Enhanced General Equipment (Type 1) names the dermoscope; EXIF serials are never copied.
    "Manufacturer": "Heine",
    "ManufacturerModelName": "Delta 30",
    "DeviceSerialNumber": "D30-0042",
    "SoftwareVersions": "1.2",
}
#: dciodvfy's name for each SOP Class dicomize writes for a picture.
DCIODVFY_NAMES = {
    "1.2.840.10008.5.1.4.1.1.7": "SCImage",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VLPhotographicImage",
    "1.2.840.10008.5.1.4.1.1.77.1.1": "VLEndoscopicImage",
    "1.2.840.10008.5.1.4.1.1.77.1.2": "VLMicroscopicImage",
    "1.2.840.10008.5.1.4.1.1.77.1.5.1": "OphthalmicPhotography8BitImage",
    "1.2.840.10008.5.1.4.1.1.77.1.5.2": "OphthalmicPhotography16BitImage",
    "1.2.840.10008.5.1.4.1.1.77.1.7": "DermoscopicPhotographyImage",
}
#: What dciodvfy 20260927 says of a correct object, and why it is wrong to.
KNOWN_WARNINGS = {
    # DMS is the Modality C.8.12.1 and CID 33 give Dermoscopy, and dciodvfy's own
    # Dermoscopic pseudo-module enumerates it, but its list of Defined Terms lacks it.
    "dermoscopic": ("Unrecognized defined term = <DMS>", "Unrecognized defined term <DMS>"),
}
PICTURE_IODS = [iod.name for iod in chosen("picture")]


def _metadata(tmp_path: Path, iod: str, extra: dict[str, Any] | None = None) -> list[str]:
    given = {
        "PatientID": "P1",
        "PatientName": "Doe^Jane",
        "StudyID": "S1",
        **NEEDS.get(iod, {}),
        **(extra or {}),
    }
    path = tmp_path / f"{iod}.json"
    path.write_text(json.dumps(given), encoding="utf-8")
    return ["--metadata", str(path)]


def _scan(codestream: bytes) -> bytes:
    return codestream[codestream.index(b"\xff\xda") : codestream.rindex(b"\xff\xd9") + 2]


def _convert(
    cli: list[str], tmp_path: Path, source: Path, iod: str, **extra: Any
) -> pydicom.Dataset:
    """Convert `source` as `iod` with the command line; return the object, judged."""
    output = source.with_suffix(".dcm")
    command = [*cli, "convert", str(source), "-o", str(output), "--iod", iod]
    result = subprocess.run(
        [*command, *_metadata(tmp_path, iod, extra)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return _judge(output, iod)


def _judge(path: Path, iod: str, *unknown: str) -> pydicom.Dataset:
    """Judge an object; `unknown` are the warnings of what its front door does not give."""
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID in IODS[iod].sop_classes
    assert ds.Modality == IODS[iod].modality
    # The side is not given (but for Ophthalmic, which needs it): Laterality says unknown.
    assert_conforms(
        path,
        iod=DCIODVFY_NAMES[ds.SOPClassUID],
        allowed_warnings=(*KNOWN_WARNINGS.get(iod, ()), LATERALITY_UNKNOWN, *unknown),
    )
    return ds


@pytest.mark.parametrize("iod", PICTURE_IODS)
def test_a_png_is_stored_bit_exact_with_nothing_for_dciodvfy_to_say(
    tmp_path: Path, dicomize_cli: list[str], iod: str
) -> None:
    pixels = gradient()
    source = tmp_path / "p.png"
    source.write_bytes(encode(Image.fromarray(pixels), "PNG"))
    ds = _convert(dicomize_cli, tmp_path, source, iod)
    assert np.array_equal(ds.pixel_array, pixels)


@pytest.mark.parametrize("iod", PICTURE_IODS)
def test_a_jpeg_keeps_its_codestream(tmp_path: Path, dicomize_cli: list[str], iod: str) -> None:
    source = tmp_path / "p.jpg"
    source.write_bytes(encode(Image.fromarray(gradient()), "JPEG", quality=90))
    ds = _convert(dicomize_cli, tmp_path, source, iod)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    # The scan (tables and entropy-coded data) byte for byte; APP segments are left out.
    assert _scan(frame) == _scan(source.read_bytes())


def test_a_16_bit_picture_is_ophthalmic_16_bit_and_bit_exact(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    pixels = (gradient(channels=1).astype(np.uint16) * 257).astype(np.uint16)
    source = tmp_path / "fundus.png"
    Image.fromarray(pixels).save(source)
    ds = _convert(dicomize_cli, tmp_path, source, "ophthalmic")
    assert ds.SOPClassUID == IODS["ophthalmic"].sop_classes[1]
    assert np.array_equal(ds.pixel_array, pixels)


def test_ophthalmic_asks_for_the_eye_and_the_device_and_writes_nothing(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "fundus.png"
    source.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    output = tmp_path / "fundus.dcm"
    base = [*dicomize_cli, "convert", str(source), "-o", str(output), "--iod", "ophthalmic"]
    no_eye = subprocess.run(
        [*base, "--patient-id", "1"], capture_output=True, text=True, check=False
    )
    assert no_eye.returncode == 2
    assert "needs the eye imaged: Image Laterality R, L or B" in no_eye.stderr
    assert "(give --laterality R, L or B)" in no_eye.stderr
    no_device = subprocess.run(
        [*base, "--patient-id", "1", "--laterality", "R"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert no_device.returncode == 2
    assert "needs the acquiring device" in no_device.stderr
    assert not output.exists()


def test_a_manifest_names_each_rows_iod(tmp_path: Path, dicomize_cli: list[str]) -> None:
    rows = []
    for number, iod in enumerate(PICTURE_IODS):
        name = f"{iod}.png"
        (tmp_path / name).write_bytes(encode(Image.fromarray(gradient() + number), "PNG"))
        rows.append(
            {"path": name, "PatientID": "P1", "StudyID": "S1", "iod": iod, "series_key": iod}
        )
        rows[-1].update(NEEDS.get(iod, {}))
    manifest = tmp_path / "rows.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out"
    result = subprocess.run(
        [*dicomize_cli, "batch", "--manifest", str(manifest), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for iod in PICTURE_IODS:
        _judge(out / f"{iod}.dcm", iod)


def test_a_manifest_series_with_two_iods_is_refused_naming_the_row(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    (tmp_path / "a.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    manifest = tmp_path / "rows.csv"
    manifest.write_text(
        "path,output,PatientID,iod\na.png,a.dcm,P1,sc\na.png,b.dcm,P1,vl-photo\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [*dicomize_cli, "batch", "--manifest", str(manifest), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "row 3: iod 'vl-photo' differs from row 2's 'sc'" in result.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.dcm"))


@pytest.mark.parametrize("iod", [name for name in PICTURE_IODS if name != "sc"])
def test_watch_stores_as_the_iod_it_is_given(
    tmp_path: Path, dicomize_cli: list[str], iod: str
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    photo = inbox / "photo.png"
    photo.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    past = time.time() - 60
    os.utime(photo, (past, past))
    command = [*dicomize_cli, "watch", str(inbox), "-o", str(out), "--once", "--iod", iod]
    result = subprocess.run(
        [*command, *_metadata(tmp_path, iod)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (written,) = out.rglob("*.dcm")
    _judge(written, iod)


def test_the_page_offers_every_picture_iod() -> None:
    assert [value for value, _ in iod_choices("picture")] == PICTURE_IODS
    assert [title for _, title in iod_choices("picture")] == [
        IODS[name].title for name in PICTURE_IODS
    ]


@pytest.mark.parametrize("iod", [name for name in PICTURE_IODS if name not in ("sc", "vl-photo")])
def test_the_page_stores_a_series_as_the_iod_chosen_in_its_list(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811  (the fixture imported above)
    iod: str,
) -> None:
    # What a station always needs (an ophthalmic camera's device) is the service's
    # --metadata; what a visit needs (the eye) is the page's laterality field.
    station = {k: v for k, v in NEEDS.get(iod, {}).items() if k != "ImageLaterality"}
    (tmp_path / "station.json").write_text(json.dumps(station), encoding="utf-8")
    server = serving("-o", str(tmp_path / "out"), "--metadata", str(tmp_path / "station.json"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P1", PatientName="Doe^Jane")
        # The series is set as a nurse sets it before dropping the photos of one eye.
        settings = {
            "csrf": token,
            "index": "0",
            "SeriesDescription": IODS[iod].title,
            "ImageLaterality": "L",
            "BodyPartExamined": "",
            "iod": iod,
        }
        assert client.post(f"{visit}/series", data=settings).status_code == 303
        photo = encode(Image.fromarray(gradient()), "PNG")
        answer = client.post(
            f"{visit}/files?series=0",
            files={"files": ("eye.png", photo, "image/png")},
            headers={"X-CSRF-Token": token},
        )
        assert answer.status_code == 200, answer.text
        page = _wait_for_states(client, visit, {"held"}, 1)
        assert IODS[iod].title in page
        client.post(f"{visit}/send", data={"csrf": token})
        _wait_for_states(client, visit, {"done"}, 1)
    (written,) = (tmp_path / "out").rglob("*.dcm")
    _judge(written, iod, STUDY_ID_UNKNOWN)  # the page asks no Study ID


def test_joining_another_modalitys_series_names_the_way_out(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "photo.png"
    source.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    reference = tmp_path / "sc.dcm"
    base = [*dicomize_cli, "convert", str(source), "--patient-id", "1"]
    subprocess.run([*base, "-o", str(reference)], check=True, capture_output=True)
    joined = subprocess.run(
        [
            *base,
            "-o",
            str(tmp_path / "vl.dcm"),
            "--iod",
            "vl-photo",
            "--series-from",
            str(reference),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert joined.returncode == 2
    assert "VL Photographic Image requires XC" in joined.stderr
    assert "join the reference's study with --study-from instead of its series" in joined.stderr
    assert "leave out --modality" in joined.stderr
    assert not (tmp_path / "vl.dcm").exists()


@pytest.mark.parametrize(
    ("iod", "given", "named"),
    [
        # The dermoscope is asked for, not written "unknown" (C.7.5.2, Type 1).
        ("dermoscopic", {}, "(give --manufacturer, --model-name, --software-versions"),
        ("dermoscopic", {**NEEDS["dermoscopic"], "TrackingID": "mole 3"}, "Tracking UID go"),
        # A converted photograph is the camera's ORIGINAL: DERIVED needs its sources.
        ("ophthalmic", {**NEEDS["ophthalmic"], "ImageType": "DERIVED\\PRIMARY"}, "ORIGINAL"),
        # An eye photograph's region is a structure of the eye (C.8.17.5, CID 4209).
        (
            "ophthalmic",
            {
                **NEEDS["ophthalmic"],
                "AnatomicRegionSequence": [
                    {
                        "CodeValue": "71854001",
                        "CodingSchemeDesignator": "SCT",
                        "CodeMeaning": "Colon",
                    }
                ],
            },
            "a structure of the eye",
        ),
        # A Specimen module begun must be whole (C.7.6.22).
        ("vl-microscopic", {"ContainerIdentifier": "S-1"}, "Specimen Description Sequence"),
    ],
)
def test_what_an_iod_cannot_hold_is_refused_and_nothing_written(
    tmp_path: Path, dicomize_cli: list[str], iod: str, given: dict[str, Any], named: str
) -> None:
    source = tmp_path / "p.png"
    source.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    metadata = tmp_path / "m.json"
    metadata.write_text(json.dumps({"PatientID": "P1", **given}), encoding="utf-8")
    output = tmp_path / "p.dcm"
    command = [*dicomize_cli, "convert", str(source), "-o", str(output), "--iod", iod]
    result = subprocess.run(
        [*command, "--metadata", str(metadata)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert not output.exists()


def test_settings_that_make_attributes_required_are_completed(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "p.png"
    source.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    ds = _convert(
        dicomize_cli, tmp_path, source, "ophthalmic", ImageLaterality="B", PupilDilated="YES"
    )
    assert (ds.MydriaticAgentSequence, ds.DegreeOfDilation) == ([], None)
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "Both eyes"
    assert "AcquisitionContextSequence" not in ds  # U in A.41: not written empty
    assert ds.BurnedInAnnotation == "YES"


def test_a_jpeg_the_iod_cannot_hold_as_it_came_says_why_it_was_decoded(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    import imagecodecs

    pixels = gradient()
    source = tmp_path / "rgb.jpg"  # components coded as RGB, not YCbCr
    source.write_bytes(
        imagecodecs.jpeg8_encode(pixels, level=90, colorspace="RGB", outcolorspace="RGB")
    )
    ds = _convert(dicomize_cli, tmp_path, source, "vl-endoscopic")
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"  # decoded, kept lossless
    assert "lossy JPEG as YBR_FULL_422 only (PS3.3 C.8.12.1.1.1)" in ds.DerivationDescription
    assert "passthrough is off" not in ds.DerivationDescription
    assert ds.LossyImageCompression == "01"  # its lossy history kept


def test_a_code_outside_the_iod_is_refused_on_one_line(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "p.png"
    source.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    device = {
        "AcquisitionDeviceTypeCodeSequence": NEEDS["ophthalmic"][
            "AcquisitionDeviceTypeCodeSequence"
        ]
    }
    metadata = tmp_path / "m.json"
    metadata.write_text(json.dumps({"PatientID": "P1", **device}), encoding="utf-8")
    command = [*dicomize_cli, "convert", str(source), "-o", str(tmp_path / "p.dcm")]
    result = subprocess.run(
        [*command, "--metadata", str(metadata)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "AcquisitionDeviceTypeCodeSequence" in line
    assert "is not part of the Secondary Capture Image IOD" in line


def test_a_file_that_failed_for_its_series_settings_converts_once_they_are_mended(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811  (the fixture imported above)
) -> None:
    # The station gives the eye camera's device, which Secondary Capture (the series'
    # first IOD) has no place for: the photo fails until the nurse picks Ophthalmic.
    station = {k: v for k, v in NEEDS["ophthalmic"].items() if k != "ImageLaterality"}
    (tmp_path / "station.json").write_text(json.dumps(station), encoding="utf-8")
    server = serving("-o", str(tmp_path / "out"), "--metadata", str(tmp_path / "station.json"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P1", PatientName="Doe^Jane")
        answer = client.post(
            f"{visit}/files?series=0",
            files={"files": ("eye.png", encode(Image.fromarray(gradient()), "PNG"), "image/png")},
            headers={"X-CSRF-Token": token},
        )
        assert answer.status_code == 200, answer.text
        page = _wait_for_states(client, visit, {"failed"}, 1)
        assert "has no place in an object of this kind (Secondary Capture Image)" in page
        assert "Choose the series&#39; IOD, or remove it." in page
        settings = {
            "csrf": token,
            "index": "0",
            "SeriesDescription": "Fundus",
            "ImageLaterality": "L",
            "BodyPartExamined": "",
            "iod": "ophthalmic",
        }
        assert client.post(f"{visit}/series", data=settings).status_code == 303
        _wait_for_states(client, visit, {"held"}, 1)
        client.post(f"{visit}/send", data={"csrf": token})
        _wait_for_states(client, visit, {"done"}, 1)
    (written,) = (tmp_path / "out").rglob("*.dcm")
    _judge(written, "ophthalmic", STUDY_ID_UNKNOWN)  # the page asks no Study ID


def test_a_16_bit_picture_previews_as_its_gradient_not_white(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    from dicomize.service.web.app import _render_thumbnail

    pixels = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 20).astype(np.uint16)
    source = tmp_path / "fundus.png"
    Image.fromarray(pixels).save(source)
    _convert(dicomize_cli, tmp_path, source, "ophthalmic")
    png = _render_thumbnail(str(tmp_path / "fundus.dcm"), 0)
    assert png is not None
    shown = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert shown.min() == 0
    assert shown.max() == 255
    assert (shown == 255).mean() < 0.01  # Pillow's own conversion clipped nearly all of it


def test_the_page_says_what_a_kind_of_object_needs_not_that_the_file_is_damaged() -> None:
    from dicomize.service.web.messages import plain_error

    shown = plain_error(
        "up/e.jpg: AcquisitionDateTime: Ophthalmic Photography needs when the photograph was "
        "taken (PS3.3 C.8.17.2, Type 1C for ORIGINAL images) and the picture's EXIF has no date",
        shown="e.jpg",
        internal=["up/e.jpg"],
        stage="convert",
    )
    assert shown.startswith("e.jpg could not be converted: Ophthalmic Photography needs when")
    assert "AcquisitionDateTime" not in shown
    assert "PS3.3" not in shown
    assert "intact copy" not in shown
    assert "Change the series' settings" in shown
