"""Batch conversion: trees and manifests, parallel, resumable after kill -9, on Dask."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import encode, gradient
from dicomize.batch import BatchResult, plan_tree, run_batch

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")


def _make_tree(
    root: Path, folders: int, per_folder: int, broken: int = 0, size: tuple[int, int] = (48, 64)
) -> list[Path]:
    """Generated pictures of mixed formats, a few broken; returns the broken ones."""
    rng = np.random.default_rng(7)
    bad: list[Path] = []
    for folder in range(folders):
        path = root / f"patient{folder}" / "visit"
        path.mkdir(parents=True)
        for index in range(per_folder):
            fmt = FORMATS[(folder + index) % len(FORMATS)]
            pixels = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
            data = encode(Image.fromarray(pixels), fmt)
            name = path / f"img{index:03d}.{fmt.lower()}"
            if len(bad) < broken and index == per_folder - 1:
                data = data[: len(data) // 3]  # truncated
                bad.append(name)
            name.write_bytes(data)
    return bad


def _report(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=600, check=False)


def test_tree_of_mixed_pictures_converts_with_the_expected_report(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    photos, out = tmp_path / "photos", tmp_path / "dicom"
    broken = _make_tree(photos, folders=6, per_folder=40, broken=6)
    report = tmp_path / "report.jsonl"

    result = _run(
        dicomize_cli,
        "batch",
        str(photos),
        "-o",
        str(out),
        "--workers",
        "2",
        "--report",
        str(report),
        "--patient-id",
        "77",
    )

    assert result.returncode == 1  # some failed
    rows = _report(report)
    assert len(rows) == 240
    assert Counter(row["status"] for row in rows) == {"converted": 234, "failed": 6}
    failed = {row["input"] for row in rows if row["status"] == "failed"}
    assert failed == {str(path) for path in broken}
    for row in rows:
        if row["status"] == "failed":
            assert str(row["input"]) in str(row["error"])
            assert row["output"] is None
    assert "234 converted, 0 skipped (already done), 6 failed" in result.stderr
    assert sum(1 for line in result.stderr.splitlines() if "img039" in line) == 6
    # Mirrored tree; each folder is one series of one study, numbered in name order.
    series: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    for row in rows:
        if row["status"] == "converted":
            output = Path(str(row["output"]))
            assert output.parent == out / Path(str(row["input"])).parent.relative_to(photos)
            ds = pydicom.dcmread(output, stop_before_pixels=True)
            assert ds.SOPInstanceUID == row["sop_instance_uid"]
            assert ds.PatientID == "77"
            series[str(output.parent)].append(ds)
    assert len(series) == 6
    for datasets in series.values():
        assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
        assert len({ds.StudyInstanceUID for ds in datasets}) == 1
        ordered = sorted(datasets, key=lambda ds: int(ds.InstanceNumber))
        assert [int(ds.InstanceNumber) for ds in ordered] == list(range(1, 40))
    assert len({uids.pop().SeriesInstanceUID for uids in series.values()}) == 6
    # Every output is judged by dciodvfy and dcmdump (the autouse fixture).


def test_rerun_skips_what_is_done_and_redoes_what_is_not(tmp_path: Path) -> None:
    photos, out = tmp_path / "photos", tmp_path / "dicom"
    _make_tree(photos, folders=1, per_folder=6)
    first = run_batch(plan_tree(photos, out), out, workers=1)
    assert (first.converted, first.skipped) == (6, 0)
    victim = sorted((out / "patient0" / "visit").glob("*.dcm"))[2]
    victim.write_bytes(b"not a dicom file")  # damaged output: must be redone
    results: list[BatchResult] = []
    second = run_batch(plan_tree(photos, out), out, workers=2, on_result=results.append)
    assert (second.converted, second.skipped, second.failed) == (1, 5, 0)
    assert [r.output for r in results if r.status == "converted"] == [str(victim)]
    pydicom.dcmread(victim)


def test_kill_minus_nine_then_rerun_leaves_exactly_one_valid_output_per_input(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    photos, out = tmp_path / "photos", tmp_path / "dicom"
    _make_tree(photos, folders=4, per_folder=60, size=(300, 400))
    total = 240
    process = subprocess.Popen(
        [
            *dicomize_cli,
            "batch",
            str(photos),
            "-o",
            str(out),
            "--workers",
            "2",
            "--uid-seed",
            "resume-test",
            "-q",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        done = len(list(out.rglob("*.dcm"))) if out.exists() else 0
        if done >= 20:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the batch and its workers, mid-run
    process.wait(timeout=30)
    before = {p: p.read_bytes() for p in out.rglob("*.dcm")}
    assert 20 <= len(before) < total, "the kill did not land mid-run"

    report = tmp_path / "resume.jsonl"
    result = _run(
        dicomize_cli,
        "batch",
        str(photos),
        "-o",
        str(out),
        "--workers",
        "2",
        "--uid-seed",
        "resume-test",
        "--report",
        str(report),
    )

    assert result.returncode == 0, result.stderr
    outputs = sorted(out.rglob("*.dcm"))
    assert len(outputs) == total  # exactly one per input
    assert not list(out.rglob("*.part"))  # no temporary leftovers
    rows = _report(report)
    assert Counter(row["status"] for row in rows)["skipped"] >= len(before)
    for path, data in before.items():
        pydicom.dcmread(path)
        assert path.read_bytes() == data  # finished files were kept, not redone
    by_folder: dict[Path, set[str]] = defaultdict(set)
    for path in outputs:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        by_folder[path.parent].add(ds.SeriesInstanceUID)
    assert all(len(uids) == 1 for uids in by_folder.values())  # series survived the kill


def test_same_seed_same_uids_on_a_fresh_run(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _make_tree(photos, folders=2, per_folder=3)
    options = dicomize.ConvertOptions(uid_seed="archive-2026")
    uids = []
    for name in ("one", "two"):
        out = tmp_path / name
        results: list[BatchResult] = []
        run_batch(plan_tree(photos, out), out, options=options, workers=2, on_result=results.append)
        uids.append(sorted(str(r.sop_instance_uid) for r in results))
    assert uids[0] == uids[1]


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_manifest_rows_carry_their_own_metadata(tmp_path: Path, dicomize_cli: list[str]) -> None:
    pictures = tmp_path / "in"
    pictures.mkdir()
    for index in range(4):
        (pictures / f"p{index}.png").write_bytes(
            encode(Image.fromarray(gradient() // (index + 1)), "PNG")
        )
    manifest = tmp_path / "import.csv"
    _write_manifest(
        manifest,
        [
            {
                "path": f"in/p{index}.png",
                "PatientName": f"Doe^Patient{index % 2}",
                "patient-id": f"ID{index % 2}",
                "study_key": f"visit{index % 2}",
                "StudyDescription": "row value" if index % 2 else "",
            }
            for index in range(4)
        ],
    )
    out = tmp_path / "out"
    result = _run(
        dicomize_cli,
        "batch",
        "--manifest",
        str(manifest),
        "-o",
        str(out),
        "--study-description",
        "command value",
        "--workers",
        "2",
    )
    assert result.returncode == 0, result.stderr
    datasets = {p.name: pydicom.dcmread(p) for p in (out / "in").glob("*.dcm")}
    assert len(datasets) == 4
    assert datasets["p1.dcm"].PatientID == "ID1"
    assert str(datasets["p2.dcm"].PatientName) == "Doe^Patient0"
    # A row wins over the command (both rows of study visit1 say so: a study has one).
    assert datasets["p3.dcm"].StudyDescription == datasets["p1.dcm"].StudyDescription == "row value"
    assert datasets["p0.dcm"].StudyDescription == "command value"
    assert datasets["p0.dcm"].StudyInstanceUID == datasets["p2.dcm"].StudyInstanceUID
    assert datasets["p0.dcm"].StudyInstanceUID != datasets["p1.dcm"].StudyInstanceUID


def test_manifest_rows_of_one_study_that_disagree_on_it_are_refused_before_converting(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    (tmp_path / "p.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    manifest = tmp_path / "import.csv"
    _write_manifest(
        manifest,
        [
            {"path": "p.png", "output": "a.dcm", "PatientID": "P1", "StudyDescription": "Hand"},
            {"path": "p.png", "output": "b.dcm", "PatientID": "P1", "StudyDescription": "Foot"},
        ],
    )
    result = _run(dicomize_cli, "batch", "--manifest", str(manifest), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "row 3: StudyDescription 'Foot' differs from row 2's 'Hand'" in result.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.dcm"))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("PatientBirthDate", "2023-13-45", "row 5: PatientBirthDate = '2023-13-45'"),
        ("NotAKeyword", "x", "row 2: unknown column 'NotAKeyword'"),
    ],
)
def test_manifest_error_is_reported_with_its_row_before_anything_converts(
    column: str, value: str, message: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    (tmp_path / "p.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    rows = [{"path": "p.png", "output": f"{n}.dcm", column: ""} for n in range(6)]
    rows[3][column] = value  # row 5 of the file: the header is row 1
    if column == "NotAKeyword":
        rows[0][column] = value
    manifest = tmp_path / "import.csv"
    _write_manifest(manifest, rows)
    result = _run(dicomize_cli, "batch", "--manifest", str(manifest), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert message in result.stderr
    assert not list((tmp_path / "out").rglob("*.dcm")) if (tmp_path / "out").exists() else True


def test_json_lines_manifest(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.png", "PatientID": "J1"}) + "\n\n")
    from dicomize.batch import plan_manifest

    out = tmp_path / "out"
    summary = run_batch(plan_manifest(manifest, out), out, workers=1)
    assert summary.converted == 1
    assert pydicom.dcmread(out / "a.dcm").PatientID == "J1"


@pytest.mark.parametrize(("group_by", "studies", "series"), [("tree", 1, 2), ("file", 4, 4)])
def test_grouping_is_configurable(group_by: str, studies: int, series: int, tmp_path: Path) -> None:
    photos, out = tmp_path / "photos", tmp_path / "out"
    _make_tree(photos, folders=2, per_folder=2)
    run_batch(plan_tree(photos, out, group_by=group_by), out, workers=1)
    datasets = [pydicom.dcmread(p, stop_before_pixels=True) for p in out.rglob("*.dcm")]
    assert len({ds.StudyInstanceUID for ds in datasets}) == studies
    assert len({ds.SeriesInstanceUID for ds in datasets}) == series


def test_output_folder_inside_the_input_tree_is_not_converted_again(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _make_tree(photos, folders=1, per_folder=2)
    out = photos / "dicom"
    run_batch(plan_tree(photos, out), out, workers=1)
    second = run_batch(plan_tree(photos, out), out, workers=1)
    assert (second.skipped, second.failed) == (2, 0)


def test_batch_runs_on_a_dask_cluster(tmp_path: Path, dask_client: object) -> None:
    photos, out = tmp_path / "photos", tmp_path / "out"
    _make_tree(photos, folders=2, per_folder=10, broken=1)
    results: list[BatchResult] = []
    summary = run_batch(plan_tree(photos, out), out, client=dask_client, on_result=results.append)
    assert (summary.converted, summary.failed) == (19, 1)
    assert len(results) == 20  # the report is gathered at the client
    assert len(list(out.rglob("*.dcm"))) == 19


def test_progress_shows_on_a_terminal_and_stays_quiet_otherwise(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    photos = tmp_path / "photos"
    _make_tree(photos, folders=1, per_folder=30, size=(200, 300))
    primary, secondary = os.openpty()
    try:
        process = subprocess.run(
            [*dicomize_cli, "batch", str(photos), "-o", str(tmp_path / "a"), "--workers", "1"],
            stderr=secondary,
            stdout=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert process.returncode == 0
    text = shown.decode()
    assert "/30 (" in text
    assert "ETA" in text
    assert "files/s" in text
    plain = _run(dicomize_cli, "batch", str(photos), "-o", str(tmp_path / "b"), "--workers", "1")
    assert plain.stderr.strip().splitlines() == [plain.stderr.strip()]  # the summary line only
    assert "ETA" not in plain.stderr


@pytest.mark.parametrize("escape", ["../../escaped.dcm", "ABSOLUTE"])
def test_manifest_output_outside_the_output_folder_is_refused_unless_allowed(
    escape: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    (tmp_path / "p.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    elsewhere = tmp_path / "elsewhere" / "escaped.dcm"
    target = str(elsewhere) if escape == "ABSOLUTE" else escape
    manifest = tmp_path / "import.csv"
    _write_manifest(
        manifest, [{"path": "p.png", "output": ""}, {"path": "p.png", "output": target}]
    )
    out = tmp_path / "deep" / "out"
    result = _run(dicomize_cli, "batch", "--manifest", str(manifest), "-o", str(out))
    assert result.returncode == 2
    assert "row 3: the output" in result.stderr
    assert "outside the output folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.dcm"))  # validated before anything was converted

    allowed = _run(
        dicomize_cli,
        "batch",
        "--manifest",
        str(manifest),
        "-o",
        str(out),
        "--allow-outside-output",
        "--workers",
        "1",
    )
    assert allowed.returncode == 0, allowed.stderr
    written = elsewhere if escape == "ABSOLUTE" else (out / escape).resolve()
    assert written.is_file()
    assert (out / "p.dcm").is_file()


def test_a_missing_input_folder_is_one_line_and_leaves_no_output_folder(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    out = tmp_path / "dicom"
    result = _run(dicomize_cli, "batch", str(tmp_path / "photos"), "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("photos: no such file or folder")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(dicomize.ConfigError, match="no such file or folder"):
        dicomize.run_batch(dicomize.plan_tree(tmp_path / "photos", out), out)
    assert not out.exists()


def test_a_missing_clip_is_said_to_be_missing_not_to_be_no_clip(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    clip = tmp_path / "clip.mp4"
    result = _run(
        dicomize_cli,
        "convert",
        str(clip),
        "--iod",
        "video-endoscopic",
        "-o",
        str(tmp_path / "x.dcm"),
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"dicomize: {clip}: No such file or directory"
