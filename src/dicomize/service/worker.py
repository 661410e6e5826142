"""The work behind both front doors: convert each job, send it, file its source.

Each step ends with one committed journal update, and each is safe to repeat
after a crash between its work and that update:

* **convert** derives every UID from the journal's seed and the job (its SOP
  Instance UID from the job alone, so two jobs never share one, whatever their
  bytes), and keeps an output already written with this job's SOP Instance UID,
  so a conversion done twice gives one object. A whole-slide image gives a
  folder of objects (its levels, label, overview, thumbnail), a series of its
  own, renamed into place whole: one whose first level has this job's UID is
  kept the same way;
* **send** sends those objects again if the crash came before the update; the
  PACS sees the same SOP Instance UIDs and stores one instance of each;
* **file** records where the source goes before moving it, and finishes the
  move on restart.

A failed send waits (``retry_after``, doubling up to ``retry_max``) while the
other jobs go on; after ``give_up_after`` seconds it fails. Nothing is deleted
before the PACS has taken responsibility for it.

A watched file is converted only if it stays as it was taken (size and time)
until its objects are written: one that changed meanwhile was still being
written (a scanner that paused longer than the settle time), so what was made of
it is removed and its job forgotten, and the watcher takes it again once it
settles. Neither a half-written file's objects nor its failure are ever kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from dicomize.dicom.part10 import Part10Object
from dicomize.errors import (
    ConfigError,
    CorruptImage,
    DicomizeError,
    InputError,
    MetadataError,
    QueryError,
    UnsupportedInput,
)
from dicomize.files import kind_of, open_regular, printable
from dicomize.options import ConvertOptions, SendOptions
from dicomize.report import SendStatus
from dicomize.service.defaults import EXPIRE_EVERY, GIVE_UP_AFTER, KEEP_FOR, RETRY_AFTER, RETRY_MAX
from dicomize.service.journal import Job, JobState, Journal
from dicomize.worklist_lookup import WorklistLookup

__all__ = ["Filing", "ServiceSettings", "Worker", "file_digest"]

logger = logging.getLogger(__name__)

#: Jobs sent over one association.
_SEND_BATCH = 64
#: The longest reason a job keeps (journal, error file, log): a message is one line, and
#: a value it quotes is cut short, but nothing a file brings may make it a document.
_REASON = 2000
#: How much of a value a message of the worker's own quotes.
_QUOTED = 80
#: A slide's first level: the proof that its folder, renamed into place whole, is complete.
_SLIDE_FIRST = "level-0.dcm"
#: Why the web page refuses a whole-slide image (uploaded through a browser, one is GBs).
SLIDE_ON_THE_PAGE = (
    "is a whole-slide image: the page does not take slides; put it in a watched folder "
    "(dicomize watch), or convert it with dicomize convert"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceSettings:
    """What the service does with every file: the convert and send flags of the command line.

    Parameters
    ----------
    output : pathlib.Path or None
        Keep the DICOM objects here. None keeps them in the service's spool only
        until the PACS has taken responsibility for them.
    send : str or None
        Deliver to this PACS (``dicom://AET@host:port`` or a DICOMweb root).
    send_options, convert_options : SendOptions, ConvertOptions
        As for ``dicomize send`` and ``dicomize convert``. With ``commit`` a job
        is stored only once the PACS has committed to its objects.
    metadata : dict
        Attributes for every file; a file's own (sidecar, web page) win over them.
    worklist : WorklistLookup or None
        Resolve each file's patient and order by its Accession Number (or Patient ID).
    verify : bool
        Validate each object before it is sent; one with errors fails its job.
    retry_after, retry_max : float
        Seconds before the first retry of a failed send, and the longest wait.
    give_up_after : float
        Seconds after which a job that could not be sent fails.
    keep_for : float
        Seconds a job is remembered once done or failed: then its journal row (patient
        data) and what is left of it in the spool are deleted. A held job (converted,
        never sent) is deleted after as long unchanged, with its upload and objects.
        Nothing on its way to the PACS is ever deleted.
    """

    output: Path | None = None
    send: str | None = None
    send_options: SendOptions = field(default_factory=SendOptions)
    convert_options: ConvertOptions = field(default_factory=ConvertOptions)
    metadata: dict[str, Any] = field(default_factory=dict)
    worklist: WorklistLookup | None = None
    verify: bool = False
    retry_after: float = RETRY_AFTER
    retry_max: float = RETRY_MAX
    give_up_after: float = GIVE_UP_AFTER
    keep_for: float = KEEP_FOR


class Filing(Protocol):
    """Where a finished job's source goes: the watched folder's done/failed, or nowhere."""

    def destination(self, job: Job, error: str | None) -> Path | None:
        """Return where to move the source (None: delete it)."""

    def filed(self, job: Job, destination: Path | None, error: str | None) -> None:
        """Do what follows the move (sidecars, the error file)."""


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a regular file, read in blocks, never through a link.

    Raises
    ------
    dicomize.files.NotRegularFile
        When `path` is a link, a named pipe, a device or a socket: never opened.
    """
    import hashlib

    with os.fdopen(open_regular(path), "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


class Worker:
    """Move the journal's jobs forward: :meth:`step` does whatever is due.

    Parameters
    ----------
    journal : Journal
        Where the jobs are.
    settings : ServiceSettings
        What to do with them.
    spool : pathlib.Path
        The service's own folder for objects that are only sent (``output`` None).
    filing : Filing
        Where sources go at the end.
    """

    def __init__(
        self, journal: Journal, settings: ServiceSettings, spool: Path, filing: Filing
    ) -> None:
        self.journal = journal
        self.settings = settings
        self.spool = spool
        self.filing = filing
        if spool.is_dir():  # one an earlier version left readable: the owner's alone
            with contextlib.suppress(PermissionError):
                spool.chmod(0o700)
        self.seed = journal.seed()
        #: Set to stop after the file in hand (SIGTERM).
        self.stopping = threading.Event()
        self._next_expiry = 0.0

    @property
    def output(self) -> Path:
        """The folder objects are written to."""
        return self.settings.output or self.spool

    def recover(self) -> None:
        """Finish what a killed process left half done: moves recorded but not made."""
        for job in self.journal.unfinished():
            if job.moved_to:
                self._file(job, job.error or None)

    def step(self) -> bool:
        """Convert, send and file whatever is due; return whether anything was done."""
        if time.time() >= self._next_expiry:
            self.expire()
        worked = False
        for job in self.journal.due([JobState.NEW]):
            if self.stopping.is_set():
                return True
            self.convert(job)
            worked = True
        if self.settings.send and not self.stopping.is_set():
            due = self.journal.due([JobState.CONVERTED], limit=_SEND_BATCH)
            if due:
                self.send(due)
                worked = True
        for job in self.journal.due([JobState.STORED]):
            self._file(job, None)
            worked = True
        return worked

    # -- convert ------------------------------------------------------------------------------

    def convert(self, job: Job) -> Job:
        """Convert one job's source; the job is then held, to be sent, or stored.

        A watched file that changed while it was converted is taken again once it
        settles (:meth:`_retake`), whatever came of it.
        """
        try:
            output, notes, recorded = self._produce(job)
        except Exception as exc:  # one bad file never stops the service
            if self._rewritten(job):  # cut short by its writer, not broken: not failed
                return self._retake(job, [])
            return self._refused(job, exc)
        outputs = _objects_at(output)
        if self._rewritten(job):
            return self._retake(job, outputs)
        return self._converted(job, outputs, notes, recorded)

    def _refused(self, job: Job, exc: Exception) -> Job:
        """End (or, for a worklist that did not answer, put off) a job that did not convert."""
        if isinstance(exc, QueryError):
            if not exc.reached:  # the worklist is down: ask again later
                return self._wait(job, str(exc))
            return self.fail(job, f"{job.name}: identity not resolved: {exc}")
        if isinstance(exc, InputError):  # its message names the file
            return self.fail(job, str(exc))
        if isinstance(exc, DicomizeError):
            return self.fail(job, f"{job.name}: {exc}")
        logger.debug("unexpected error converting job %d", job.id, exc_info=exc)
        return self.fail(job, f"{job.name}: internal error: {_cut(repr(exc))}")

    def _rewritten(self, job: Job) -> bool:
        """Tell whether a watched file is no longer as it was taken: its writer was not done.

        The watcher takes a file whose size and time stayed the same for the settle
        time; a writer that paused longer (a scanner writing a slide of gigabytes) and
        went on changes them again. An upload is the service's own copy: never.
        """
        if job.origin != "watch":
            return False
        try:
            found = os.lstat(job.source)
        except OSError:  # gone: converting it said so, or will
            return False
        return (found.st_size, found.st_mtime_ns) != (job.size, job.mtime_ns)

    def _retake(self, job: Job, outputs: list[Path]) -> Job:
        """Drop what was made of a file still being written; the watcher takes it again.

        Its job is forgotten, not failed: the file is left where it is, and once its
        size and time settle again it is a new job, converted whole.
        """
        logger.info(
            "job %d: its file changed while it was converted (still being written); "
            "it is taken again once it settles",
            job.id,
        )
        _remove(outputs)
        if not self.journal.forget(job):  # changed meanwhile: seen again at the next step
            return self.journal.get(job.id) or job
        return job

    def _converted(
        self, job: Job, outputs: list[Path], notes: tuple[str, ...], recorded: dict[str, Any]
    ) -> Job:
        """Record the objects of `job` (held, to be sent, or stored) and what they fix."""
        if job.origin == "web":
            state = JobState.HELD
        else:
            state = JobState.CONVERTED if self.settings.send else JobState.STORED
        logger.info("job %d: converted", job.id)
        for note in notes:
            logger.info("job %d: %s", job.id, note)
        done = self.journal.update_unchanged(
            job,
            state=state,
            outputs=[str(output) for output in outputs],
            error="",
            attempts=0,
            next_try=0.0,
            **recorded,
        )
        if done is None:
            # Changed as it converted (a setting, a move, a removal on the page): the object
            # has the old values, and the job is converted again as it now is, if at all.
            logger.info("job %d: changed while converting; its object is made again", job.id)
            _remove(outputs)
            return self.journal.get(job.id) or job
        return done

    def _produce(self, job: Job) -> tuple[Path, tuple[str, ...], dict[str, Any]]:
        """Write (and check) the object of `job`, or a slide's folder of objects.

        Return it (the object, or the folder), the notes on the way, and the journal
        fields to record with it (:meth:`_place`).
        """
        layers, recorded, kind = self._place(job)
        with contextlib.suppress(OSError):  # one that is gone is the encoder's to report
            mode = os.lstat(job.source).st_mode
            if not stat.S_ISREG(mode):  # replaced since it was taken: never read through a link
                raise InputError(f"not a regular file: {kind_of(mode)}", printable(job.name))
        slide = kind == "slide"
        output = self._output_path(job, str(layers["SOPInstanceUID"]), slide=slide)
        notes = self._write(job, layers, output, slide=slide)
        if self.settings.verify:
            from dicomize.validate import validate_file

            outputs = _objects_at(output)
            for path in outputs:  # each of a slide's objects
                verdict = validate_file(path)
                if not verdict.ok:
                    _remove(outputs)
                    error = verdict.first_error()
                    raise ConfigError(f"{path.name}: {error}" if slide else error)
        return output, notes, recorded

    def _layers(self, job: Job) -> dict[str, Any]:
        """Return the attributes of one job's object (:meth:`_place`)."""
        return self._place(job)[0]

    def _place(self, job: Job) -> tuple[dict[str, Any], dict[str, Any], str | None]:
        """Merge the attributes of one job: settings < worklist < the file's own, UIDs derived.

        Its study's and series' attributes are those the first object of each fixed
        (:meth:`Journal.first`): a value the job does not give is taken from there, and
        one that differs fails the job, whose object would contradict its study or series
        (PS3.3 A.1.2). Also return the journal fields to record with the object: its
        study and series, and what it fixes as the first of either; and the kind of
        content it is (None for an upload: the page's series says).

        A whole-slide image is a series of its own (its levels share one Frame of
        Reference), derived from its SOP Instance UID and numbered by its place in the
        folder, as ``dicomize batch`` numbers it; its objects' UIDs are derived from
        that SOP Instance UID.
        """
        from dicomize._convert import IDENTITY, series_of_kind
        from dicomize.consistency import SERIES_ATTRIBUTES, STUDY_ATTRIBUTES
        from dicomize.dicom.uids import derive_uid
        from dicomize.inputs import content_kind

        keys = {**self.settings.metadata, **job.metadata}
        if "SOPInstanceUID" in keys:
            raise MetadataError("SOPInstanceUID", keys["SOPInstanceUID"], SOP_INSTANCE_UID)
        ordered: dict[str, Any] = {}
        if self.settings.worklist is not None:
            accession, patient = keys.get("AccessionNumber"), keys.get("PatientID")
            if not accession and not patient:
                raise ConfigError(
                    "identity not resolved: no Accession Number or Patient ID to ask the worklist"
                )
            ordered = self.settings.worklist.metadata_for(accession, patient)
        merged = {**self.settings.metadata, **ordered, **job.metadata}
        if not str(merged.get("PatientID") or "").strip():
            raise ConfigError(
                "identity not resolved: no Patient ID (give a sidecar, a worklist key or "
                "--patient-id)"
            )
        root = self.settings.convert_options.uid_root
        # A visit's series are one study; a watched folder's files, one per patient and order.
        # A folder's name is bytes: one that is not UTF-8 is keyed by its printable form.
        batch = printable(job.batch)
        visit = batch.rsplit("/", 1)[0] if job.origin == "web" else batch
        study = str(
            merged.get("StudyInstanceUID")
            or derive_uid(
                self.seed,
                "study",
                visit,
                str(merged["PatientID"]),
                str(merged.get("AccessionNumber") or ""),
                root=root,
            )
        )
        series = str(
            merged.get("SeriesInstanceUID")
            or derive_uid(self.seed, "series", study, batch, root=root)
        )
        given = {key: _text(value) for key, value in merged.items() if _text(value)}
        number, unnumbered = int(given.get("SeriesNumber", 1)), 1
        # The job, not the content: the same bytes taken twice (another patient, another
        # visit, a re-drop) are two instances; only this job's retry gives this UID again.
        # The time it was taken too: an id freed by retention may be given again.
        sop_uid = derive_uid(self.seed, "sop", str(job.id), repr(job.created), root=root)
        kind = None
        if job.origin != "web":  # the page gives each kind a series of its own, in sight
            kind = content_kind(job.source, self._options(job))
            unnumbered = series_of_kind(series, 1, kind, root=root)[1]
            series, number = series_of_kind(series, number, kind, root=root)
            own = {**self.settings.metadata, **job.metadata}
            if kind == "slide" and "SeriesInstanceUID" not in own:
                # Each slide is a series of its own, numbered by its place in the folder.
                series = derive_uid(sop_uid, "series", root=root)
                number += job.instance_number - 1
                unnumbered += job.instance_number - 1
        if "SeriesNumber" in given:
            given["SeriesNumber"] = str(number)
        # Whose study it is chooses the study: the rest is the study's own.
        study_keys = [key for key in STUDY_ATTRIBUTES if key not in IDENTITY]
        # The page keeps the settings of a series equal in its files, and refuses to
        # change them once one is sent: a held file is converted again when they change.
        series_keys = (
            list(SERIES_ATTRIBUTES) if job.origin != "web" else ["SeriesDate", "SeriesTime"]
        )
        values, first = _agree(
            given,
            [("series", series, series_keys), ("study", study, study_keys)],
            self.journal.first([study, series]),
            unnumbered=str(unnumbered),
        )
        layers = {
            **merged,
            # A value the file gives is as it gave it (its text is the one kept).
            **{key: value for key, value in values.items() if key not in given},
            "StudyInstanceUID": study,
            "SeriesInstanceUID": series,
            "SeriesNumber": values.get("SeriesNumber", str(number)),
            "InstanceNumber": str(job.instance_number),
            "SOPInstanceUID": sop_uid,
        }
        return layers, {"study": study, "series": series, "first": first}, kind

    def _options(self, job: Job) -> ConvertOptions:
        return replace(
            self.settings.convert_options, temporary_folder=str(self.output), **job.options
        )

    def _output_path(self, job: Job, sop_uid: str, *, slide: bool = False) -> Path:
        """Return the output beside its siblings; a name taken by another object gets the id.

        A slide's is a folder, named as its file's object would be without ``.dcm``.
        """
        path = self.output / Path(job.name).with_suffix(".dcm")
        if slide:
            folder = path.with_suffix("")
            root = self.settings.convert_options.uid_root
            if os.path.lexists(folder) and not _is_slide(folder, sop_uid, root):
                folder = folder.with_name(f"{folder.name}.{job.id}")
            return folder
        if path.exists() and not _is_object(path, sop_uid):
            path = path.with_name(f"{path.stem}.{job.id}.dcm")
        return path

    def _write(
        self, job: Job, layers: dict[str, Any], output: Path, *, slide: bool = False
    ) -> tuple[str, ...]:
        """Write the object of `job` at `output` (a slide's, a folder); return the notes."""
        from dicomize._convert import encode_series
        from dicomize._write import write_folder, write_object

        sop_uid = str(layers["SOPInstanceUID"])
        root = self.settings.convert_options.uid_root
        if _is_slide(output, sop_uid, root) if slide else _is_object(output, sop_uid):
            return ()  # written before a crash: the same object (or objects) again
        options = self._options(job)
        ((_, encoded),) = encode_series([job.source], layers, options=options)
        if isinstance(encoded, DicomizeError):
            raise encoded
        if isinstance(encoded, Part10Object) == slide:
            if not isinstance(encoded, Part10Object):
                encoded.close()
                if job.origin == "web":
                    raise UnsupportedInput(SLIDE_ON_THE_PAGE, job.name)
                if any(name.startswith("page-") for name in encoded.names):
                    # A page an object is for dicomize convert and batch, which write the
                    # pages' folder; the service's journal keeps one object or one slide a job.
                    raise UnsupportedInput(
                        "its pages differ in size, one object each: the service does not take "
                        "such documents; convert them with dicomize convert",
                        printable(job.name),
                    )
            # Read as another kind a moment ago (content_kind): its writer is at it.
            raise CorruptImage("changed while it was read", printable(job.name))
        private = output.is_relative_to(self.spool)
        if private:
            # The service's own copy, patient data in nobody else's hands: the owner's alone.
            _private_folders(self.spool, output.parent)
        else:  # the user's: as the umask makes it
            output.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(encoded, Part10Object):
            write_object(encoded, output, overwrite=output.exists())
            if private:
                output.chmod(0o600)
            return encoded.notes
        with encoded:  # a slide: its tiles are read from the file as they are written
            written = write_folder(
                list(zip(encoded.names, encoded.objects, strict=True)),
                output,
                overwrite=os.path.lexists(output),
            )
            notes = encoded.notes
        if private:
            output.chmod(0o700)
            for path in written:
                Path(path).chmod(0o600)
        return notes

    # -- send ---------------------------------------------------------------------------------

    def send(self, jobs: list[Job]) -> None:
        """Send the objects of `jobs` over one association; each job is stored or waits."""
        from dicomize.send import send_files

        assert self.settings.send is not None  # noqa: S101  (step() sends only then)
        # The service retries on its own schedule: one attempt here, so a down PACS
        # costs one connection timeout and the other jobs go on.
        options = replace(self.settings.send_options, retries=0, delete_after_store=False)
        owner = {output: job for job in jobs for output in job.outputs}
        statuses: dict[int, dict[str, str]] = {job.id: dict(job.statuses) for job in jobs}
        errors: dict[int, str] = {}
        kept = SendStatus.COMMITTED if options.commit else SendStatus.STORED
        for result in send_files(list(owner), self.settings.send, options):
            job = owner.get(result.input)
            if job is None:  # not one of ours: nothing to record
                continue
            statuses[job.id][result.input] = str(result.status)
            if result.status != kept:
                errors[job.id] = result.error or str(result.status)
            if self.stopping.is_set():
                break
        for job in jobs:
            if job.id in errors:
                self._wait(job, errors[job.id], statuses[job.id])
            elif len(statuses[job.id]) == len(job.outputs):
                logger.info("job %d: %s", job.id, kept)
                self.journal.update(
                    job.id, state=JobState.STORED, statuses=statuses[job.id], error="", next_try=0.0
                )

    def _wait(self, job: Job, error: str, statuses: dict[str, str] | None = None) -> Job:
        """Try `job` again later, or fail it when it has waited too long."""
        if time.time() - job.created > self.settings.give_up_after:
            return self.fail(job, f"{job.name}: gave up after {job.attempts + 1} attempts: {error}")
        error = _reason(error)
        delay = min(self.settings.retry_after * 2**job.attempts, self.settings.retry_max)
        logger.warning("job %d: %s; next attempt in %.0f s", job.id, error, delay)
        return self.journal.update(
            job.id,
            error=error,
            attempts=job.attempts + 1,
            next_try=time.time() + delay,
            statuses=statuses if statuses is not None else job.statuses,
        )

    # -- file ---------------------------------------------------------------------------------

    def cancel(self, job_id: int, reason: str) -> Job | None:
        """End a job waiting to retry as failed (a person asked); None when it does not wait.

        Its source is filed as any failure's. A job being converted or sent is left
        alone: the worker may hold it.
        """
        job = self.journal.get(job_id)
        if job is None:
            return None
        error = _reason(
            f"{job.name}: {reason}" + (f"; the last attempt: {job.error}" if job.error else "")
        )
        destination = self.filing.destination(job, error)
        claimed = self.journal.begin_filing(
            job_id, moved_to=str(destination) if destination else "-", error=error
        )
        if claimed is None:
            return None
        logger.info("job %d: %s", job_id, reason)
        return self._file(claimed, error)

    def expire(self, now: float | None = None) -> list[Job]:
        """Forget what ``keep_for`` lets go; return the jobs forgotten.

        A job done or failed goes with what is left of it in the spool; a held job
        nobody sent, or a failed upload, with its upload and its objects. Sources filed
        in a done or failed folder are the operator's, and objects kept in ``output``
        the user's.
        """
        moment = time.time() if now is None else now
        self._next_expiry = moment + min(EXPIRE_EVERY, self.settings.keep_for)
        forgotten = self.journal.expire(moment - self.settings.keep_for)
        for job in forgotten:
            held = job.state == JobState.HELD
            # By where it is, not by today's settings: an earlier run may have had -o.
            _remove(
                output
                for output in map(Path, job.outputs)
                if held or output.is_relative_to(self.spool)
            )
            if held or (job.origin == "web" and job.state == JobState.FAILED):
                source = Path(job.source)  # an upload: the service's own copy
                source.unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # the visit's other uploads are left
                    source.parent.rmdir()
            logger.info("job %d: forgotten (%s)", job.id, "never sent" if held else job.state)
        return forgotten

    def fail(self, job: Job, error: str) -> Job:
        """End `job` as failed: its source is filed with `error` (printable, cut short)."""
        error = _reason(error)
        logger.warning("job %d: failed (the reason is filed with it)", job.id)
        logger.debug("job %d: %s", job.id, error)
        return self._file(job, error)

    def _file(self, job: Job, error: str | None) -> Job:
        """Move (or delete) the source, recording the destination first; end the job."""
        destination: Path | None
        if job.moved_to:
            destination = None if job.moved_to == "-" else Path(job.moved_to)
        else:
            destination = self.filing.destination(job, error)
            job = self.journal.update(
                job.id, moved_to=str(destination) if destination else "-", error=error or ""
            )
        source = Path(job.source)
        try:
            _move(source, destination)
        except OSError as exc:  # one file never stops the service: it stays where it is
            logger.warning(
                "job %d: cannot file its source: %s", job.id, printable(exc.strerror or str(exc))
            )
            logger.debug("job %d: %s stays where it is", job.id, printable(job.source))
        self.filing.filed(job, destination, error)
        if self.settings.output is None:
            # The spool's copy: the PACS has the objects, or the source is filed as failed.
            _remove(job.outputs)
        state = JobState.FAILED if error else JobState.DONE
        if not error:
            logger.info("job %d: done", job.id)
        return self.journal.update(job.id, state=state)


def _agree(
    given: dict[str, str],
    entities: list[tuple[str, str, list[str]]],
    known: dict[str, dict[str, Any]],
    *,
    unnumbered: str,
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Return a job's study and series values, and what it fixes as the first of either.

    Parameters
    ----------
    given : dict
        The job's own values, as text.
    entities : list of tuple
        ``("series" or "study", its UID, the keywords it fixes)``.
    known : dict
        What the first object of each fixed (:meth:`Journal.first`).
    unnumbered : str
        The Series Number of a series whose files give none.

    Raises
    ------
    ConfigError
        When the job gives a value that differs from its series' or study's: one line
        naming each, the two values, and what to do.
    """
    from dicomize._convert import begun

    now = time.time()
    values: dict[str, str] = {}
    first: dict[str, dict[str, Any]] = {}
    differ: list[str] = []
    for entity, uid, keywords in entities:
        entry = known.get(uid, {})
        began = float(entry.get("begun", now))
        # What the first object had without being given it: when it began, and the number.
        offset = str(given.get("TimezoneOffsetFromUTC") or "")
        dates = {**begun(began, began, offset), "SeriesNumber": unnumbered}
        own = {key: given[key] for key in keywords if key in given}
        fixed = entry.get("values")
        if fixed is None:  # the first object of this study or series: it fixes them
            first[uid] = {"begun": began, "values": own}
            fixed = own
        held = {key: value for key, value in {**dates, **fixed}.items() if key in keywords}
        found = [
            f"{key} {_shown(value)} differs from {_shown(held.get(key, ''))}"
            for key, value in own.items()
            if value != held.get(key, "")
        ]
        if found:
            differ.append(f"{', '.join(found)} that its {entity} already has")
        values.update(held)
    if differ:
        raise ConfigError(
            f"{'; '.join(differ)}: put it in a folder of its own, or correct its sidecar"
        )
    return values, first


def _text(value: object) -> str:
    """Return an attribute's value as text, as it is compared and kept (empty: none)."""
    if isinstance(value, list | tuple):
        return "\\".join(str(part) for part in value).strip()
    return "" if value is None else str(value).strip()


def _shown(value: str) -> str:
    return _cut(repr(value), _QUOTED) if value else "(none)"


def _cut(text: str, limit: int = _REASON) -> str:
    """Return `text`, cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(error: str) -> str:
    """Return a job's reason as it is kept and shown: one printable line, cut short."""
    return _cut(" ".join(printable(error).splitlines()))


def _move(source: Path, destination: Path | None) -> None:
    """Move (or delete) a source being filed: a link is moved itself, a pipe never opened.

    Only a regular file is ever copied (to another file system); anything else is
    renamed, or left where it is.
    """
    try:
        mode = source.lstat().st_mode
    except FileNotFoundError:
        return  # moved before a crash
    if destination is None:
        source.unlink()
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISREG(mode):
        shutil.move(source, destination)
    else:
        source.rename(destination)


def _private_folders(root: Path, folder: Path) -> None:
    """Make `folder` below `root` and the folders between, each the owner's alone (0700)."""
    for path in [*reversed(folder.relative_to(root).parents), folder.relative_to(root)]:
        here = root / path
        here.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(PermissionError):
            here.chmod(0o700)


def _remove(outputs: Iterable[str | Path]) -> None:
    """Delete a job's objects; a slide's folder goes with them once it is empty."""
    folders: set[Path] = set()
    for output in map(Path, outputs):
        output.unlink(missing_ok=True)
        if output.name == _SLIDE_FIRST:
            folders.add(output.parent)
    for folder in folders:
        with contextlib.suppress(OSError):  # something else is in it: left as it is
            folder.rmdir()


def _objects_at(output: Path) -> list[Path]:
    """Return the objects written at `output`: itself, or the files of a slide's folder.

    A slide's folder was renamed into place whole: what is in it is what was written.
    Its levels come first, in order.
    """
    if output.is_symlink() or not output.is_dir():
        return [output]

    def order(path: Path) -> tuple[int, int, str]:
        level = path.stem.removeprefix("level-")
        return (0, int(level), "") if level.isdigit() else (1, 0, path.name)

    return sorted(
        (path for path in output.iterdir() if path.suffix == ".dcm" and not path.is_symlink()),
        key=order,
    )


def _is_slide(folder: Path, sop_uid: str, root: str | None) -> bool:
    """Tell whether `folder` is a slide's complete folder of objects for this SOP Instance UID.

    It is renamed into place whole: its first level, with the UID derived for it, is
    the proof. A link is never one.
    """
    from dicomize.dicom.uids import derive_uid

    if folder.is_symlink() or not folder.is_dir():
        return False
    return _is_object(folder / _SLIDE_FIRST, derive_uid(sop_uid, "slide", "0", root=root))


def _is_object(path: Path, sop_uid: str) -> bool:
    """Tell whether `path` is a complete object with this SOP Instance UID."""
    if not path.is_file():
        return False
    from pydicom import dcmread

    try:
        ds = dcmread(path, stop_before_pixels=True)
    except Exception:  # anything unreadable is written again
        return False
    return str(ds.get("SOPInstanceUID", "")) == sop_uid


#: Why a file's own SOP Instance UID is refused.
SOP_INSTANCE_UID = (
    "derived by dicomize for each file taken (a new instance each time, the same one only "
    "for a retry); it cannot be set"
)


def unique_path(path: Path) -> Path:
    """Return `path`, or the first free ``name.N.ext`` beside it."""
    candidate, number = path, 1
    while os.path.lexists(candidate):
        candidate = path.with_name(f"{path.stem}.{number}{path.suffix}")
        number += 1
    return candidate


def ended(jobs: Iterable[Job]) -> bool:
    """Tell whether every job is done or failed."""
    return all(job.state in (JobState.DONE, JobState.FAILED) for job in jobs)
