"""``dicomize watch``: a real folder and Orthanc, kill -9 and restarts, a PACS that goes away."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from PIL import Image

from conftest import encode, gradient
from dicomize.options import SendOptions
from dicomize.service import Job, JobState, Journal, ServiceSettings, Watcher, WatchSettings, Worker
from dicomize.service.worker import file_digest
from peers import Orthanc, WorklistServer, free_port
from test_commit import LOSING_SCRIPT
from test_documents import make_pdf
from test_worklist import item

PATIENT = ["--patient-id", "P1", "--patient-name", "Doe^Jane"]


def _jpeg(number: int) -> bytes:
    """A distinct small JPEG for each number (distinct content, distinct SOP Instance UID)."""
    pixels = (gradient().astype("uint16") + number * 11) % 256
    return encode(Image.fromarray(pixels.astype("uint8")), "JPEG", quality=90)


def _drop(path: Path, data: bytes, *, settled: bool = True) -> Path:
    """Write a file the way a careful writer does (a temporary name, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    part.rename(path)
    if settled:  # written a minute ago: --once takes it without waiting for it to settle
        past = time.time() - 60
        os.utime(path, (past, past))
    return path


def _watch(cli: list[str], inbox: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, "watch", str(inbox), *args], check=False, capture_output=True, text=True, timeout=180
    )


def _start(cli: list[str], inbox: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cli, "watch", str(inbox), "--settle", "0.3", "--poll", "0.2", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def _files(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _jobs(inbox: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(inbox / ".dicomize" / "journal.sqlite") as db:
        return [(str(n), str(s)) for n, s in db.execute("SELECT name, state FROM jobs ORDER BY id")]


def _instances(orthanc: Orthanc) -> list[str]:
    return sorted(
        orthanc.get(f"/instances/{i}/simplified-tags")["SOPInstanceUID"]
        for i in orthanc.get("/instances")
    )


@pytest.fixture
def stopping() -> Iterator[list[subprocess.Popen[str]]]:
    """Watcher processes a test starts; any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def test_once_files_every_source_by_its_fate(tmp_path: Path, dicomize_cli: list[str]) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _drop(inbox / "sidecar.jpg", _jpeg(1))
    (inbox / "sidecar.jpg.json").write_text('{"PatientID": "P7", "PatientName": "Roe^Ann"}')
    _drop(inbox / "ward" / "table.jpg", _jpeg(2))
    (inbox / "ward" / "metadata.csv").write_text(
        "path,PatientID,AccessionNumber\ntable.jpg,P8,A8\n"
    )
    broken = _drop(inbox / "broken.jpg", _jpeg(3)[:200])
    (inbox / "broken.jpg.json").write_text('{"PatientID": "P9"}')
    nobody = _drop(inbox / "nobody.jpg", _jpeg(4))
    nobody_bytes = nobody.read_bytes()
    _drop(inbox / "letters" / "consent.pdf", make_pdf())
    (inbox / "letters" / "consent.pdf.json").write_text('{"PatientID": "P7"}')

    result = _watch(dicomize_cli, inbox, "-o", str(out), "--once", "--sidecar")

    assert result.returncode == 1, result.stderr
    assert "3 filed as done, 2 as failed, 0 waiting" in result.stderr
    assert "Roe" not in result.stderr
    assert "sidecar.jpg" not in result.stderr
    assert pydicom.dcmread(out / "sidecar.dcm").PatientID == "P7"
    table = pydicom.dcmread(out / "ward" / "table.dcm")
    assert (table.PatientID, table.AccessionNumber) == ("P8", "A8")
    assert _files(inbox / "done") == [
        "letters/consent.pdf",
        "letters/consent.pdf.json",
        "sidecar.jpg",
        "sidecar.jpg.json",
        "ward/table.jpg",
    ]
    assert pydicom.dcmread(out / "letters" / "consent.dcm").Modality == "DOC"
    assert _files(inbox / "failed") == [
        "broken.jpg",
        "broken.jpg.error.txt",
        "broken.jpg.json",
        "nobody.jpg",
        "nobody.jpg.error.txt",
    ]
    assert "truncated" in (inbox / "failed" / "broken.jpg.error.txt").read_text()
    assert "no Patient ID" in (inbox / "failed" / "nobody.jpg.error.txt").read_text()
    # Never filed under a guessed patient, and left as it came.
    assert (inbox / "failed" / "nobody.jpg").read_bytes() == nobody_bytes
    assert not broken.exists()
    assert sorted(p.name for p in out.rglob("*.dcm")) == ["consent.dcm", "sidecar.dcm", "table.dcm"]


def test_a_file_still_being_written_is_taken_once_complete(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    watcher = Watcher(
        WatchSettings(
            inbox=inbox,
            done=inbox / "done",
            failed=inbox / "failed",
            state=inbox / ".dicomize",
            settle=0.6,
            poll=0.1,
        ),
        ServiceSettings(output=out, metadata={"PatientID": "P1"}),
    )
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        data = _jpeg(5)
        with (inbox / "slow.jpg").open("wb") as stream:
            for start in range(0, len(data), 200):  # a slow writer: 200 bytes every 0.2 s
                stream.write(data[start : start + 200])
                stream.flush()
                time.sleep(0.2)
        _until((inbox / "done" / "slow.jpg").exists)
    finally:
        watcher.stop()
        thread.join(timeout=30)
        watcher.close()
    assert (inbox / "done" / "slow.jpg").read_bytes() == data
    assert _files(inbox / "failed") == []
    assert _jobs(inbox) == [("slow.jpg", "done")]
    # The JPEG passed through: the object holds the complete file's entropy-coded data.
    assert data[-400:] in pydicom.dcmread(out / "slow.dcm").PixelData


def test_sigterm_finishes_and_stops(
    tmp_path: Path, dicomize_cli: list[str], stopping: list[subprocess.Popen[str]]
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    watcher = _start(dicomize_cli, inbox, "-o", str(out), *PATIENT)
    stopping.append(watcher)
    _drop(inbox / "a.jpg", _jpeg(6), settled=False)
    _until((inbox / "done" / "a.jpg").exists)
    watcher.send_signal(signal.SIGTERM)
    _, errors = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, errors
    assert "1 filed as done, 0 as failed, 0 waiting" in errors
    assert (out / "a.dcm").exists()


def test_kill_9_at_any_moment_loses_nothing_and_files_nothing_twice(
    tmp_path: Path,
    orthanc: Orthanc,
    dicomize_cli: list[str],
    stopping: list[subprocess.Popen[str]],
) -> None:
    inbox = tmp_path / "inbox"
    count = 16
    for number in range(count):
        _drop(inbox / f"photo{number:02d}.jpg", _jpeg(number), settled=False)
    send = ["--send", f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}", *PATIENT]
    # Killed at different moments of its work: taking, converting, sending, filing.
    for pause in (0.5, 0.9, 1.3, 1.7, 2.1):
        watcher = _start(dicomize_cli, inbox, *send)
        stopping.append(watcher)
        time.sleep(pause)
        watcher.kill()
        watcher.wait(timeout=10)
    result = _watch(dicomize_cli, inbox, *send, "--once", "--settle", "0")
    assert result.returncode == 0, result.stderr
    assert _files(inbox / "done") == [f"photo{n:02d}.jpg" for n in range(count)]
    assert _files(inbox / "failed") == []
    assert [p.name for p in inbox.glob("*.jpg")] == []
    # Each file was taken once, and the PACS holds each once.
    jobs = _jobs(inbox)
    assert sorted(jobs) == [(f"photo{n:02d}.jpg", "done") for n in range(count)]
    assert len(_instances(orthanc)) == count
    assert len(set(_instances(orthanc))) == count
    assert list((inbox / ".dicomize" / "spool").rglob("*.dcm")) == []  # sent: spool emptied


def test_jobs_wait_for_a_pacs_that_is_down_and_survive_restarts(
    tmp_path: Path,
    orthanc: Orthanc,
    dicomize_cli: list[str],
    stopping: list[subprocess.Popen[str]],
) -> None:
    inbox = tmp_path / "inbox"
    send = [
        "--send",
        f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}",
        "--retry-after",
        "0.2",
        "--connect-timeout",
        "2",
        *PATIENT,
    ]
    orthanc.stop()
    for number in range(3):
        _drop(inbox / f"early{number}.jpg", _jpeg(number))
    # A run from cron while the PACS is down: everything waits, nothing is filed.
    down = _watch(dicomize_cli, inbox, *send, "--once")
    assert down.returncode == 1
    assert "0 filed as done, 0 as failed, 3 waiting" in down.stderr
    assert sorted(p.name for p in inbox.glob("*.jpg")) == [f"early{n}.jpg" for n in range(3)]
    # A watcher started while the PACS is still down; more files arrive; then the PACS returns.
    watcher = _start(dicomize_cli, inbox, *send)
    stopping.append(watcher)
    for number in range(3, 6):
        _drop(inbox / f"late{number}.jpg", _jpeg(number), settled=False)
    _until(lambda: len(_jobs(inbox)) == 6)
    assert _files(inbox / "done") == []
    orthanc.start()
    _until(lambda: len(_files(inbox / "done")) == 6, timeout=90)
    watcher.send_signal(signal.SIGTERM)
    watcher.communicate(timeout=30)
    assert len(_instances(orthanc)) == 6
    assert all(state == "done" for _, state in _jobs(inbox))


def test_once_counts_the_jobs_an_earlier_run_left_waiting_that_it_files(
    tmp_path: Path, orthanc: Orthanc, dicomize_cli: list[str]
) -> None:
    inbox = tmp_path / "inbox"
    send = [
        "--send",
        f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}",
        "--connect-timeout",
        "2",
        *PATIENT,
    ]
    orthanc.stop()
    for number in range(2):
        _drop(inbox / f"early{number}.jpg", _jpeg(number))
    down = _watch(dicomize_cli, inbox, *send, "--once")
    assert "0 filed as done, 0 as failed, 2 waiting" in down.stderr
    orthanc.start()
    _drop(inbox / "late.jpg", _jpeg(7))
    # A new run (a restart): the two converted before it are sent and filed by it too.
    up = _watch(dicomize_cli, inbox, *send, "--once")
    assert up.returncode == 0, up.stderr
    assert "3 filed as done, 0 as failed, 0 waiting" in up.stderr
    assert len(_instances(orthanc)) == 3


def test_once_counts_waiting_jobs_it_gives_up_on_as_failed(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    inbox = tmp_path / "inbox"
    send = ["--send", f"dicom://NOBODY@127.0.0.1:{free_port()}", "--connect-timeout", "2", *PATIENT]
    _drop(inbox / "a.jpg", _jpeg(1))
    first = _watch(dicomize_cli, inbox, *send, "--once")
    assert "0 filed as done, 0 as failed, 1 waiting" in first.stderr
    second = _watch(dicomize_cli, inbox, *send, "--once", "--give-up-after", "0")
    assert second.returncode == 1
    assert "0 filed as done, 1 as failed, 0 waiting" in second.stderr
    assert _files(inbox / "failed") == ["a.jpg", "a.jpg.error.txt"]


def test_a_stored_but_uncommitted_file_is_kept_and_the_others_go_on(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    listen = free_port()
    script = tmp_path / "lose.lua"
    script.write_text(LOSING_SCRIPT)
    (tmp_path / "orthanc").mkdir()
    pacs = Orthanc(
        tmp_path / "orthanc",
        DicomModalities={"dicomize": ["DICOMIZE", "127.0.0.1", listen]},
        LuaScripts=[str(script)],
    )
    pacs.start()
    try:
        inbox = tmp_path / "inbox"
        _drop(inbox / "kept.jpg", _jpeg(1))
        (inbox / "kept.jpg.json").write_text('{"PatientID": "12345"}')
        _drop(inbox / "lost.jpg", _jpeg(2))
        (inbox / "lost.jpg.json").write_text('{"PatientID": "LOSE"}')
        result = _watch(
            dicomize_cli,
            inbox,
            "--once",
            "--sidecar",
            "--send",
            f"dicom://ORTHANC@127.0.0.1:{pacs.dicom_port}",
            "--commit",
            "--commit-listen",
            f"127.0.0.1:{listen}",
            "--commit-timeout",
            "20",
        )
    finally:
        pacs.stop()
    assert result.returncode == 1
    assert "1 filed as done, 0 as failed, 1 waiting" in result.stderr
    assert _files(inbox / "done") == ["kept.jpg", "kept.jpg.json"]
    assert (inbox / "lost.jpg").exists()  # the PACS never committed to it: not filed
    spooled = list((inbox / ".dicomize" / "spool").rglob("*.dcm"))
    assert [p.name for p in spooled] == ["lost.dcm"]  # its object kept for the next attempt


def test_identity_from_the_worklist_by_the_folder_name(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778"))
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _drop(inbox / "A778" / "wound.jpg", _jpeg(1))
    unknown = _drop(inbox / "A999" / "wound.jpg", _jpeg(2))
    unknown_bytes = unknown.read_bytes()
    _drop(inbox / "loose.jpg", _jpeg(3))
    result = _watch(
        dicomize_cli,
        inbox,
        "-o",
        str(out),
        "--once",
        "--worklist",
        worklist.url,
        "--accession-from",
        "{folder}",
        "--scheduled",
        "today",
    )
    assert result.returncode == 1, result.stderr
    found = pydicom.dcmread(out / "A778" / "wound.dcm")
    assert (found.AccessionNumber, found.PatientID) == ("A778", "12345")
    assert _files(inbox / "done") == ["A778/wound.jpg"]
    assert _files(inbox / "failed") == [
        "A999/wound.jpg",
        "A999/wound.jpg.error.txt",
        "loose.jpg",
        "loose.jpg.error.txt",
    ]
    assert (inbox / "failed" / "A999" / "wound.jpg").read_bytes() == unknown_bytes
    assert (
        "no scheduled procedure step matches"
        in (inbox / "failed" / "A999" / "wound.jpg.error.txt").read_text()
    )
    assert (
        "no Accession Number in the path" in (inbox / "failed" / "loose.jpg.error.txt").read_text()
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give -o OUT, --send URL, or both"),
        (["-o", "out", "--accession-from", "{date}"], "--accession-from takes a template"),
        (["-o", "out", "--done", "."], "the done folder cannot be the watched folder"),
    ],
)
def test_flags_that_cannot_work_are_refused_before_anything_moves(
    tmp_path: Path, dicomize_cli: list[str], arguments: list[str], message: str
) -> None:
    _drop(tmp_path / "a.jpg", _jpeg(1))
    result = subprocess.run(
        [*dicomize_cli, "watch", ".", "--once", *arguments],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "a.jpg").exists()


# -- retention, stuck jobs ------------------------------------------------------------------------

HOUR = 3600.0


def _watcher(inbox: Path, settings: ServiceSettings, *, sidecar: bool = False) -> Watcher:
    """A watcher in this process, scanning only, for files that are already complete."""
    folders = WatchSettings(
        inbox=inbox,
        done=inbox / "done",
        failed=inbox / "failed",
        state=inbox / ".dicomize",
        settle=0,
        events=False,
        sidecar=sidecar,
    )
    return Watcher(folders, settings)


def _unreachable(**settings: Any) -> ServiceSettings:
    """Settings that send to a PACS that is down: a closed loopback port, refused at once."""
    return ServiceSettings(
        send=f"dicom://NOBODY@127.0.0.1:{free_port()}",
        send_options=SendOptions(connect_timeout=2),
        metadata={"PatientID": "P2"},
        **settings,
    )


def test_ended_jobs_are_forgotten_after_the_keep_time_and_waiting_ones_never(
    tmp_path: Path,
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _drop(inbox / "kept.jpg", _jpeg(1))
    (inbox / "kept.jpg.json").write_text('{"PatientID": "P1", "PatientName": "Forget^Me"}')
    _drop(inbox / "broken.jpg", _jpeg(2)[:200])
    (inbox / "broken.jpg.json").write_text('{"PatientID": "P1", "PatientName": "Forget^Me"}')
    first = _watcher(inbox, ServiceSettings(output=out, keep_for=HOUR), sidecar=True)
    assert first.run(once=True).line() == "1 filed as done, 1 as failed, 0 waiting"
    first.close()
    _drop(inbox / "waiting.jpg", _jpeg(3))
    second = _watcher(inbox, _unreachable(keep_for=HOUR))
    try:
        assert second.run(once=True).waiting == 1
        (spooled,) = (inbox / ".dicomize" / "spool").rglob("*.dcm")
        assert second.worker.expire(now=time.time() + HOUR / 2) == []
        # Days later: the rows that ended go; the one the PACS never took stays, and its object.
        forgotten = second.worker.expire(now=time.time() + 100 * HOUR)
        assert sorted(job.name for job in forgotten) == ["broken.jpg", "kept.jpg"]
        assert [(job.name, job.state) for job in second.journal.unfinished()] == [
            ("waiting.jpg", JobState.CONVERTED)
        ]
        assert spooled.exists()
    finally:
        second.close()
    # The operator's folders and the user's objects are theirs: retention touches neither.
    assert _files(inbox / "done") == ["kept.jpg", "kept.jpg.json"]
    assert "broken.jpg.error.txt" in _files(inbox / "failed")
    assert len(list(out.rglob("*.dcm"))) == 1
    # Deleted rows are overwritten, not left readable in the database file.
    journal = (inbox / ".dicomize" / "journal.sqlite").read_bytes()
    assert b"Forget^Me" not in journal
    assert b"kept.jpg" not in journal


def test_keep_days_zero_forgets_what_the_previous_run_finished(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _drop(inbox / "a.jpg", _jpeg(1))
    assert _watch(dicomize_cli, inbox, "-o", str(out), "--once", *PATIENT).returncode == 0
    assert _jobs(inbox) == [("a.jpg", "done")]
    again = _watch(dicomize_cli, inbox, "-o", str(out), "--once", "--keep-days", "0", *PATIENT)
    assert again.returncode == 0, again.stderr
    assert _jobs(inbox) == []
    refused = _watch(dicomize_cli, inbox, "-o", str(out), "--once", "--keep-days", "-1")
    assert refused.returncode == 2
    assert "--keep-days -1" in refused.stderr


class _Uploads:
    """Filing as the web page's: an upload is deleted when its job ends."""

    def destination(self, job: Job, error: str | None) -> Path | None:  # noqa: ARG002
        return None

    def filed(self, job: Job, destination: Path | None, error: str | None) -> None:
        pass


def test_a_held_upload_nobody_sent_expires_with_its_object_and_visit(tmp_path: Path) -> None:
    state, visit = tmp_path / "state", "V" * 24
    journal = Journal(state / "journal.sqlite")
    worker = Worker(journal, ServiceSettings(keep_for=HOUR), state / "spool", _Uploads())
    upload = state / "uploads" / visit / "a.jpg"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(_jpeg(1))
    patient = {"PatientID": "P1", "PatientName": "Held^Never"}
    journal.save_visit(visit, {"patient": patient, "summary": {}, "series": [{}]})
    job = journal.add(
        origin="web",
        batch=f"web/{visit}/0",
        source=str(upload),
        name=f"{visit}/0/a.jpg",
        size=upload.stat().st_size,
        mtime_ns=upload.stat().st_mtime_ns,
        digest=file_digest(upload),
        metadata=patient,
    )
    try:
        held = worker.convert(job)
        assert held.state == JobState.HELD
        (output,) = map(Path, held.outputs)
        assert worker.expire(now=time.time() + HOUR / 2) == []
        assert [job.id for job in worker.expire(now=time.time() + 2 * HOUR)] == [job.id]
        assert journal.get(job.id) is None
        assert journal.visit(visit) is None
        # Its series' instance counts go with it: no file can join a visit that is gone.
        counts = "SELECT COUNT(*) FROM meta WHERE key LIKE 'instances:%'"
        assert journal._db.execute(counts).fetchone()[0] == 0
    finally:
        journal.close()
    assert not upload.exists()
    assert not upload.parent.exists()
    assert not output.exists()


def test_a_waiting_job_can_be_retried_now_or_cancelled_and_filed_as_failed(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    for name in ("a.jpg", "b.jpg"):
        _drop(inbox / name, _jpeg(len(name) + ord(name[0])))
    watcher = _watcher(inbox, _unreachable())
    try:
        assert watcher.run(once=True).waiting == 2
        first, second = watcher.journal.unfinished()
        retried = watcher.journal.retry(first.id)
        assert retried is not None
        assert retried.next_try == 0
        # Due now, it may be in the worker's hands: neither retried again nor cancelled.
        assert watcher.journal.retry(first.id) is None
        assert watcher.worker.cancel(first.id, "cancelled by staff") is None
        cancelled = watcher.worker.cancel(second.id, "cancelled by staff")
        assert cancelled is not None
        assert cancelled.state == JobState.FAILED
        assert cancelled.error.startswith("b.jpg: cancelled by staff; the last attempt: ")
        assert watcher.worker.cancel(second.id, "cancelled by staff") is None  # it ended
        assert watcher.summary().line() == "0 filed as done, 1 as failed, 1 waiting"
    finally:
        watcher.close()
    assert _files(inbox / "failed") == ["b.jpg", "b.jpg.error.txt"]
    assert "cancelled by staff" in (inbox / "failed" / "b.jpg.error.txt").read_text()
    assert (inbox / "a.jpg").exists()


def test_status_lists_the_stuck_jobs_with_their_reasons(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    inbox = tmp_path / "inbox"
    _drop(inbox / "waits.jpg", _jpeg(1))
    _drop(inbox / "broken.jpg", _jpeg(2)[:200])
    closed = f"dicom://NOBODY@127.0.0.1:{free_port()}"
    _watch(dicomize_cli, inbox, "--send", closed, "--connect-timeout", "2", "--once", *PATIENT)
    fresh = _watch(dicomize_cli, inbox, "--status")
    assert fresh.returncode == 1  # the failed one, failed in the last day
    assert "1 stuck:" in fresh.stdout
    assert "broken.jpg" in fresh.stdout
    assert "truncated" in fresh.stdout
    assert "waits.jpg" not in fresh.stdout  # one attempt, a minute ago: not stuck yet
    # Waiting since two hours ago: stuck.
    with sqlite3.connect(inbox / ".dicomize" / "journal.sqlite") as db:
        db.execute("UPDATE jobs SET created = created - 7200 WHERE name = 'waits.jpg'")
    aged = _watch(dicomize_cli, inbox, "--status")
    assert aged.returncode == 1
    assert "1 converted, 1 failed" in aged.stdout
    assert "2 stuck:" in aged.stdout
    waiting = aged.stdout[aged.stdout.index("waits.jpg") - 200 :]
    assert "waiting to retry (attempt 2, next at " in waiting
    assert "1 failed attempt\n" in waiting
    assert "NOBODY" in waiting or "refused" in waiting.lower()
    nothing = _watch(dicomize_cli, tmp_path, "--status")
    assert nothing.returncode == 2
    assert "no journal" in nothing.stderr


def _web_job(journal: Journal, upload: Path, data: bytes, **metadata: str) -> Job:
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_bytes(data)
    visit = upload.parent.name
    return journal.add(
        origin="web",
        batch=f"web/{visit}/0",
        source=str(upload),
        name=f"{visit}/0/{upload.name}",
        size=upload.stat().st_size,
        mtime_ns=upload.stat().st_mtime_ns,
        digest=file_digest(upload),
        metadata={"PatientID": "P1", **metadata},
    )


def test_a_failed_upload_is_kept_until_retention_lets_it_go(tmp_path: Path) -> None:
    from dicomize.service.web.app import _UploadFiling

    state = tmp_path / "state"
    journal = Journal(state / "journal.sqlite")
    worker = Worker(journal, ServiceSettings(keep_for=HOUR), state / "spool", _UploadFiling(None))  # type: ignore[arg-type]
    upload = state / "uploads" / ("V" * 24) / "torn.jpg"
    job = _web_job(journal, upload, _jpeg(1)[:300])
    try:
        failed = worker.convert(job)
        assert failed.state == JobState.FAILED
        # Never in the PACS: the only copy the service has stays for the person to see.
        assert upload.exists()
        worker.expire(now=time.time() + 2 * HOUR)
        assert journal.get(job.id) is None
    finally:
        journal.close()
    assert not upload.exists()
    assert not upload.parent.exists()


class _Interrupted(Worker):
    """A worker during whose conversion the person changes the series on the page."""

    def _produce(self, job: Job) -> tuple[Path, tuple[str, ...], dict[str, Any]]:
        made = super()._produce(job)
        self.journal.update(
            job.id, state=JobState.NEW, metadata={**job.metadata, "SeriesDescription": "Late"}
        )
        return made


def test_a_setting_changed_while_its_file_converts_is_not_lost(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = Journal(state / "journal.sqlite")
    settings = ServiceSettings()
    job = _web_job(journal, state / "uploads" / ("V" * 24) / "a.jpg", _jpeg(2))
    try:
        again = _Interrupted(journal, settings, state / "spool", _Uploads()).convert(job)
        # The object made with the old values is not recorded, and not left behind.
        assert again.state == JobState.NEW
        assert again.outputs == []
        assert not list((state / "spool").rglob("*.dcm"))
        held = Worker(journal, settings, state / "spool", _Uploads()).convert(again)
        assert held.state == JobState.HELD
        assert pydicom.dcmread(held.outputs[0]).SeriesDescription == "Late"
    finally:
        journal.close()


# -- a study's and series' values are those its first object fixed ----------------------------


def _png(number: int) -> bytes:
    pixels = (gradient().astype("uint16") + number * 13) % 256
    return encode(Image.fromarray(pixels.astype("uint8")), "PNG")


def _sidecar(inbox: Path, name: str, number: int, **values: str) -> None:
    _drop(inbox / name, _png(number))
    (inbox / f"{name}.json").write_text(json.dumps({"PatientID": "P1", **values}))


def test_a_sidecar_that_contradicts_its_series_or_study_fails_and_a_later_file_takes_theirs(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _sidecar(inbox, "a.png", 1, Laterality="L", BodyPartExamined="HAND", StudyDescription="one")
    _sidecar(inbox, "b.png", 2, Laterality="R", BodyPartExamined="FOOT", StudyDescription="two")

    result = _watch(dicomize_cli, inbox, "-o", str(out), "--once", "--sidecar")

    assert result.returncode == 1, result.stderr
    assert "1 filed as done, 1 as failed, 0 waiting" in result.stderr
    assert _files(inbox / "done") == ["a.png", "a.png.json"]
    assert _files(inbox / "failed") == ["b.png", "b.png.error.txt", "b.png.json"]
    assert (inbox / "failed" / "b.png.error.txt").read_text() == (
        "b.png: Laterality 'R' differs from 'L', BodyPartExamined 'FOOT' differs from 'HAND' "
        "that its series already has; StudyDescription 'two' differs from 'one' that its study "
        "already has: put it in a folder of its own, or correct its sidecar\n"
    )
    assert [p.name for p in out.rglob("*.dcm")] == ["a.dcm"]
    # A later file, in a later run, that gives none of them takes its study's and series'; one
    # that gives a value its study has none of would contradict the study too.
    _sidecar(inbox, "c.png", 3)
    _sidecar(inbox, "d.png", 4, StudyID="7")
    again = _watch(dicomize_cli, inbox, "-o", str(out), "--once", "--sidecar")
    assert "1 filed as done, 1 as failed, 0 waiting" in again.stderr
    assert (
        (inbox / "failed" / "d.png.error.txt")
        .read_text()
        .startswith("d.png: StudyID '7' differs from (none) that its study already has: ")
    )
    first, later = (pydicom.dcmread(out / name) for name in ("a.dcm", "c.dcm"))
    same = ("StudyInstanceUID", "SeriesInstanceUID", "StudyDate", "StudyTime", "SeriesTime")
    assert [later[k].value for k in same] == [first[k].value for k in same]
    assert (later.StudyDescription, later.Laterality, later.BodyPartExamined) == (
        "one",
        "L",
        "HAND",
    )
    checked = subprocess.run(
        [*dicomize_cli, "validate", str(out)], check=False, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout
    assert "consistency (2 files, 1 study, 1 series): OK" in checked.stdout


def test_a_file_that_failed_fixes_nothing_and_retention_forgets_what_the_first_one_fixed(
    tmp_path: Path,
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _sidecar(inbox, "a.png", 1, Laterality="L", StudyDescription="Wrist of Forget^Me")
    (inbox / "a.png").write_bytes(_png(1)[:100])  # torn: no object
    _sidecar(inbox, "b.png", 2, Laterality="R", StudyDescription="Wrist of Forget^Me")
    watcher = _watcher(inbox, ServiceSettings(output=out, keep_for=HOUR), sidecar=True)
    try:
        assert watcher.run(once=True).line() == "1 filed as done, 1 as failed, 0 waiting"
        assert "differs" not in (inbox / "failed" / "a.png.error.txt").read_text()
        assert pydicom.dcmread(out / "b.dcm").Laterality == "R"
        assert watcher.worker.expire(now=time.time() + HOUR / 2) == []
        assert len(watcher.journal.first([str(pydicom.dcmread(out / "b.dcm").StudyInstanceUID)]))
        assert len(watcher.worker.expire(now=time.time() + 100 * HOUR)) == 2
        kept = [row[0] for row in watcher.journal._db.execute("SELECT key FROM meta")]
        assert [key for key in kept if not key.startswith(("uid_seed", "instances:"))] == []
    finally:
        watcher.close()
    assert b"Wrist of Forget" not in (inbox / ".dicomize" / "journal.sqlite").read_bytes()
