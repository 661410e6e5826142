"""Whole-slide images delivered to real peers: Orthanc (C-STORE, STOW-RS, Storage Commitment,
C-FIND) and dcmtk's wlmscpfs (Modality Worklist).

A slide is one series of six VL Whole Slide Microscopy instances (three levels, label,
overview, thumbnail); each must arrive whole, its JPEG tiles as the scanner coded them.
What a PACS keeps is compared with what was sent after the File Meta Information, which
the receiver writes itself (PS3.10 7.1: its own Implementation Class UID, Source AE).
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import shutil
import struct
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

import dicomize
from conftest import FULL_METADATA
from peers import Orthanc, WorklistServer, free_port
from slides import write_large_svs, write_svs
from test_worklist import STUDY_UID, item

WSM = "1.2.840.10008.5.1.4.1.1.77.1.6"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
NAMES = ["label", "level-0", "level-1", "level-2", "overview", "thumbnail"]
#: The scanner's model is not in an SVS: every conversion names it.
METADATA = ("--model-name", "ScanScope AT2", "--patient-name", "Doe^Jane",
            "--patient-id", "12345", "--birth-date", "19800101", "--sex", "F",
            "--accession", "A778", "--study-id", "S1")  # fmt: skip


def _cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)


def _c_store(orthanc: Orthanc) -> str:
    return f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}"


@pytest.fixture
def slide(tmp_path: Path) -> Path:
    """A small Aperio SVS: 2048 x 1536 in 256-pixel JPEG tiles, three levels, ICC profile."""
    return write_svs(tmp_path / "slide.svs")


def _convert(cli: list[str], slide: Path, out: Path, *args: str) -> list[Path]:
    """Convert `slide` into ``out/<stem>/``; return its six files, sorted by name."""
    result = _cli(cli, "convert", str(slide), "-o", f"{out}/", *args)
    assert result.returncode == 0, result.stderr
    files = sorted((out / slide.stem).glob("*.dcm"))
    assert [f.stem for f in files] == NAMES, result.stderr
    if "--send" in args:  # convert --send delivers what it wrote, every file accepted
        assert "dicomize: send: 6 stored, 0 not stored" in result.stderr
    return files


def _dataset_bytes(part10: bytes) -> bytes:
    """The data set of a Part 10 file: what follows its File Meta Information group."""
    assert part10[128:132] == b"DICM"
    # PS3.10 7.1: (0002,0000) UL, explicit VR little endian, comes first.
    tag, vr = struct.unpack_from("<4s2s", part10, 132)
    assert (tag, vr) == (b"\x02\x00\x00\x00", b"UL")
    (group_length,) = struct.unpack_from("<I", part10, 140)
    return part10[144 + group_length :]


def _assert_kept_as_sent(orthanc: Orthanc, files: list[Path]) -> None:
    """Orthanc holds one series of exactly `files`: same SOP Class, syntax and data set bytes."""
    (series,) = orthanc.get("/series?expand")
    sent = [pydicom.dcmread(path, stop_before_pixels=True) for path in files]
    assert series["MainDicomTags"]["SeriesInstanceUID"] == sent[0].SeriesInstanceUID
    assert series["MainDicomTags"]["Modality"] == "SM"
    assert len(series["Instances"]) == len(files) == 6
    for path, ds in zip(files, sent, strict=True):
        instance = orthanc.instance_for(str(ds.SOPInstanceUID))
        stored = orthanc.get(f"/instances/{instance}/file")
        assert isinstance(stored, bytes)
        kept = pydicom.dcmread(io.BytesIO(stored), stop_before_pixels=True)
        assert kept.SOPClassUID == WSM
        # Not transcoded: the levels, overview and thumbnail keep the scanner's JPEG.
        assert kept.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert orthanc.get(f"/instances/{instance}/metadata/TransferSyntax").decode() == str(
            ds.file_meta.TransferSyntaxUID
        )
        assert _dataset_bytes(stored) == _dataset_bytes(path.read_bytes()), path.name
    jpeg = {str(ds.file_meta.TransferSyntaxUID) for ds in sent if "LABEL" not in ds.ImageType}
    assert jpeg == {JPEG_BASELINE}


# First in the file: the longest test, so that pytest-xdist starts it at once.
def test_a_large_slide_of_thousands_of_frames_passes_c_store_whole(
    tmp_path: Path, orthanc: Orthanc, dicomize_cli: list[str]
) -> None:
    # 12000 x 12000 in 256-pixel tiles: level 0 alone is 47 x 47 = 2209 frames, 33 MB.
    large = write_large_svs(tmp_path / "large.svs", size=12000)
    files = _convert(dicomize_cli, large, tmp_path / "out", *METADATA, "--send", _c_store(orthanc))
    level0 = pydicom.dcmread(files[NAMES.index("level-0")], stop_before_pixels=True)
    assert int(level0.NumberOfFrames) == 47 * 47
    _assert_kept_as_sent(orthanc, files)


def test_c_store_delivers_the_slide_series_byte_for_byte(
    tmp_path: Path, slide: Path, orthanc: Orthanc, dicomize_cli: list[str]
) -> None:
    files = _convert(dicomize_cli, slide, tmp_path / "out", *METADATA, "--send", _c_store(orthanc))
    _assert_kept_as_sent(orthanc, files)
    # Sent again by `dicomize send`: every instance accepted again, none stored twice.
    result = _cli(dicomize_cli, "send", str(files[0].parent), "--to", _c_store(orthanc))
    assert result.returncode == 0, result.stderr
    assert "6 stored, 0 not stored" in result.stderr
    assert len(orthanc.get("/instances")) == 6  # sent twice, stored once


def _wado_frame(orthanc: Orthanc, ds: pydicom.Dataset, number: int) -> tuple[str, str, bytes]:
    """One frame by WADO-RS in the syntax Orthanc holds it: (media type, syntax, bytes)."""
    url = (
        f"{orthanc.url}/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/frames/{number}"
    )
    accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        head = f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode()
        body = response.read()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    (part,) = message.iter_parts()
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return part.get_content_type(), str(part.get_param("transfer-syntax")), payload


def test_stow_rs_delivers_the_slide_and_orthanc_keeps_the_jpeg_tiles(
    tmp_path: Path, slide: Path, orthanc: Orthanc, dicomize_cli: list[str]
) -> None:
    files = _convert(dicomize_cli, slide, tmp_path / "out", *METADATA)
    result = _cli(dicomize_cli, "send", str(files[0].parent), "--to", f"{orthanc.url}/dicom-web")
    assert result.returncode == 0, result.stderr
    assert "6 stored, 0 not stored" in result.stderr
    _assert_kept_as_sent(orthanc, files)
    level0 = pydicom.dcmread(files[NAMES.index("level-0")])
    # QIDO-RS lists the six instances of the series.
    found = orthanc.get(
        f"/dicom-web/studies/{level0.StudyInstanceUID}/series/{level0.SeriesInstanceUID}/instances"
    )
    assert sorted(i["00080018"]["Value"][0] for i in found) == sorted(
        str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files
    )
    # A viewer asking for one tile gets the very JPEG the file holds for it.
    frames = list(generate_frames(level0.PixelData, number_of_frames=level0.NumberOfFrames))
    assert len(frames) == 48
    assert _wado_frame(orthanc, level0, 7) == ("image/jpeg", JPEG_BASELINE, frames[6])


@pytest.fixture
def listen_port() -> int:
    return free_port()


@pytest.fixture
def committing_orthanc(tmp_path: Path, listen_port: int) -> Iterator[Orthanc]:
    """Orthanc that knows our AE title and where to send its commitment reports."""
    folder = tmp_path / "orthanc"
    folder.mkdir()
    server = Orthanc(folder, DicomModalities={"dicomize": ["DICOMIZE", "127.0.0.1", listen_port]})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_storage_commitment_confirms_every_instance_of_the_slide(
    tmp_path: Path,
    slide: Path,
    committing_orthanc: Orthanc,
    listen_port: int,
    dicomize_cli: list[str],
) -> None:
    files = _convert(dicomize_cli, slide, tmp_path / "out", *METADATA)
    report = tmp_path / "send.jsonl"
    result = _cli(dicomize_cli, "send", str(files[0].parent), "--to", _c_store(committing_orthanc),
                  "--commit", "--commit-listen", f"127.0.0.1:{listen_port}",
                  "--commit-timeout", "20", "--report", str(report))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "6 stored, 6 committed, 0 not stored" in result.stderr
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [row["status"] for row in rows] == ["committed"] * 6
    assert {row["sop_instance_uid"] for row in rows} == {
        str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files
    }
    assert len(committing_orthanc.get("/instances")) == 6


def _dciodvfy_new(path: Path) -> str:
    """dciodvfy with ``-new`` (the newest rules); its whole output."""
    tool = shutil.which("dciodvfy") or str(Path(sys.executable).parent / "dciodvfy")
    result = subprocess.run([tool, "-new", str(path)], capture_output=True, timeout=60, check=False)
    return (result.stdout + result.stderr).decode("utf-8", "replace")


def test_a_worklist_item_fills_every_instance_of_the_slide(
    tmp_path: Path,
    slide: Path,
    worklist: WorklistServer,
    orthanc: Orthanc,
    dicomize_cli: list[str],
) -> None:
    worklist.add("a", item("A778", name="Müller^Zoë", patient_id="P-42", modality="SM"), "utf-8")
    worklist.add("b", item("A779", patient_id="67890", name="Roe^Richard", modality="SM"))
    files = _convert(dicomize_cli, slide, tmp_path / "out", "--model-name", "ScanScope AT2",
                     "--worklist", worklist.url, "--accession", "A778",
                     "--send", _c_store(orthanc))  # fmt: skip
    series = set()
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.SpecificCharacterSet == "ISO_IR 192", path.name
        assert (str(ds.PatientName), ds.PatientID, ds.AccessionNumber) == (
            "Müller^Zoë",
            "P-42",
            "A778",
        ), path.name
        assert (ds.StudyInstanceUID, ds.Modality) == (STUDY_UID, "SM"), path.name
        assert "Müller^Zoë".encode() in path.read_bytes()[:4096]
        series.add(ds.SeriesInstanceUID)
        verdict = _dciodvfy_new(path)
        assert verdict.splitlines()[-1] == "VLWholeSlideMicroscopyImage", verdict
        assert [line for line in verdict.splitlines() if line.startswith("Error")] == [], verdict
    assert len(series) == 1
    # The PACS files the slide under the order: the accented name decodes there too.
    (study,) = orthanc.get("/studies?expand")
    tags = study["MainDicomTags"]
    assert (tags["StudyInstanceUID"], tags["AccessionNumber"]) == (STUDY_UID, "A778")
    assert study["PatientMainDicomTags"]["PatientName"] == "Müller^Zoë"
    assert len(orthanc.get("/instances")) == 6


def test_an_order_for_another_modality_is_not_used_and_says_why(
    tmp_path: Path, slide: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778", modality="XC"))
    result = _cli(dicomize_cli, "convert", str(slide), "-o", f"{tmp_path / 'out'}/",
                  "--model-name", "ScanScope AT2",
                  "--worklist", worklist.url, "--accession", "A778")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pydicom.dcmread(tmp_path / "out" / "slide" / "level-0.dcm").Modality == "SM"
    note = "the worklist's Modality XC is not used: VL Whole Slide Microscopy Image requires SM"
    assert note in result.stderr


def test_a_slide_joins_the_study_the_pacs_holds_in_a_series_of_its_own(
    tmp_path: Path, slide: Path, orthanc: Orthanc, dicomize_cli: list[str]
) -> None:
    outside = tmp_path / "outside" / "gross.dcm"
    outside.parent.mkdir()
    metadata = {**FULL_METADATA, "StudyDescription": "Biopsy", "StudyDate": "20261201"}
    dicomize.write(dicomize.convert(np.zeros((8, 8), np.uint8), metadata), outside)
    (stored,) = dicomize.send_files([outside], _c_store(orthanc))
    assert stored.status == "stored", stored.error
    held = pydicom.dcmread(outside)
    files = _convert(dicomize_cli, slide, tmp_path / "out", "--model-name", "ScanScope AT2",
                     "--find-study", _c_store(orthanc), "--accession", "A778",
                     "--send", _c_store(orthanc))  # fmt: skip
    slide_series = set()
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert (ds.StudyInstanceUID, ds.PatientID, ds.AccessionNumber) == (
            held.StudyInstanceUID,
            "12345",
            "A778",
        )
        assert (str(ds.PatientName), ds.StudyDescription) == ("Doe^Jane", "Biopsy")
        slide_series.add(ds.SeriesInstanceUID)
    (series,) = slide_series
    assert series != held.SeriesInstanceUID
    (study,) = orthanc.get("/studies?expand")
    assert study["MainDicomTags"]["StudyInstanceUID"] == held.StudyInstanceUID
    counts = {
        s["MainDicomTags"]["SeriesInstanceUID"]: (
            s["MainDicomTags"]["Modality"],
            len(s["Instances"]),
        )
        for s in (orthanc.get(f"/series/{s}") for s in study["Series"])
    }
    assert counts == {held.SeriesInstanceUID: ("OT", 1), series: ("SM", 6)}
