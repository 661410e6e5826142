"""``dicomize watch`` takes whole-slide images: a folder of objects each, whole, or a reason.

A slide dropped into the watched folder becomes a folder of VL Whole Slide
Microscopy objects (its levels, label, overview, thumbnail), a series of its own,
each object recorded, sent and removed with its job; a slide still being written
is never taken half-written; a broken one is filed as failed on one line while the
watcher goes on. The web page does not take slides, and says so.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from dicomize.options import SendOptions
from dicomize.service import Job, JobState, ServiceSettings, Watcher, WatchSettings, Worker
from peers import Orthanc, free_port
from slides import write_broken, write_svs
from test_serve import Server, _visit, serving  # noqa: F401  (serving: a fixture pytest finds)
from test_watch import _drop, _files, _jpeg, _until, _watch

#: Aperio does not name the scanner's model; a WSM object needs one (Type 1).
MODEL = {"PatientID": "P1", "PatientName": "Doe^Jane", "ManufacturerModelName": "AT2"}
FLAGS = ["--patient-id", "P1", "--patient-name", "Doe^Jane", "--model-name", "AT2"]
#: What a slide of write_svs's defaults becomes: three levels, and its three pictures.
SLIDE_OBJECTS = [
    "label.dcm",
    "level-0.dcm",
    "level-1.dcm",
    "level-2.dcm",
    "overview.dcm",
    "thumbnail.dcm",
]
WSM = "1.2.840.10008.5.1.4.1.1.77.1.6"


def _svs(path: Path) -> bytes:
    """Write an SVS (three levels, label, macro, thumbnail) somewhere else; return its bytes."""
    made = write_svs(path.with_name(path.name + ".made"))
    data = made.read_bytes()
    made.unlink()
    return data


def _dciodvfy_errors(path: Path) -> list[str]:
    """Run ``dciodvfy -new`` on `path`; return its Error lines (it must know the IOD)."""
    found = shutil.which("dciodvfy") or str(Path(sys.executable).parent / "dciodvfy")
    result = subprocess.run(
        [found, "-new", str(path)], capture_output=True, check=False, timeout=120
    )
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert "VLWholeSlideMicroscopyImage" in output, output
    return [line for line in output.splitlines() if line.startswith("Error")]


def _outputs(inbox: Path) -> dict[str, list[str]]:
    """Each job's recorded outputs, by the name of its source."""
    with sqlite3.connect(inbox / ".dicomize" / "journal.sqlite") as db:
        rows = db.execute("SELECT name, outputs FROM jobs ORDER BY id").fetchall()
    return {str(name): list(json.loads(outputs)) for name, outputs in rows}


def _dataset(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)


def test_a_dropped_slide_becomes_a_verified_folder_of_its_own_series_beside_a_picture(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _drop(inbox / "ward" / "scan.svs", _svs(tmp_path / "scan.svs"))
    _drop(inbox / "ward" / "photo.jpg", _jpeg(1))

    result = _watch(dicomize_cli, inbox, "-o", str(out), "--once", "--verify", *FLAGS)

    assert result.returncode == 0, result.stderr
    assert "2 filed as done, 0 as failed, 0 waiting" in result.stderr
    assert _files(inbox / "done") == ["ward/photo.jpg", "ward/scan.svs"]
    folder = out / "ward" / "scan"
    assert sorted(path.name for path in folder.iterdir()) == SLIDE_OBJECTS
    for path in folder.iterdir():
        assert _dciodvfy_errors(path) == [], path
    # Every object of the slide is the job's, recorded in the journal.
    recorded = _outputs(inbox)
    assert sorted(Path(path).name for path in recorded["ward/scan.svs"]) == SLIDE_OBJECTS
    assert {Path(path).parent for path in recorded["ward/scan.svs"]} == {folder}
    assert recorded["ward/photo.jpg"] == [str(out / "ward" / "photo.dcm")]
    # One series of its own, in the folder's study; the picture keeps the folder's series.
    photo = _dataset(out / "ward" / "photo.dcm")
    objects = [_dataset(path) for path in sorted(folder.iterdir())]
    assert {ds.SOPClassUID for ds in objects} == {WSM}
    assert len({ds.SeriesInstanceUID for ds in objects}) == 1
    assert len({ds.SOPInstanceUID for ds in objects}) == len(SLIDE_OBJECTS)
    assert objects[0].SeriesInstanceUID != photo.SeriesInstanceUID
    assert objects[0].SeriesNumber != photo.SeriesNumber
    assert {ds.StudyInstanceUID for ds in objects} == {photo.StudyInstanceUID}
    assert {ds.PatientID for ds in objects} == {"P1"}
    assert sorted(p.name for p in (out / "ward").iterdir()) == ["photo.dcm", "scan"]


def test_a_slide_waits_in_the_spool_owner_only_and_is_sent_whole_then_removed(
    tmp_path: Path, orthanc: Orthanc
) -> None:
    inbox = tmp_path / "inbox"
    _drop(inbox / "scan.svs", _svs(tmp_path / "scan.svs"))
    _drop(inbox / "photo.jpg", _jpeg(2))
    old = os.umask(0o022)
    try:
        # The PACS is down: the slide's objects wait in the spool, the owner's alone.
        nobody = f"dicom://NOBODY@127.0.0.1:{free_port()}"
        waiting = ServiceSettings(
            send=nobody, send_options=SendOptions(connect_timeout=2), metadata=MODEL, verify=True
        )
        down = _watcher(inbox, waiting)
        try:
            assert down.run(once=True).waiting == 2
            (job,) = [job for job in down.journal.unfinished() if job.name == "scan.svs"]
        finally:
            down.close()
    finally:
        os.umask(old)
    spool = inbox / ".dicomize" / "spool"
    assert job.state == JobState.CONVERTED
    assert sorted(Path(path).name for path in job.outputs) == SLIDE_OBJECTS
    (folder,) = {Path(path).parent for path in job.outputs}
    assert folder == spool / "scan"
    for path in map(Path, job.outputs):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for here in (spool, folder):
        assert stat.S_IMODE(here.stat().st_mode) == 0o700, here

    # The PACS is back: the slide's objects go together, and the spool keeps nothing.
    send = ServiceSettings(
        send=f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}",
        send_options=SendOptions(connect_timeout=5),
        metadata=MODEL,
    )
    up = _watcher(inbox, send)
    try:
        assert up.run(once=True).line() == "2 filed as done, 0 as failed, 0 waiting"
        done = up.journal.get(job.id)
    finally:
        up.close()
    assert done is not None
    assert done.state == JobState.DONE
    assert sorted(done.statuses) == sorted(job.outputs)
    assert set(done.statuses.values()) == {"stored"}
    stored = [orthanc.get(f"/instances/{i}/simplified-tags") for i in orthanc.get("/instances")]
    slides = [tags for tags in stored if tags["SOPClassUID"] == WSM]
    assert len(stored) == len(SLIDE_OBJECTS) + 1
    assert len(slides) == len(SLIDE_OBJECTS)
    assert len({tags["SeriesInstanceUID"] for tags in slides}) == 1
    assert not folder.exists()
    assert [path for path in spool.rglob("*") if path.is_file()] == []
    assert _files(inbox / "done") == ["photo.jpg", "scan.svs"]


def test_a_slide_written_slowly_is_converted_once_and_whole(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    data = _svs(tmp_path / "scan.svs")
    watcher = Watcher(
        WatchSettings(
            inbox=inbox,
            done=inbox / "done",
            failed=inbox / "failed",
            state=inbox / ".dicomize",
            settle=0.8,
            poll=0.1,
        ),
        ServiceSettings(output=out, metadata=MODEL),
    )
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        # A scanner writing in place: a chunk, then a pause longer than the poll interval
        # (the watcher looks several times at each half-written state) but within the
        # settle time. The label and overview are the file's last pages.
        chunk = len(data) // 6 + 1
        with (inbox / "scan.svs").open("wb") as stream:
            for start in range(0, len(data), chunk):
                stream.write(data[start : start + chunk])
                stream.flush()
                time.sleep(0.4)
        _until((inbox / "done" / "scan.svs").exists, timeout=30)
    finally:
        watcher.stop()
        thread.join(timeout=30)
        watcher.close()
    assert (inbox / "done" / "scan.svs").read_bytes() == data
    assert _files(inbox / "failed") == []
    assert list(_outputs(inbox)) == ["scan.svs"]  # one job: taken once
    assert sorted(path.name for path in (out / "scan").iterdir()) == SLIDE_OBJECTS
    assert sorted(path.name for path in out.iterdir()) == ["scan"]


class _ScannerGoesOn(Worker):
    """A worker whose first conversion the scanner outlives: it writes the rest meanwhile.

    As a scanner that paused longer than the settle time, then went on writing.
    """

    rest = b""

    def _produce(self, job: Job) -> tuple[Path, tuple[str, ...], dict[str, Any]]:
        try:
            return super()._produce(job)
        finally:
            if self.rest:
                with Path(job.source).open("ab") as stream:
                    stream.write(self.rest)
                self.rest = b""


def test_a_slide_that_grows_while_converted_is_dropped_and_taken_again_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    data = _svs(tmp_path / "scan.svs")
    half = len(data) // 2
    _drop(inbox / "scan.svs", data[:half])  # settled: taken at once, half-written
    watcher = _watcher(inbox, ServiceSettings(output=out, metadata=MODEL))
    growing = _ScannerGoesOn(
        watcher.journal, watcher.worker.settings, watcher.worker.spool, watcher.filing
    )
    growing.rest = data[half:]
    watcher.worker = growing
    try:
        with caplog.at_level(logging.INFO, logger="dicomize.service.worker"):
            summary = watcher.run(once=True)
        jobs = watcher.journal.recent()
    finally:
        watcher.close()
    # Neither failed (it was not broken, only unfinished) nor kept as it was half-written.
    assert summary.line() == "1 filed as done, 0 as failed, 0 waiting"
    assert "still being written" in caplog.text
    assert [(job.name, job.state, job.size) for job in jobs] == [
        ("scan.svs", JobState.DONE, len(data))
    ]
    assert (inbox / "done" / "scan.svs").read_bytes() == data
    assert _files(inbox / "failed") == []
    assert sorted(path.name for path in out.iterdir()) == ["scan"]
    assert sorted(path.name for path in (out / "scan").iterdir()) == SLIDE_OBJECTS


def test_a_broken_slide_is_filed_as_failed_on_one_line_and_the_watcher_goes_on(
    tmp_path: Path,
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    broken = write_broken(tmp_path / "broken")
    defects = {
        "truncated": "cut short",
        "zero-byte-tile": "is empty (0 bytes)",
        "levels-out-of-order": "out of order",
        "huge": "pixel limit",
    }
    watcher = Watcher(
        WatchSettings(
            inbox=inbox,
            done=inbox / "done",
            failed=inbox / "failed",
            state=inbox / ".dicomize",
            settle=0.2,
            poll=0.1,
        ),
        ServiceSettings(output=out, metadata=MODEL),
    )
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        for name in defects:
            _drop(inbox / f"{name}.svs", broken[name].read_bytes(), settled=False)
        _until(lambda: len(_files(inbox / "failed")) == 2 * len(defects), timeout=60)
        # Still watching: a picture and a good slide dropped after them are converted.
        _drop(inbox / "photo.jpg", _jpeg(3), settled=False)
        _drop(inbox / "good.svs", _svs(tmp_path / "good.svs"), settled=False)
        _until(lambda: len(_files(inbox / "done")) == 2, timeout=60)
        assert thread.is_alive()
    finally:
        watcher.stop()
        thread.join(timeout=30)
        watcher.close()
    assert _files(inbox / "done") == ["good.svs", "photo.jpg"]
    for name, words in defects.items():
        reason = (inbox / "failed" / f"{name}.svs.error.txt").read_text(encoding="utf-8")
        assert reason.count("\n") == 1, reason
        assert words in reason, reason
        assert f"{name}.svs" in reason, reason
    assert sorted(path.name for path in out.iterdir()) == ["good", "photo.dcm"]
    assert sorted(path.name for path in (out / "good").iterdir()) == SLIDE_OBJECTS
    # Nothing half-made of a broken slide is left: no folder, no hidden temporary.
    assert [p for p in out.rglob("*") if p.name.startswith(".")] == []


def test_the_page_does_not_take_a_slide_and_says_so_and_takes_the_rest(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    server = serving("-o", str(tmp_path / "out"))
    slide = _svs(tmp_path / "scan.svs")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        visit, token = _visit(client, PatientID="P1", PatientName="Doe^Jane")
        answer = client.post(
            f"{visit}/files?series=0",
            files=[
                ("files", ("scan.svs", slide, "image/tiff")),
                ("files", ("photo.jpg", _jpeg(4), "image/jpeg")),
            ],
            headers={"X-CSRF-Token": token},
        )
        assert answer.status_code == 200, answer.text
        taken = answer.json()
        assert len(taken["jobs"]) == 1
        (note,) = taken["notes"]
        assert note.startswith("scan.svs was not taken: it is a whole-slide image")
        assert "\n" not in note
        page = client.get(f"{visit}/files")
        assert page.status_code == 200
        assert "photo.jpg" in page.text
        assert "scan.svs" not in page.text
    # Nothing of the slide is kept.
    uploads = [p for p in (server.state / "uploads").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in uploads] == [_jpeg(4)]


def _watcher(inbox: Path, settings: ServiceSettings) -> Watcher:
    """A watcher in this process, scanning only, for files that are already complete."""
    folders = WatchSettings(
        inbox=inbox,
        done=inbox / "done",
        failed=inbox / "failed",
        state=inbox / ".dicomize",
        settle=0,
        events=False,
    )
    return Watcher(folders, settings)
