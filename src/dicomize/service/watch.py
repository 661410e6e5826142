r"""A hot folder: files dropped into it are converted, sent and filed, one journal behind it.

A file is taken once it is complete: its size and modification time unchanged
for ``settle`` seconds. Names a writer uses while it is still writing (hidden
names, ``.part``, ``.tmp``, ``.crdownload``...) are passed over, so a writer
that renames into place is taken after its rename. Filesystem events
(watchdog's inotify observer) wake the loop at once; a scan every ``poll``
seconds finds what events miss, which on network shares is everything.

A file's identity comes from its sidecar (``photo.jpg.json``, or a row of
``metadata.csv`` in its folder), from a worklist item found by a key taken
from its path (``accession_from``), or from the settings; a file with no
Patient ID is filed as failed, never sent under a guessed patient.

Only regular files are taken. A symbolic link (to a file or a folder), a named
pipe, a device or a socket is filed as failed as it is, with the reason: never
followed, never opened. A name is taken whatever its bytes: one that is not
UTF-8 is kept as its bytes in the journal and in ``done/`` and ``failed/``, and
shown with ``\xNN`` escapes in logs and error files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomize.errors import ConfigError, DicomizeError, MetadataError
from dicomize.files import NotRegularFile, kind_of, open_regular, printable
from dicomize.service.defaults import POLL, SETTLE
from dicomize.service.journal import Job, Journal
from dicomize.service.worker import (
    SOP_INSTANCE_UID,
    ServiceSettings,
    Worker,
    file_digest,
    unique_path,
)

__all__ = ["WatchSettings", "WatchSummary", "Watcher"]

logger = logging.getLogger(__name__)

#: Names writers give files they have not finished (browsers, rsync, office, scanners).
_UNFINISHED = (".part", ".partial", ".tmp", ".crdownload", ".download", ".filepart", ".!sync")
#: The per-folder sidecar table: a ``path`` column and DICOM keyword columns.
SIDECAR_TABLE = "metadata.csv"
_FIELDS = ("folder", "stem", "name")


@dataclass(frozen=True, kw_only=True, slots=True)
class WatchSettings:
    """Where the hot folder is and how files are taken from it.

    Parameters
    ----------
    inbox : pathlib.Path
        The watched folder (sub-folders included).
    done, failed : pathlib.Path
        Where sources go once filed; failed ones get a ``.error.txt`` beside them.
    state : pathlib.Path
        The journal and the spool (default ``INBOX/.dicomize``, passed over by scans).
    settle : float
        Seconds a file's size and time must stay the same before it is taken.
    poll : float
        Seconds between scans.
    events : bool
        Also wake on filesystem events (off for network shares, where none arrive).
    sidecar : bool
        Read each file's attributes from ``NAME.json`` or the folder's ``metadata.csv``.
    accession_from : str or None
        Take each file's Accession Number from its path: a template of ``{folder}``
        (the folder holding it), ``{stem}`` and ``{name}``, or a regular expression
        with a group named ``accession`` searched in the path below the inbox.
    """

    inbox: Path
    done: Path
    failed: Path
    state: Path
    settle: float = SETTLE
    poll: float = POLL
    events: bool = True
    sidecar: bool = False
    accession_from: str | None = None

    def __post_init__(self) -> None:
        if self.accession_from is not None:
            _accession_pattern(self.accession_from)  # refuse a bad one before any file moves
        for name in ("done", "failed"):
            folder = getattr(self, name)
            if folder.resolve() == self.inbox.resolve():
                raise ConfigError(f"the {name} folder cannot be the watched folder itself")


@dataclass(kw_only=True, slots=True)
class WatchSummary:
    """What one run of the watcher did."""

    done: int = 0
    failed: int = 0
    #: Jobs left waiting (a PACS that did not answer), kept in the journal for the next run.
    waiting: int = 0

    def line(self) -> str:
        """Return a one-line summary."""
        return f"{self.done} filed as done, {self.failed} as failed, {self.waiting} waiting"


class Watcher:
    """Take files from a folder into the journal and let the worker move them on.

    Parameters
    ----------
    watch : WatchSettings
        The folders and how files are taken.
    settings : ServiceSettings
        What is done with each file (convert, send).
    """

    def __init__(self, watch: WatchSettings, settings: ServiceSettings) -> None:
        self.watch = watch
        self.journal = Journal(watch.state / "journal.sqlite")
        self.filing = _FolderFiling(watch)
        self.worker = Worker(self.journal, settings, watch.state / "spool", self.filing)
        self.wake = threading.Event()
        self._skip = {
            path.resolve()
            for path in (watch.done, watch.failed, watch.state, settings.output)
            if path is not None
        }
        self._seen: dict[str, tuple[int, int, float]] = {}

    def stop(self) -> None:
        """Finish the file in hand, then stop (SIGTERM)."""
        self.worker.stopping.set()
        self.wake.set()

    def close(self) -> None:
        """Close the journal."""
        self.journal.close()

    def run(self, *, once: bool = False) -> WatchSummary:
        """Watch until stopped; with `once`, take what is there, work it off and return."""
        self.worker.recover()
        if once:
            self.journal.retry_now()
        observer = None if once or not self.watch.events else self._observe()
        try:
            while not self.worker.stopping.is_set():
                unsettled = self.scan(once=once)
                if self.worker.step():
                    continue
                if once and unsettled is None:
                    break
                self.wake.wait(self._pause(unsettled))
                self.wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
        return self.summary()

    def summary(self) -> WatchSummary:
        """Count the jobs this watcher filed, by how they ended, and every job still waiting.

        A job an earlier run left waiting (a PACS that was down) counts where this run
        files it: the count is of filings, not of the jobs this run took in.
        """
        return WatchSummary(
            done=self.filing.done,
            failed=self.filing.failed,
            waiting=len(self.journal.unfinished()),
        )

    def _pause(self, unsettled: float | None) -> float:
        """Return how long to sleep: until the next scan, retry or settled file."""
        now = time.time()
        pause = self.watch.poll
        wake = self.journal.next_wake()
        if wake is not None:
            pause = min(pause, max(wake - now, 0.05))
        if unsettled is not None:
            pause = min(pause, max(unsettled - now, 0.05))
        return pause

    # -- taking files -------------------------------------------------------------------------

    def scan(self, *, once: bool = False) -> float | None:
        """Take every complete file into the journal; return when the next one settles, or None."""
        now = time.time()
        soonest: float | None = None
        present: set[str] = set()
        for path in self._files():
            try:
                found = path.lstat()  # a link is looked at, not followed
            except OSError:
                continue  # gone between listing and looking
            key = str(path)
            present.add(key)
            size, mtime = found.st_size, found.st_mtime_ns
            if (key, size, mtime) in self.filing.left:
                continue  # filed as failed, but it could not be moved: not taken again
            seen = self._seen.get(key)
            if seen is None or seen[:2] != (size, mtime):
                # Under --once a file unchanged for the settle time before the run counts.
                since = mtime / 1e9 if once else now
                self._seen[key] = seen = (size, mtime, min(since, now))
            settles = seen[2] + self.watch.settle
            if settles > now:
                soonest = settles if soonest is None else min(soonest, settles)
                continue
            if self.journal.open_job_for(key) is None:
                self._take(path, size, mtime)
        self._seen = {key: value for key, value in self._seen.items() if key in present}
        return soonest

    def _files(self) -> list[Path]:
        found: list[Path] = []
        for folder, folders, files in os.walk(self.watch.inbox):
            here = Path(folder)
            folders[:] = sorted(
                name
                for name in folders
                if not name.startswith(".") and _resolved(here / name) not in self._skip
            )
            # A link to a folder is not walked (os.walk follows none): it is filed as failed.
            links = [name for name in folders if (here / name).is_symlink()]
            folders[:] = [name for name in folders if name not in links]
            found.extend(here / name for name in links)
            found.extend(here / name for name in sorted(files) if self._candidate(name))
        return found

    def _candidate(self, name: str) -> bool:
        lowered = name.lower()
        if name.startswith((".", "~$")) or lowered.endswith(_UNFINISHED):
            return False
        if lowered.endswith(".error.txt"):
            return False
        return not (self.watch.sidecar and (lowered.endswith(".json") or name == SIDECAR_TABLE))

    def _take(self, path: Path, size: int, mtime: int) -> None:
        relative = path.relative_to(self.watch.inbox)
        metadata: dict[str, Any] = {}
        problem = None
        digest = ""
        try:
            digest = file_digest(path)  # O_NOFOLLOW, and a pipe or a device is never opened
        except NotRegularFile as exc:
            problem = f"{exc}: only regular files are taken; it was neither followed nor opened"
        except OSError as exc:
            logger.warning("cannot read a new file yet: %s", printable(exc.strerror or str(exc)))
            return
        if problem is None:
            try:
                metadata = self._metadata(path, relative)
            except DicomizeError as exc:
                problem = str(exc)  # quotes at most a short prefix of a value
        job = self.journal.add(
            origin="watch",
            batch=relative.parent.as_posix(),
            source=str(path),
            name=relative.as_posix(),
            size=size,
            mtime_ns=mtime,
            digest=digest,
            metadata=metadata,
        )
        logger.info(
            "job %d: taken (%s, %d bytes)",
            job.id,
            printable(path.suffix.lower()) or "no suffix",
            size,
        )
        logger.debug("job %d: %s", job.id, printable(str(path)))
        if problem is not None:
            self.worker.fail(job, f"{relative.as_posix()}: {problem}")

    def _metadata(self, path: Path, relative: Path) -> dict[str, Any]:
        """Return a file's own attributes: its sidecar, and the accession its path names."""
        found: dict[str, Any] = {}
        if self.watch.sidecar:
            own = _sidecar(path)
            if "SOPInstanceUID" in own:
                raise MetadataError("SOPInstanceUID", own["SOPInstanceUID"], SOP_INSTANCE_UID)
            from dicomize.metadata import resolve_metadata

            # A value no object could hold is refused now: the journal never keeps it.
            resolve_metadata(own)
            found.update(own)
        if self.watch.accession_from is not None:
            accession = _accession(self.watch.accession_from, relative)
            if not accession:
                raise ConfigError(
                    f"no Accession Number in the path for --accession-from "
                    f"{self.watch.accession_from!r}"
                )
            found.setdefault("AccessionNumber", accession)
        return found

    def _observe(self) -> Any:  # noqa: ANN401  (a watchdog Observer)
        """Start waking on filesystem events; None (polling only) when they are unavailable."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            logger.info("watchdog is not installed: polling every %.1f s", self.watch.poll)
            return None
        wake = self.wake

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:  # noqa: ANN401, ARG002
                wake.set()

        observer = Observer()
        try:
            observer.schedule(_Wake(), str(self.watch.inbox), recursive=True)
            observer.start()
        except OSError as exc:  # inotify limits, a file system without events
            logger.info("no filesystem events (%s): polling every %.1f s", exc, self.watch.poll)
            return None
        return observer


class _FolderFiling:
    """Sources go to done/ or failed/ under their path below the inbox, never over a file."""

    def __init__(self, watch: WatchSettings) -> None:
        self.watch = watch
        #: Sources filed by this process, for the summary.
        self.done = 0
        self.failed = 0
        #: ``(source, size, mtime_ns)`` of sources filed that could not be moved: left alone.
        self.left: set[tuple[str, int, int]] = set()

    def destination(self, job: Job, error: str | None) -> Path | None:
        folder = self.watch.failed if error else self.watch.done
        return unique_path(folder / job.name)

    def filed(self, job: Job, destination: Path | None, error: str | None) -> None:
        if error:
            self.failed += 1
        else:
            self.done += 1
        if destination is None:
            return
        with contextlib.suppress(OSError):
            left = Path(job.source).lstat()
            self.left.add((job.source, left.st_size, left.st_mtime_ns))
        sidecar = Path(f"{job.source}.json")
        if self.watch.sidecar and os.path.lexists(sidecar):
            with contextlib.suppress(OSError):  # a link is moved itself
                sidecar.replace(Path(f"{destination}.json"))
        if error:
            _note(unique_path(Path(f"{destination}.error.txt")), error)


def _resolved(path: Path) -> Path | None:
    """Return where `path` leads, or None when it leads nowhere (a loop of links)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _note(path: Path, error: str) -> None:
    """Write a failed file's reason beside it: a new file, never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, 0o666)
    except OSError as exc:
        logger.warning("cannot write %s: %s", printable(path.name), printable(str(exc)))
        return
    with os.fdopen(descriptor, "w", encoding="utf-8", errors="backslashreplace") as stream:
        stream.write(printable(error) + "\n")


def _sidecar(path: Path) -> dict[str, Any]:
    """Return the attributes of `path` from ``NAME.json`` or its folder's ``metadata.csv``.

    Each is read only if it is a regular file: a link is not followed, a pipe not opened.
    """
    own = Path(f"{path}.json")
    if os.path.lexists(own):
        shown = printable(own.name)
        try:
            with os.fdopen(open_regular(own), "rb") as stream:
                data = json.loads(stream.read().decode("utf-8"))
        except NotRegularFile as exc:
            raise ConfigError(f"sidecar {shown}: {exc}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            reason = printable(exc.strerror or str(exc)) if isinstance(exc, OSError) else exc
            raise ConfigError(f"sidecar {shown}: not readable JSON ({reason})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"sidecar {shown}: expected a JSON object of DICOM keywords")
        return data
    table = path.parent / SIDECAR_TABLE
    if os.path.lexists(table):
        mode = table.lstat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"sidecar {SIDECAR_TABLE}: not a regular file: {kind_of(mode)}")
        from dicomize.batch.plan import plan_manifest

        for item in plan_manifest(table, path.parent):
            if Path(item.source).resolve() == path.resolve():
                return dict(item.metadata)
    return {}


def _accession_pattern(text: str) -> re.Pattern[str] | None:
    """Return the regular expression of `text`, None for a template; refuse a bad one."""
    if "(?P<accession>" in text:
        try:
            return re.compile(text)
        except re.error as exc:
            raise ConfigError(f"--accession-from: not a regular expression: {exc}") from None
    fields = re.findall(r"{([^}]*)}", text)
    if not fields or any(field not in _FIELDS for field in fields):
        raise ConfigError(
            "--accession-from takes a template of {folder}, {stem} and {name}, or a regular "
            f"expression with a group (?P<accession>...); got {text!r}"
        )
    return None


def _accession(text: str, relative: Path) -> str:
    pattern = _accession_pattern(text)
    if pattern is not None:
        match = pattern.search(relative.as_posix())
        return (match.group("accession") if match else "").strip()
    folder = relative.parent.name
    return text.format(folder=folder, stem=relative.stem, name=relative.name).strip()
