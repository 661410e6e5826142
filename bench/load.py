"""Load and soak: many browsers on ``dicomize serve``, thousands of files into ``dicomize watch``.

Run by hand, never in the test suite (it takes minutes and needs Orthanc):

    .venv/bin/python bench/load.py            # 20 browsers x 10 photos; 2,000 files, 2 restarts
    .venv/bin/python bench/load.py --quick    # 5 browsers x 4 photos; 200 files, for a smoke test
    .venv/bin/python bench/load.py --at HEAD  # that commit's dicomize, not the working tree's
    .venv/bin/python bench/load.py --only serve --rounds 3   # does serve's memory settle?

Two scenarios, each against a real Orthanc (the test suite's peer, on free loopback
ports, with its own storage):

* **serve**: a ``dicomize serve`` process; each browser is an httpx client doing what the
  page does (GET / for the CSRF token and the session cookie, POST /visit with a typed
  patient, one multipart upload of its photos with the X-CSRF-Token header, the file list
  polled every second as app.js does, previews fetched as the <img> tags ask, POST send
  once every file is ready, polling again until every file is stored). All browsers
  upload at the same moment.
* **watch**: a ``dicomize watch`` process sending to Orthanc; files are dropped the careful
  way (a hidden temporary name, then a rename) while Orthanc is stopped and started
  again, twice, on the same storage.

Each scenario then asks Orthanc's REST API what it holds: every photo's JPEG scan data
must be there exactly once, under its own patient, and nothing may be left in the
service's spool or upload folders. Peak RSS is the service process's VmHWM. The table
is printed; a full run appends it to bench/RESULTS.md with the command and the commit.
The exit status is 1 when a defect was found.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import itertools
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from peers import Orthanc, free_port  # noqa: E402  (the test suite's real Orthanc peer)

_SCRIPT = Path(sys.executable).parent / "dicomize"
#: The console script users run; python -m dicomize where there is none.
DICOMIZE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "dicomize"]
#: The file list's states app.js keeps polling for.
MOVING = {"new", "converted", "stored"}
#: Seconds a stopped PACS waits for the watcher to find it down before it starts again.
MET_DOWN_WITHIN = 60
#: Where the services import dicomize from: the working tree unless --at names a commit.
SOURCE: dict[str, str] = {}
_STATE = re.compile(r'data-state="([a-z]+)"')
_PREVIEW = re.compile(r'src="(/visit/[^"]+/preview/[^"]+)"')
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_PROBLEM = re.compile(r"Traceback|\bCRITICAL\b|\bERROR\b|internal error")
_MARKER, _SOS = 0xFF, 0xDA  # a JPEG marker's first byte; start of scan


class Defect(AssertionError):
    """What the service did wrong; the run goes on to report the others."""


# -- pictures and what Orthanc holds of them ---------------------------------------------------


def jpeg(width: int, height: int, index: int, noise: int) -> bytes:
    """Return a baseline JPEG unlike any other index: a gradient shifted by `index`, plus noise."""
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x + index, y + 3 * index, x + y + 7 * index], axis=-1) % 256
    pixels = base.astype(np.int16) + rng.integers(-noise, noise + 1, base.shape, dtype=np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def scan_digest(codestream: bytes) -> str:
    """SHA-256 of a JPEG's scan: from SOS to EOI, what a passed-through JPEG keeps unchanged.

    dicomize strips metadata segments (APPn, COM) from a JPEG it passes through, and
    a frame may carry a padding byte; the scan itself is the photo's identity.
    """
    position = 2  # after SOI
    while position + 4 <= len(codestream):
        if codestream[position] != _MARKER:
            raise ValueError("not a marker where one was expected")
        marker = codestream[position + 1]
        if marker == _SOS:
            end = codestream.rindex(b"\xff\xd9") + 2
            return hashlib.sha256(codestream[position:end]).hexdigest()
        position += 2 + int.from_bytes(codestream[position + 2 : position + 4], "big")
    raise ValueError("no SOS marker")


def orthanc_holds(pacs: Orthanc) -> tuple[int, dict[str, list[str]]]:
    """Instances Orthanc holds, and each patient's scan digests (one per instance)."""
    with httpx.Client(base_url=pacs.url, timeout=60) as client:
        instances = client.get("/instances").raise_for_status().json()
        patients = client.get("/patients").raise_for_status().json()

        def digest(instance: str) -> str:
            raw = client.get(f"/instances/{instance}/frames/0/raw").raise_for_status()
            return scan_digest(raw.content)

        held: dict[str, list[str]] = {}
        with ThreadPoolExecutor(4) as pool:
            for patient in patients:
                tags = client.get(f"/patients/{patient}").raise_for_status().json()
                ids = [
                    item["ID"]
                    for item in client.get(f"/patients/{patient}/instances")
                    .raise_for_status()
                    .json()
                ]
                held[tags["MainDicomTags"]["PatientID"]] = list(pool.map(digest, ids))
    return len(instances), held


def check_stored(
    pacs: Orthanc, expected: dict[str, list[str]], problems: list[str]
) -> tuple[int, int]:
    """Compare what Orthanc holds with `expected` (patient -> scan digests); note each defect."""
    count, held = orthanc_holds(pacs)
    total = sum(len(v) for v in expected.values())
    if count != total:
        problems.append(f"Orthanc holds {count} instances, expected {total}")
    if set(held) != set(expected):
        problems.append(
            f"Orthanc holds {len(held)} patients, expected {len(expected)}: "
            f"missing {sorted(set(expected) - set(held))}, "
            f"unexpected {sorted(set(held) - set(expected))}"
        )
    for patient, digests in expected.items():
        found = Counter(held.get(patient, []))
        missing = [d for d in digests if found[d] == 0]
        twice = [d for d, n in found.items() if n > 1]
        foreign = set(found) - set(digests)
        if missing or twice or foreign:
            problems.append(
                f"patient {patient}: {len(missing)} photos missing, {len(twice)} stored more "
                f"than once, {len(foreign)} that are not this patient's"
            )
    return count, len(held)


# -- processes ---------------------------------------------------------------------------------


def proc_kib(pid: int, key: str) -> int:
    """One line of /proc/PID/status (VmHWM: peak RSS, VmRSS: now), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


def open_fds(pid: int) -> int:
    """File descriptors the process holds open."""
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


@dataclass
class Service:
    """A dicomize process, its log, and what it used."""

    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    fds_at_start: int = 0
    figures: dict[str, float] = field(default_factory=dict)

    def start(self, ready: Callable[[], bool]) -> None:
        """Start the process; return once `ready` says it answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=log, env={**os.environ, **SOURCE}
            )
        deadline = time.monotonic() + 60
        while not ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[1]} exited:\n{self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.command[1]} did not come up")
            time.sleep(0.1)
        self.fds_at_start = open_fds(self.process.pid)

    def measure(self) -> None:
        """Peak and current RSS and open descriptors, read before the process is stopped."""
        assert self.process is not None  # noqa: S101  (started)
        pid = self.process.pid
        self.figures = {
            "peak_mib": proc_kib(pid, "VmHWM") / 1024,
            "end_mib": proc_kib(pid, "VmRSS") / 1024,
            "fds_start": self.fds_at_start,
            "fds_end": open_fds(pid),
        }

    def stop(self) -> int | None:
        """SIGTERM, then wait; return the exit status (None when it was never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                return -9
        return self.process.returncode

    def problems(self) -> list[str]:
        """Log lines that show a defect: tracebacks, errors."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if _PROBLEM.search(line)]


def leftovers(*folders: Path) -> list[Path]:
    """Files under `folders` (which may not exist)."""
    return [p for f in folders if f.exists() for p in f.rglob("*") if p.is_file()]


# -- scenario 1: browsers on dicomize serve ----------------------------------------------------


@dataclass
class Browser:
    """One person at the page: a cookie jar, the page's CSRF token, what its <img> tags loaded."""

    url: str
    number: int
    photos: list[Path]
    client: httpx.Client = field(init=False)
    csrf: str = ""
    visit: str = ""
    previews: set[str] = field(default_factory=set)
    #: Previews whose object was gone when the <img> asked: stored and deleted from the spool
    #: between the list's rendering and the request (a browser shows a broken image).
    gone: int = 0
    upload_seconds: float = 0.0
    held_seconds: float = 0.0
    seconds: float = 0.0
    states: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, follow_redirects=True, timeout=300)

    @property
    def patient(self) -> str:
        """The Patient ID this browser types."""
        return f"LOAD23-{self.number:03d}"

    def page(self, response: httpx.Response) -> str:
        """Show a page as the browser does: read its CSRF token, load its previews."""
        response.raise_for_status()
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        self.load_previews(response.text)
        return response.text

    def load_previews(self, html: str) -> None:
        """Fetch what the <img> tags ask for; each URL once, as a browser's cache would."""
        # Each URL carries the job's stamp: a browser asks again only when it changes.
        for src in _PREVIEW.findall(html):
            if src not in self.previews:
                self.previews.add(src)
                answer = self.client.get(src.replace("&amp;", "&"))
                if answer.status_code == httpx.codes.NOT_FOUND:
                    self.gone += 1
                else:
                    answer.raise_for_status()

    def open_visit(self) -> None:
        """Open the page and type the patient: a visit, and the session's CSRF token."""
        self.page(self.client.get("/"))
        for asset in ("/static/style.css", "/static/app.js"):
            self.client.get(asset).raise_for_status()
        typed = {
            "csrf": self.csrf,
            "PatientID": self.patient,
            "PatientName": f"Load^Browser{self.number:02d}",
            "PatientBirthDate": "19800101",
            "PatientSex": "O",
            "AccessionNumber": f"ACC23{self.number:04d}",
            "StudyDescription": "Load test",
        }
        response = self.client.post("/visit", data=typed)
        self.page(response)
        self.visit = response.url.path.rsplit("/", 1)[1]

    def upload(self) -> None:
        """Drop every photo on series 1 in one upload, as app.js sends it."""
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in self.photos]
        started = time.perf_counter()
        response = self.client.post(
            f"/visit/{self.visit}/files",
            params={"series": "0"},
            files=files,
            headers={"X-CSRF-Token": self.csrf},
        )
        self.upload_seconds = time.perf_counter() - started
        response.raise_for_status()
        taken = response.json()["jobs"]
        if len(taken) != len(self.photos):
            raise Defect(f"browser {self.number}: {len(taken)} jobs for {len(self.photos)} files")

    def follow(self, deadline: float) -> list[str]:
        """Poll the file list every second while a file is still moving, as app.js does."""
        while True:
            html = self.client.get(
                f"/visit/{self.visit}/files", headers={"Accept": "text/html"}
            ).raise_for_status()
            self.load_previews(html.text)
            states = _STATE.findall(html.text)
            if not MOVING.intersection(states):
                return states
            if time.monotonic() > deadline:
                raise Defect(f"browser {self.number}: still {Counter(states)} at the deadline")
            time.sleep(1.0)

    def run(self, start: threading.Barrier, deadline: float) -> None:
        """Open a visit, wait for the others, upload, check, send, follow to the end."""
        self.open_visit()
        start.wait()
        began = time.perf_counter()
        self.upload()
        states = self.follow(deadline)
        self.held_seconds = time.perf_counter() - began
        if states.count("held") != len(self.photos):
            raise Defect(f"browser {self.number}: before sending, {Counter(states)}")
        # The person presses Send; the form posts and the browser follows to the visit page.
        self.page(self.client.post(f"/visit/{self.visit}/send", data={"csrf": self.csrf}))
        self.states = Counter(self.follow(deadline))
        self.seconds = time.perf_counter() - began
        if self.states != Counter({"done": len(self.photos)}):
            raise Defect(f"browser {self.number}: ended with {dict(self.states)}")


def serve_load(work: Path, browsers: int, each: int, rounds: int = 1) -> dict[str, Any]:
    """`browsers` people at the page at once, each uploading `each` photos and sending them.

    With `rounds` above 1, as many new people come after the last have finished, to the
    same process: whether its memory settles or keeps growing.
    """
    (work / "photos").mkdir()
    (work / "orthanc").mkdir()
    pacs = Orthanc(work / "orthanc")
    state, port = work / "serve-state", free_port()
    url = f"http://127.0.0.1:{port}"
    service = Service([], work / "serve.log")
    problems: list[str] = []
    people: list[Browser] = []
    after: list[float] = []
    seconds = 0.0
    try:
        pacs.start()
        service.command = [
            *DICOMIZE, "serve", "--host", "127.0.0.1", "--port", str(port), "--state", str(state),
            "--send", f"dicom://ORTHANC@127.0.0.1:{pacs.dicom_port}",
        ]  # fmt: skip
        service.start(lambda: _answers(url))
        for turn in range(rounds):
            print(f"serve: generating {browsers * each} photos (1600x1200)...", flush=True)
            numbers = range(turn * browsers, (turn + 1) * browsers)
            group = [Browser(url, n, _photos(work / "photos", n, each)) for n in numbers]
            people += group
            print(f"serve: {browsers} browsers uploading {each} photos each...", flush=True)
            seconds += _at_once(group, problems)
            for browser in group:
                browser.client.close()
            assert service.process is not None  # noqa: S101  (started)
            after.append(proc_kib(service.process.pid, "VmRSS") / 1024)
        time.sleep(1)  # the browsers' connections closed on the server's side too
        service.measure()
        expected = {b.patient: [scan_digest(p.read_bytes()) for p in b.photos] for b in people}
        instances, patients = check_stored(pacs, expected, problems)
    finally:
        for browser in people:
            browser.client.close()
        status = service.stop()
        pacs.stop()
    left = leftovers(state / "spool", state / "uploads")
    if left:
        problems.append(f"{len(left)} files left in the state folder: {left[:3]}")
    # uvicorn shuts down cleanly on SIGTERM, then raises the signal again: -15 is a clean stop.
    if status not in (0, -signal.SIGTERM, None):
        problems.append(f"dicomize serve exited with status {status} on SIGTERM")
    problems += [f"serve log: {line}" for line in service.problems()[:10]]
    uploads = sorted(b.upload_seconds for b in people)
    megabytes = sum(p.stat().st_size for b in people for p in b.photos) / 1e6
    what = f"serve: {browsers} browsers x {each} photos" + (
        f" x {rounds} rounds" if rounds > 1 else ""
    )
    return {
        "what": f"{what} (1600x1200, {megabytes:.0f} MB)",
        "files": len(people) * each,
        "seconds": seconds,
        "instances": instances,
        "patients": patients,
        "left": len(left),
        **service.figures,
        "detail": (
            f"each browser's upload of {each} photos, all at once: median "
            f"{uploads[len(uploads) // 2]:.1f} s, longest {uploads[-1]:.1f} s; from its upload, "
            f"every file ready to send within {max(b.held_seconds for b in people):.1f} s and "
            f"stored within {max(b.seconds for b in people):.1f} s (longest browser; the page "
            f"polls every second); previews asked for: {sum(len(b.previews) for b in people)}, "
            f"of which {sum(b.gone for b in people)} were gone (stored and removed from the "
            "spool between the list and the request)"
            + (
                f"; RSS after each round: {', '.join(f'{m:.0f}' for m in after)} MiB"
                if after[1:]
                else ""
            )
        ),
        "problems": problems,
    }


def _photos(folder: Path, number: int, each: int) -> list[Path]:
    """Phone-like photos for browser `number`, none like another."""
    paths = []
    for index in range(each):
        path = folder / f"IMG_{number:02d}{index:02d}.jpg"
        path.write_bytes(jpeg(1600, 1200, 1000 + number * each + index, noise=20))
        paths.append(path)
    return paths


def _at_once(people: list[Browser], problems: list[str]) -> float:
    """Run every browser in its own thread, uploads released together; return the wall time."""
    start = threading.Barrier(len(people) + 1)
    deadline = time.monotonic() + 20 * 60

    def person(browser: Browser) -> None:
        try:
            browser.run(start, deadline)
        except Exception as exc:  # one browser's failure is reported, the rest go on
            problems.append(f"browser {browser.number}: {exc!r}")
            start.abort()

    threads = [threading.Thread(target=person, args=(b,)) for b in people]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a browser failed: in problems
        start.wait(timeout=300)
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/", timeout=1).status_code == httpx.codes.OK
    except httpx.HTTPError:
        return False


# -- scenario 2: files dropped into dicomize watch, the PACS restarted -------------------------


@dataclass
class Soak:
    """A watched folder fed while its PACS goes away and comes back."""

    work: Path
    count: int
    restarts: int
    down: float
    problems: list[str] = field(default_factory=list)
    outages: list[float] = field(default_factory=list)

    @property
    def inbox(self) -> Path:
        """The watched folder."""
        return self.work / "inbox"

    @property
    def journal(self) -> Path:
        """The watcher's journal."""
        return self.inbox / ".dicomize" / "journal.sqlite"

    def attempts(self) -> int:
        """Count the sends that found the PACS down so far (each deferred to a retry)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True)) as db:
            (total,) = db.execute("SELECT COALESCE(SUM(attempts), 0) FROM jobs").fetchone()
        return int(total)

    @property
    def staging(self) -> Path:
        """Where the files wait to be dropped."""
        return self.work / "staging"

    def photos(self) -> list[str]:
        """Write small distinct JPEGs to the staging folder; return their scan digests."""
        self.staging.mkdir()
        digests = []
        for index in range(self.count):
            data = jpeg(320, 240, 100_000 + index, noise=12)
            (self.staging / f"scan{index:05d}.jpg").write_bytes(data)
            digests.append(scan_digest(data))
        return digests

    def drop(self, files: list[Path]) -> None:
        """Copy files in under a hidden temporary name, then rename them: a careful writer."""
        for path in files:
            temporary = self.inbox / f".{path.name}.part"
            shutil.copyfile(path, temporary)
            temporary.rename(self.inbox / path.name)

    def filed(self) -> int:
        """Count the sources filed so far, done or failed."""
        return sum(
            1 for folder in ("done", "failed") if (self.inbox / folder).exists()
            for _ in (self.inbox / folder).iterdir()
        )  # fmt: skip

    def wait_filed(self, target: int, service: Service, deadline: float) -> bool:
        """Wait until `target` sources are filed; False (the reason noted) if that never comes."""
        assert service.process is not None  # noqa: S101  (started by the caller)
        while (filed := self.filed()) < target:
            if service.process.poll() is not None:
                self.problems.append(f"dicomize watch exited: {service.process.returncode}")
                return False
            if time.monotonic() > deadline:
                self.problems.append(f"only {filed} of {target} filed at the deadline")
                return False
            time.sleep(0.2)
        return True

    def drive(self, pacs: Orthanc, service: Service) -> float:
        """Drop the files in waves, the PACS down as each wave after the first arrives.

        Orthanc is stopped once half the wave before is filed, so sends are under way, and
        the next wave is dropped while it is down; it stays down for `down` seconds and
        until the watcher has found it down (a send deferred), so every restart is one the
        watcher has to recover from. Return the seconds from the first drop to the last
        file filed.
        """
        files = sorted(self.staging.iterdir())
        parts = self.restarts + 1
        waves = [
            files[n * len(files) // parts : (n + 1) * len(files) // parts] for n in range(parts)
        ]
        deadline = time.monotonic() + 30 * 60
        began = time.perf_counter()
        self.drop(waves[0])
        dropped = len(waves[0])
        for previous, wave in itertools.pairwise(waves):
            if not self.wait_filed(dropped - len(previous) // 2, service, deadline):
                return time.perf_counter() - began
            stopped = time.perf_counter()
            before = self.attempts()
            pacs.stop()
            self.drop(wave)
            dropped += len(wave)
            while time.perf_counter() - stopped < self.down or (
                self.attempts() == before and time.perf_counter() - stopped < MET_DOWN_WITHIN
            ):
                time.sleep(0.1)
            if self.attempts() == before:
                self.problems.append(f"no send met the PACS down within {MET_DOWN_WITHIN} s")
            pacs.start()
            self.outages.append(time.perf_counter() - stopped)
            print(f"watch: Orthanc restarted; {dropped} files dropped", flush=True)
        self.wait_filed(self.count, service, deadline)
        return time.perf_counter() - began

    def check_folders(self) -> list[Path]:
        """Note sources not in done/, failed ones, leftovers; return the files left behind."""
        done = self.inbox / "done"
        filed = sorted(p.name for p in done.iterdir()) if done.exists() else []
        if filed != sorted(p.name for p in self.staging.iterdir()):
            self.problems.append(f"{len(filed)} sources in done/, expected {self.count}")
        failed = leftovers(self.inbox / "failed")
        if failed:
            self.problems.append(f"{len(failed)} files in failed/: {failed[:3]}")
        left = leftovers(self.inbox / ".dicomize" / "spool")
        left += [p for p in self.inbox.iterdir() if p.is_file()]
        if left:
            self.problems.append(f"{len(left)} files left in the spool or the inbox: {left[:3]}")
        if self.restarts and len(self.outages) != self.restarts:
            self.problems.append(
                f"Orthanc restarted {len(self.outages)} times, not {self.restarts}"
            )
        return left


def watch_soak(work: Path, count: int, restarts: int, down: float) -> dict[str, Any]:
    """Drop `count` photos into a watched folder; stop and start Orthanc `restarts` times."""
    print(f"watch: generating {count} photos (320x240)...", flush=True)
    soak = Soak(work, count, restarts, down)
    digests = soak.photos()
    soak.inbox.mkdir()
    (work / "orthanc").mkdir()
    pacs = Orthanc(work / "orthanc")
    service = Service([], work / "watch.log")
    try:
        pacs.start()
        service.command = [
            *DICOMIZE, "watch", str(soak.inbox),
            "--send", f"dicom://ORTHANC@127.0.0.1:{pacs.dicom_port}",
            "--patient-id", "LOAD23-WATCH", "--patient-name", "Load^Watch",
            # A restart is seen at the next try: 1 s, then 2, 4... (the default starts at 5 s).
            "--settle", "1", "--poll", "0.5", "--retry-after", "1",
        ]  # fmt: skip
        service.start(soak.journal.exists)
        print(f"watch: dropping {count} files, restarting Orthanc {restarts} times...", flush=True)
        seconds = soak.drive(pacs, service)
        service.measure()
        states = _journal_states(soak.journal)
        waits = soak.attempts()
        if states != {"done": count}:
            soak.problems.append(f"journal states at the end: {states}")
        instances, patients = check_stored(pacs, {"LOAD23-WATCH": digests}, soak.problems)
    finally:
        status = service.stop()
        pacs.stop()
    left = soak.check_folders()
    if status not in (0, None):
        soak.problems.append(f"dicomize watch exited with status {status} on SIGTERM")
    soak.problems += [f"watch log: {line}" for line in service.problems()[:10]]
    return {
        "what": f"watch: {count} files (320x240), Orthanc restarted {restarts}x",
        "files": count,
        "seconds": seconds,
        "instances": instances,
        "patients": patients,
        "left": len(left),
        **service.figures,
        "detail": (
            f"files dropped in {restarts + 1} waves, each after the first while Orthanc was "
            f"down for {', '.join(f'{s:.1f}' for s in soak.outages) or 'never'} s (stop, drop, "
            f"wait {down:g} s and for a send to fail, start); {waits} sends deferred to a retry"
        ),
        "problems": soak.problems,
    }


def _journal_states(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())


# -- the report --------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Return the markdown table of `rows`, their details and every defect found."""
    header = [
        "scenario", "seconds", "files/s", "in Orthanc", "patients", "left behind",
        "peak RSS MiB", "RSS at end MiB", "open fds start/end", "defects",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            row["what"],
            f"{row['seconds']:.1f}",
            f"{row['files'] / row['seconds']:.1f}",
            f"{row['instances']} of {row['files']}",
            str(row["patients"]),
            str(row["left"]),
            f"{row.get('peak_mib', 0):.0f}",
            f"{row.get('end_mib', 0):.0f}",
            f"{row.get('fds_start', 0):.0f}/{row.get('fds_end', 0):.0f}",
            str(len(row["problems"])) if row["problems"] else "none",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {row['what'].split(':')[0]}: {row['detail']}." for row in rows]
    for row in rows:
        lines += [f"- DEFECT ({row['what'].split(':')[0]}): {p}" for p in row["problems"]]
    return lines


def record(lines: list[str], command: str, at: str | None, load: str) -> None:
    """Append this run under RESULTS.md's issue 23 heading (made on the first run)."""
    results = HERE / "RESULTS.md"
    text = results.read_text()
    heading = "## Issue 23: load and soak (bench/load.py)"
    commit = _git("rev-parse", "--short", at or "HEAD")
    dirty = "" if at else _git("status", "--porcelain", "--", "src")
    tree = " plus the working tree's uncommitted changes in src/" if dirty else ""
    cpu = f"{os.cpu_count()} cores ({platform.machine()}), load average {load}"
    run = [
        f"### {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}: commit `{commit}`{tree}, {cpu}",
        "",
        f"`{command}`",
        "",
        *lines,
        "",
    ]
    if heading not in text:
        text = text.rstrip("\n") + "\n\n" + heading + "\n"
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    end = len(text) if following == -1 else following + 1
    section = text[start:end].rstrip("\n") + "\n\n" + "\n".join(run)
    results.write_text(text[:start] + section + ("\n" + text[end:] if end < len(text) else ""))


def _git(*arguments: str) -> str:
    found = subprocess.run(
        ["git", *arguments], cwd=HERE.parent, capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


def export(revision: str, folder: Path) -> None:
    """Put `revision`'s src/ in `folder` and make the services import dicomize from there.

    Others edit the working tree while a run takes minutes: a commit holds still.
    """
    folder.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision, "src"], cwd=HERE.parent, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    SOURCE["PYTHONPATH"] = str(folder / "src")


def main() -> int:
    """Run both scenarios, print the table, append it to bench/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke test")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--only", choices=["serve", "watch"], help="one scenario (print only)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="serve: browsers come this many times (print only)"
    )
    parser.add_argument(
        "--at", metavar="REV", help="measure this commit's dicomize, not the working tree's"
    )
    args = parser.parse_args()
    if shutil.which("Orthanc") is None:
        print("Orthanc is not installed (Debian package orthanc): nothing to measure")
        return 1
    if args.at:  # named once: HEAD may move while the run takes minutes
        args.at = _git("rev-parse", "--short", args.at)
    browsers, each, count = (5, 4, 200) if args.quick else (20, 10, 2000)
    rows = []
    # A shared machine: what else ran shows in the load average, before and after.
    load = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory(prefix="dicomize-load-") as temporary:
        work = Path(temporary)
        if args.at:
            export(args.at, work / "tree")
        if args.only in (None, "serve"):
            (work / "serve").mkdir()
            rows.append(serve_load(work / "serve", browsers, each, args.rounds))
        if args.only in (None, "watch"):
            (work / "watch").mkdir()
            rows.append(watch_soak(work / "watch", count, restarts=2, down=3.0))
    load += f" before, {os.getloadavg()[0]:.1f} after"
    lines = table(rows)
    print("\n".join(lines))
    print(f"Load average: {load}.")
    if not (args.quick or args.no_write or args.only or args.rounds != 1):
        record(lines, " ".join(["python", "bench/load.py", *sys.argv[1:]]), args.at, load)
    return 1 if any(row["problems"] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
