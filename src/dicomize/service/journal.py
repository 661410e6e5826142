"""The job journal: every file the service took, and how far it got, in SQLite.

SQLite in WAL mode with ``synchronous=FULL`` is the store: it ships with
Python, each state change is one committed transaction that survives
``kill -9`` and a power cut, the web page reads it while the worker writes,
and a folder's whole history is one file an operator can open with
``sqlite3``. A job moves through :class:`JobState` one committed step at a
time, and each step is written so that doing it again after a crash is
harmless (see :mod:`dicomize.service.worker`).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomize.report import SendStatus
from dicomize.service.defaults import FAILED_RECENTLY, STUCK_AFTER, STUCK_ATTEMPTS

__all__ = ["Job", "JobState", "Journal", "state_in_words", "waits_to_retry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    batch TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    instance_number INTEGER NOT NULL,
    state TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    outputs TEXT NOT NULL DEFAULT '[]',
    statuses TEXT NOT NULL DEFAULT '{}',
    moved_to TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    study TEXT NOT NULL DEFAULT '',
    series TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS visits (id TEXT PRIMARY KEY, data TEXT NOT NULL, created REAL NOT NULL);
"""
#: Columns added since the first journals: a journal without them gets them when opened.
_ADDED = {"study": "TEXT NOT NULL DEFAULT ''", "series": "TEXT NOT NULL DEFAULT ''"}
_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, next_try);
CREATE INDEX IF NOT EXISTS jobs_source ON jobs (source);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs (batch);
CREATE INDEX IF NOT EXISTS jobs_ended ON jobs (state, updated);
CREATE INDEX IF NOT EXISTS jobs_study ON jobs (study);
CREATE INDEX IF NOT EXISTS jobs_series ON jobs (series);
"""
#: Where a study's or series' first values are kept in ``meta``, by its UID; ``begun:`` rows,
#: its begun time alone, are what journals kept before.
_FIRST, _BEGUN = "first:", "begun:"


class JobState(enum.StrEnum):
    """How far a job got; each state is committed before the next step starts."""

    NEW = "new"
    """Taken in, not yet converted."""
    HELD = "held"
    """Converted, waiting for a person to send it (the web page)."""
    CONVERTED = "converted"
    """Converted, waiting to be sent (again, after a failure, at ``next_try``)."""
    STORED = "stored"
    """The object is where it belongs (the PACS took responsibility, stored or committed as
    asked; or the output folder, with nothing to send): the source is to be filed."""
    DONE = "done"
    FAILED = "failed"


#: States a job never leaves.
FINAL = frozenset({JobState.DONE, JobState.FAILED})
#: States a job waits in after a failed attempt (the worklist or the PACS did not answer).
RETRYING = (JobState.NEW, JobState.CONVERTED)


@dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """One input file and everything the service knows about it."""

    id: int
    #: ``watch`` or ``web``.
    origin: str
    #: The jobs of one batch (a watched folder, an upload session) share a series.
    batch: str
    source: str
    #: The path relative to the watched folder, or the uploaded file's name.
    name: str
    size: int
    mtime_ns: int
    #: SHA-256 of the content: the SOP Instance UID is derived from it.
    digest: str
    instance_number: int
    state: JobState
    #: Attributes for this file alone (a sidecar, the web page's choices).
    metadata: dict[str, Any]
    #: ConvertOptions fields for this file alone (the web page's IOD choice).
    options: dict[str, Any]
    outputs: list[str]
    #: The send status of each output, by output path.
    statuses: dict[str, str]
    #: Where the source is being moved when the job ends (written before the move).
    moved_to: str
    error: str
    attempts: int
    next_try: float
    created: float
    updated: float
    #: The Study and Series Instance UIDs of its object, once converted: a study's and a
    #: series' first values (:meth:`Journal.first`) are kept while one of its jobs is.
    study: str
    series: str


_JSON_FIELDS = ("metadata", "options", "outputs", "statuses")
#: Columns that hold file names, or text made of them. Names are bytes on POSIX: one that
#: is not UTF-8 (Python holds its other bytes as lone surrogates) is kept as its bytes, a
#: BLOB, and read back as the same name; every other one is kept as text.
_NAMES = ("batch", "source", "name", "moved_to", "error")


class Journal:
    """The jobs of one service, in one SQLite file; safe to share between threads.

    Parameters
    ----------
    path : pathlib.Path
        The database file; created, with its folder, when missing. Both hold patient
        data: the folder (the service's state) is made the owner's alone (0700), and
        the database with its ``-wal`` and ``-shm`` files too (0600).
    """

    def __init__(self, path: Path) -> None:
        _private(path)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed state change survives a power cut as well as kill -9.
        self._db.execute("PRAGMA synchronous=FULL")
        # Deleted rows hold patient data: overwritten, not left in free pages.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, declaration in _ADDED.items():
            if name not in columns:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
        self._db.executescript(_INDEXES)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def seed(self) -> str:
        """Return the UID seed of this journal, made once: UIDs stay the same across restarts."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('uid_seed', ?)",
                (secrets.token_hex(16),),
            )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'uid_seed'").fetchone()
        return str(row["value"])

    def first(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Return what the first object of each study or series in `keys` (UIDs) fixed.

        Files of one study are converted one at a time, hours apart, each with its own
        sidecar; a study's and a series' attributes are equal in all their instances
        (PS3.3 A.1.2). So the first object of a study or series fixes them, with the time
        it began, and the later ones take them. Each entry found is ``{"begun": seconds,
        "values": {keyword: value}}``; one without ``values`` is a study begun by an
        older journal, which kept its time alone. A key not found is not fixed yet: its
        values are recorded with the object that fixes them (:meth:`update_unchanged`),
        so a file that failed fixes nothing. One indexed read for all the keys.
        """
        wanted = [prefix + key for key in keys for prefix in (_FIRST, _BEGUN)]
        marks = ", ".join("?" for _ in wanted)
        with self._lock:
            rows = self._db.execute(
                f"SELECT key, value FROM meta WHERE key IN ({marks})",  # noqa: S608  (marks)
                wanted,
            ).fetchall()
        found: dict[str, dict[str, Any]] = {}
        for key, value in sorted(rows, key=lambda row: row["key"].startswith(_FIRST)):
            if key.startswith(_FIRST):
                found[key.removeprefix(_FIRST)] = dict(json.loads(value))
            else:
                found[key.removeprefix(_BEGUN)] = {"begun": float(value)}
        return found

    def next_instance(self, batch: str) -> int:
        """Return the next Instance Number of `batch`'s series, counted as :meth:`add` counts.

        For a job that joins another batch (moved to another series on the web page).
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                number = self._count(batch)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return number

    def _count(self, batch: str) -> int:
        """Count one more instance of `batch` (in the caller's transaction); return its number."""
        counter = _counter(batch)
        # A journal from before the counter: it starts from the jobs it still has.
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) SELECT ?, COUNT(*) FROM jobs WHERE batch = ?",
            (counter, _stored(batch)),
        )
        ((number,),) = self._db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ? "
            "RETURNING CAST(value AS INTEGER)",
            (counter,),
        ).fetchall()
        return int(number)

    def add(
        self,
        *,
        origin: str,
        batch: str,
        source: str,
        name: str,
        size: int,
        mtime_ns: int,
        digest: str,
        metadata: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> Job:
        """Record a new job in state ``new``; its Instance Number follows its batch's count.

        The count is kept apart from the jobs, so numbers go on after retention has
        removed the batch's older jobs: their objects are still in the series.
        """
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                number = self._count(batch)
                cursor = self._db.execute(
                    "INSERT INTO jobs (origin, batch, source, name, size, mtime_ns, digest, "
                    "instance_number, state, metadata, options, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        origin,
                        _stored(batch),
                        _stored(source),
                        _stored(name),
                        size,
                        mtime_ns,
                        digest,
                        number,
                        JobState.NEW,
                        json.dumps(metadata or {}),
                        json.dumps(options or {}),
                        now,
                        now,
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        job = self.get(int(cursor.lastrowid or 0))
        assert job is not None  # noqa: S101  (just inserted, under the lock)
        return job

    def get(self, job_id: int) -> Job | None:
        """Return the job with this id, or None."""
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def open_job_for(self, source: str) -> Job | None:
        """Return the unfinished job of the file at `source`, or None."""
        return self._one(
            "SELECT * FROM jobs WHERE source = ? AND state NOT IN (?, ?) ORDER BY id DESC LIMIT 1",
            (_stored(source), JobState.DONE, JobState.FAILED),
        )

    def due(
        self, states: Iterable[JobState], *, now: float | None = None, limit: int = 256
    ) -> list[Job]:
        """Return jobs in `states` whose next try has come, oldest first.

        A job whose filing has begun (a failure, a cancel) is never converted or sent
        again: only its filing is finished, as a stored job's is.
        """
        wanted = list(states)
        marks = ", ".join("?" for _ in wanted)
        return self._many(
            f"SELECT * FROM jobs WHERE state IN ({marks}) AND next_try <= ? "  # noqa: S608
            "AND (moved_to = '' OR state = ?) ORDER BY next_try, id LIMIT ?",
            (*wanted, time.time() if now is None else now, JobState.STORED, limit),
        )

    def unfinished(self) -> list[Job]:
        """Return every job not yet done or failed."""
        return self._many(
            "SELECT * FROM jobs WHERE state NOT IN (?, ?) ORDER BY id",
            (JobState.DONE, JobState.FAILED),
        )

    def next_wake(self) -> float | None:
        """Return when the earliest waiting job is due, or None when none waits."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_try) FROM jobs WHERE state IN (?, ?, ?)",
                (JobState.NEW, JobState.CONVERTED, JobState.STORED),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def retry_now(self) -> None:
        """Make every waiting job due at once (a run from cron: its schedule is the backoff)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET next_try = 0 WHERE state IN (?, ?)",
                (JobState.NEW, JobState.CONVERTED),
            )

    def retry(self, job_id: int, *, now: float | None = None) -> Job | None:
        """Make a job that waits to retry due at once (a person asked); None if it does not wait.

        Only a job whose next try is still ahead changes: a due one may be in the
        worker's hands, and one that ended has nothing left to try.
        """
        return self._waiting(job_id, now, next_try=0.0)

    def begin_filing(
        self, job_id: int, *, moved_to: str, error: str, now: float | None = None
    ) -> Job | None:
        """Record that a job waiting to retry ends as failed: where its source goes, and why.

        The worker's filing then finishes it (at once, or at the next start after a
        crash). None when the job does not wait: in the worker's hands, or ended.
        """
        return self._waiting(job_id, now, moved_to=moved_to, error=error)

    def _waiting(self, job_id: int, now: float | None, **fields: Any) -> Job | None:  # noqa: ANN401
        assignments = ", ".join(f"{name} = ?" for name in [*fields, "updated"])
        moment = time.time() if now is None else now
        with self._lock:
            row = self._db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ? AND state IN (?, ?) "  # noqa: S608
                "AND moved_to = '' AND next_try > ? RETURNING *",
                (*map(_stored, fields.values()), time.time(), job_id, *RETRYING, moment),
            ).fetchone()
        return None if row is None else _job(row)

    def stuck(self, *, now: float | None = None) -> list[Job]:
        """Return the jobs a person should look at, oldest first.

        Those waiting to retry for more than ``STUCK_AFTER`` seconds or after
        ``STUCK_ATTEMPTS`` attempts, and those failed in the last ``FAILED_RECENTLY``
        seconds (:mod:`dicomize.service.defaults`).
        """
        moment = time.time() if now is None else now
        return self._many(
            "SELECT * FROM jobs WHERE (state IN (?, ?) AND attempts > 0 "
            "AND (created < ? OR attempts >= ?)) OR (state = ? AND updated >= ?) ORDER BY id",
            (
                *RETRYING,
                moment - STUCK_AFTER,
                STUCK_ATTEMPTS,
                JobState.FAILED,
                moment - FAILED_RECENTLY,
            ),
        )

    def expire(self, before: float, *, limit: int = 500) -> list[Job]:
        """Delete what the retention rule lets go, and return the jobs deleted.

        The jobs done or failed before `before`, and the held jobs (converted, never
        sent) unchanged since then; then the visits older than `before` that have no
        job left, with their series' instance counts; then the first values of each
        study and series that no job is left of (:meth:`first`). Their rows hold
        patient data: identity, file names, errors, a study's description and date. A
        job on its way to the PACS (new, converted, stored) is never deleted. At most
        `limit` jobs go at a time, so one pass stays short.

        A watched folder's instance counts stay (a number, under a hashed name): the
        folder's series go on when files come again, and their numbers must not repeat.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs "
                    "WHERE state IN (?, ?, ?) AND updated < ? LIMIT ?) RETURNING *",
                    (JobState.DONE, JobState.FAILED, JobState.HELD, before, limit),
                ).fetchall()
                # A visit's jobs are the batches 'web/VISIT/...': a range the index finds.
                visits = self._db.execute(
                    "DELETE FROM visits WHERE created < ? AND NOT EXISTS (SELECT 1 FROM jobs "
                    "WHERE batch >= 'web/' || visits.id || '/' "
                    "AND batch < 'web/' || visits.id || '0') RETURNING id, data",
                    (before,),
                ).fetchall()
                # A visit that is gone gets no more files: its series' counts go with it.
                self._db.executemany(
                    "DELETE FROM meta WHERE key = ?",
                    [
                        (_counter(f"web/{visit}/{index}"),)
                        for visit, data in visits
                        for index in range(len(json.loads(data).get("series", [])))
                    ],
                )
                if rows:
                    self._forget_firsts(before)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return sorted((_job(row) for row in rows), key=lambda job: job.id)

    def _forget_firsts(self, before: float) -> None:
        """Delete the first values of the studies and series no job is left of."""
        start = len(_FIRST) + 1
        self._db.execute(
            "DELETE FROM meta WHERE key > ? AND key < ? "
            "AND NOT EXISTS (SELECT 1 FROM jobs WHERE study = substr(meta.key, ?)) "
            "AND NOT EXISTS (SELECT 1 FROM jobs WHERE series = substr(meta.key, ?))",
            (_FIRST, _after(_FIRST), start, start),
        )
        # An older journal's begun times: a study still going has moved its own to a first row.
        self._db.execute(
            "DELETE FROM meta WHERE key > ? AND key < ? AND CAST(value AS REAL) < ?",
            (_BEGUN, _after(_BEGUN), before),
        )

    def counts(self) -> dict[JobState, int]:
        """Count the jobs by state."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {JobState(state): count for state, count in rows}

    def batch(self, batch: str) -> list[Job]:
        """Return the jobs of one batch, in the order they came."""
        return self._many("SELECT * FROM jobs WHERE batch = ? ORDER BY id", (_stored(batch),))

    def batch_prefix(self, prefix: str) -> list[Job]:
        """Return the jobs of the batches whose names start with `prefix`, oldest first."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._many(
            "SELECT * FROM jobs WHERE batch LIKE ? ESCAPE '\\' ORDER BY id", (pattern,)
        )

    def recent(self, limit: int = 100) -> list[Job]:
        """Return the latest jobs, newest first."""
        return self._many("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))

    def forget(self, job: Job) -> bool:
        """Delete `job`'s row if nobody changed it since it was read; say whether it went.

        For a file a person took off before it was sent (the web page's Remove): a
        decision, not a failure, so nothing of it stays to be listed. A job changed
        meanwhile (sent after all, converted again) stays, as it now is.
        """
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM jobs WHERE id = ? AND updated = ?", (job.id, job.updated)
            )
        return cursor.rowcount > 0

    def update(self, job_id: int, **fields: Any) -> Job:  # noqa: ANN401  (column values)
        """Change fields of a job in one committed transaction; return the job as it is now."""
        self._set(job_id, fields)
        job = self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def update_unchanged(
        self,
        job: Job,
        *,
        first: dict[str, dict[str, Any]] | None = None,
        **fields: Any,  # noqa: ANN401  (column values)
    ) -> Job | None:
        """Change fields of `job` only if nobody changed it since it was read; else None.

        A step's result is recorded this way when a person may change the job while
        the step runs (a setting on the web page while the file converts): the change
        wins, and the step is done again with it. `first` gives, by UID, the first
        values of the studies and series that the job's object is the first of
        (:meth:`first`); they are recorded with it, in the same transaction, unless
        another object fixed them first.
        """
        if not self._set(job.id, fields, unchanged_since=job.updated, first=first):
            return None
        return self.get(job.id)

    def _set(
        self,
        job_id: int,
        fields: dict[str, Any],
        *,
        unchanged_since: float | None = None,
        first: dict[str, dict[str, Any]] | None = None,
    ) -> bool:
        names = list(fields)
        values = [
            json.dumps(fields[name])
            if name in _JSON_FIELDS
            else _stored(fields[name])
            if name in _NAMES
            else fields[name]
            for name in names
        ]
        assignments = ", ".join(f"{name} = ?" for name in [*names, "updated"])
        where, guard = (
            ("id = ?", ())
            if unchanged_since is None
            else (
                "id = ? AND updated = ?",
                (unchanged_since,),
            )
        )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    f"UPDATE jobs SET {assignments} WHERE {where}",  # noqa: S608  (our own names)
                    (*values, time.time(), job_id, *guard),
                )
                if cursor.rowcount and first:
                    self._db.executemany(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                        [(_FIRST + key, json.dumps(entry)) for key, entry in first.items()],
                    )
                    self._db.executemany(
                        "DELETE FROM meta WHERE key = ?", [(_BEGUN + key,) for key in first]
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return cursor.rowcount > 0

    def save_visit(self, visit: str, data: dict[str, Any]) -> None:
        """Store (or replace) what the web page knows of one visit: patient, order, series."""
        with self._lock:
            self._db.execute(
                "INSERT INTO visits (id, data, created) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                (visit, json.dumps(data), time.time()),
            )

    def visit(self, visit: str) -> dict[str, Any] | None:
        """Return a visit stored by :meth:`save_visit`, or None."""
        with self._lock:
            row = self._db.execute("SELECT data FROM visits WHERE id = ?", (visit,)).fetchone()
        return None if row is None else dict(json.loads(row["data"]))

    def _one(self, sql: str, parameters: tuple[Any, ...]) -> Job | None:
        jobs = self._many(sql, parameters)
        return jobs[0] if jobs else None

    def _many(self, sql: str, parameters: tuple[Any, ...]) -> list[Job]:
        with self._lock:
            rows = self._db.execute(sql, parameters).fetchall()
        return [_job(row) for row in rows]


def _after(prefix: str) -> str:
    """Return the least string above every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _counter(batch: str) -> str:
    """Return the ``meta`` key of `batch`'s instance count."""
    # Hashed: a folder may be named after its patient, and this row outlives retention.
    return "instances:" + hashlib.sha256(batch.encode("utf-8", "surrogateescape")).hexdigest()


def waits_to_retry(job: Job, *, now: float | None = None) -> bool:
    """Tell whether `job` waits for its next try after a failed attempt, and not yet due.

    Such a job is in nobody's hands: a person may retry it now or cancel it
    (:meth:`Journal.retry`, :meth:`Journal.begin_filing`).
    """
    moment = time.time() if now is None else now
    return job.state in RETRYING and job.attempts > 0 and not job.moved_to and job.next_try > moment


def state_in_words(job: Job, *, now: float | None = None) -> str:
    """Say how far `job` got, for a person: ``waiting to retry (attempt 3, next at 14:05:10)``.

    Parameters
    ----------
    job : Job
        The job.
    now : float, optional
        The time to compare its next try with (default: now).
    """
    moment = time.time() if now is None else now
    committed = SendStatus.COMMITTED in job.statuses.values()
    if job.moved_to and job.state not in FINAL:  # being filed
        return "failed" if job.error else "committed" if committed else "stored"
    if job.state in RETRYING and job.attempts:
        when = "due now"
        if job.next_try > moment:
            shown = "%H:%M:%S" if job.next_try - moment < 12 * 3600 else "%Y-%m-%d %H:%M"
            when = "next at " + time.strftime(shown, time.localtime(job.next_try))
        return f"waiting to retry (attempt {job.attempts + 1}, {when})"
    return {
        JobState.NEW: "converting",
        JobState.HELD: "ready to send",
        JobState.CONVERTED: "sending",
        JobState.STORED: "committed" if committed else "stored",
        JobState.DONE: "committed" if committed else "stored",
        JobState.FAILED: "failed",
    }[job.state]


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    for name in _NAMES:
        if isinstance(values[name], bytes):
            values[name] = values[name].decode("utf-8", "surrogateescape")
    for name in _JSON_FIELDS:
        values[name] = json.loads(values[name])
    values["state"] = JobState(values["state"])
    return Job(**values)


def _stored(value: Any) -> Any:  # noqa: ANN401  (a column's value)
    """Return a name as the journal keeps it: text, or its bytes when it is not UTF-8."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")
    return value


def _private(path: Path) -> None:
    """Make the journal's folder and files the owner's alone, before SQLite opens them.

    SQLite gives its ``-wal`` and ``-shm`` files the database's permissions, so the
    database is made 0600 first; a journal an earlier version left readable is
    tightened. Another user's folder is left as it is (nothing to do there).
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):
        folder.chmod(0o700)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    os.close(os.open(path, flags, 0o600))
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            (folder / name).chmod(0o600)
