"""Running a batch: a process pool or a Dask cluster, resumable, each input reported.

Each worker converts with the same path as ``dicomize convert`` and writes
atomically; see :mod:`dicomize.batch` for the rules on UIDs and resuming.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import itertools
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomize.batch.plan import BatchItem
from dicomize.errors import ConfigError, DicomizeError, OutputExists
from dicomize.files import is_temporary, is_temporary_of, temporary_name
from dicomize.metadata import MetadataLike, resolve_metadata
from dicomize.options import ConvertOptions
from dicomize.report import BatchResult, BatchStatus
from dicomize.worklist_lookup import WorklistLookup

if TYPE_CHECKING:
    from dicomize.dicom.part10 import Part10Object

__all__ = ["BatchSummary", "run_batch"]

logger = logging.getLogger(__name__)

_STATE = ".dicomize-batch.json"
#: Items per task sent to a worker process, at first and at least.
_CHUNK = 8
#: Items per task at most, and the work a task is sized to: a task's items go out and
#: its results come back together, and each task costs the parent a few hundred
#: microseconds (pickling, pipes, thread switches). Fast files (a passed-through JPEG)
#: go in larger tasks, so that the parent keeps up with many workers; slow ones stay
#: in small tasks, so that the last ones still spread over the workers.
_MAX_CHUNK = 64
_TASK_SECONDS = 0.05


@dataclass(kw_only=True, slots=True)
class BatchSummary:
    """Counts of a finished batch."""

    converted: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no input failed."""
        return self.failed == 0

    def line(self) -> str:
        """Return a one-line summary for people."""
        done = self.converted + self.skipped + self.failed
        rate = done / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.converted} converted, {self.skipped} skipped (already done), "
            f"{self.failed} failed in {self.seconds:.1f} s ({rate:.1f} files/s)"
        )


def run_batch(
    items: Iterable[BatchItem],
    output: str | os.PathLike[str],
    metadata: MetadataLike = None,
    *,
    options: ConvertOptions | None = None,
    workers: int | None = None,
    client: Any = None,  # noqa: ANN401  (dask.distributed.Client, an optional extra)
    on_result: Callable[[BatchResult], None] | None = None,
    verify: bool = False,
    worklist: WorklistLookup | None = None,
) -> BatchSummary:
    """Convert `items` in parallel; call `on_result` for each as it finishes.

    Parameters
    ----------
    items : iterable of BatchItem
        From :func:`plan_tree` or :func:`plan_manifest`; consumed lazily.
    output : str or os.PathLike
        The output folder (holds the batch state that keeps UIDs stable).
    metadata : Metadata or Mapping[str, object] or None
        Attributes for every picture, as a :class:`~dicomize.Metadata` or
        ``{keyword: value}``; a manifest row's values win over them.
    options : ConvertOptions or None
        Conversion options, the same as for ``dicomize convert``.
    workers : int or None
        Processes to use (default: all cores); 1 converts in this process.
    client : dask.distributed.Client or None
        Run on this Dask cluster instead; its workers must see the same paths.
    on_result : callable or None
        Called in this process with each :class:`BatchResult`.
    verify : bool
        Validate each output (:mod:`dicomize.validate`); one with errors counts as failed.
    worklist : WorklistLookup or None
        Resolve each input's patient, order and study from this worklist, by the
        input's Accession Number (or Patient ID); an input whose lookup finds no
        single item fails, the others go on.

    Returns
    -------
    BatchSummary
        The counts; ``summary.ok`` is False when any input failed.

    Raises
    ------
    dicomize.errors.MetadataError
        When a value of `metadata` is invalid: before anything is written.
    """
    options = options or ConvertOptions()
    values = resolve_metadata(metadata)
    started = time.monotonic()
    from dicomize._convert import begun  # the batch converts: it loads anyway

    # The first item before the state: a plan that fails at once (no such folder) leaves
    # no output folder behind.
    items = iter(items)
    first = list(itertools.islice(items, 1))
    items = itertools.chain(first, items)
    state = _BatchState(Path(output))
    seed = options.uid_seed or state.seed
    summary = BatchSummary()
    job = _Job(
        metadata=values,
        options=options,
        seed=seed,
        verify=verify,
        run=secrets.token_hex(8),
        worklist=worklist,
        # Once, here: workers (on Dask, in other time zones) must not each make their own.
        times=begun(state.begun, state.begun, str(values.get("TimezoneOffsetFromUTC") or "")),
    )
    for result in _results(state.numbered(items, values), job, workers, client):
        setattr(summary, result.status, getattr(summary, result.status) + 1)
        if on_result is not None:
            on_result(result)
    summary.seconds = time.monotonic() - started
    return summary


class _BatchState:
    """What a batch keeps with its outputs so that a rerun continues it, not another.

    The UID seed; when it began, its studies' and series' date and time; and each
    series' number in its study, in the order first met, so files a rerun adds (a
    new folder among the old ones) never renumber a series that has objects already.
    """

    def __init__(self, output: Path) -> None:
        self.path = output / _STATE
        if not self.path.exists():
            output.mkdir(parents=True, exist_ok=True)
            temporary = Path(temporary_name(str(self.path)))
            fresh = {"uid_seed": secrets.token_hex(16), "begun": time.time()}
            temporary.write_text(json.dumps(fresh), encoding="utf-8")
            try:
                os.link(temporary, self.path)
            except FileExistsError:
                pass  # another process won the race: its state is the batch's
            finally:
                temporary.unlink(missing_ok=True)
        try:
            self.stored = json.loads(self.path.read_text(encoding="utf-8"))
            self.seed = str(self.stored["uid_seed"])
            # A state written before the time was kept: the file's own time is the start.
            self.begun = float(self.stored.get("begun") or self.path.stat().st_mtime)
            self.series: dict[str, int] = dict(self.stored.get("series") or {})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"{self.path}: the batch state cannot be read ({exc}); move it away to start anew"
            ) from None

    def numbered(self, items: Iterable[BatchItem], metadata: dict[str, Any]) -> Iterator[BatchItem]:
        """Give each item its series' number in its study, keeping those of earlier runs."""
        last: dict[str, int] = {}
        for key, number in self.series.items():
            study = key.split("\x1f", 1)[0]
            last[study] = max(last.get(study, 0), number)
        one_series = "SeriesInstanceUID" in metadata
        for item in items:
            key = f"{item.study}\x1f{item.series}"
            if key not in self.series:
                last[item.study] = self.series[key] = last.get(item.study, 0) + 1
                self._save()
            problem = item.problem
            if one_series and len(last) > 1 and "SeriesInstanceUID" not in item.metadata:
                # A series is in one study (A.1.2.3): a given series cannot hold two.
                problem = problem or (
                    "a Series Instance UID given for the whole batch cannot span its "
                    "studies: group the batch as one study (--group-by tree) or leave it out"
                )
            yield replace(item, series_number=self.series[key], problem=problem)

    def _save(self) -> None:
        temporary = Path(temporary_name(str(self.path)))
        temporary.write_text(json.dumps({**self.stored, "series": self.series}), encoding="utf-8")
        os.replace(temporary, self.path)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Job:
    """What every worker needs besides the item: picklable, small."""

    metadata: dict[str, Any]
    options: ConvertOptions
    seed: str
    verify: bool = False
    #: Identifies this run_batch call, so workers that outlive it (Dask) list folders anew.
    run: str = ""
    worklist: WorklistLookup | None = None
    #: Study and Series Date and Time: when the batch began.
    times: dict[str, str] = field(default_factory=dict)


def _results(
    items: Iterable[BatchItem],
    job: _Job,
    workers: int | None,
    client: Any,  # noqa: ANN401
) -> Iterator[BatchResult]:
    if client is not None:
        yield from _dask_results(items, job, client)
        return
    workers = workers or os.cpu_count() or 1
    items = iter(items)
    first = list(itertools.islice(items, _CHUNK + 1))
    # One chunk keeps one worker busy at most: converting it here saves starting a pool.
    if workers == 1 or len(first) <= _CHUNK:
        for item in itertools.chain(first, items):
            yield _convert_item(item, job)
        return
    items = itertools.chain(first, items)
    # Items go to workers in chunks: one task per file made the parent's pickling and
    # queueing a third of the work. A bounded window of chunks in flight keeps memory
    # flat however many files there are.
    window = workers * 4
    started, finished = time.monotonic(), 0

    def size() -> int:
        # About _TASK_SECONDS of one worker's time, at the pace so far.
        if not finished:
            return _CHUNK
        per_file = (time.monotonic() - started) * workers / finished
        return max(_CHUNK, min(_MAX_CHUNK, int(_TASK_SECONDS / per_file)))

    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, initializer=keep_freed_memory
    ) as pool:
        pending: set[concurrent.futures.Future[list[BatchResult]]] = set()
        for chunk in _chunks(items, size):
            pending.add(pool.submit(_convert_chunk, chunk, job))
            if len(pending) >= window:
                done, pending = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    results = future.result()
                    finished += len(results)
                    yield from results
        for future in concurrent.futures.as_completed(pending):
            yield from future.result()


def _chunks(items: Iterator[BatchItem], size: Callable[[], int]) -> Iterator[list[BatchItem]]:
    while chunk := list(itertools.islice(items, size())):
        yield chunk


def keep_freed_memory() -> None:
    """Let this process keep the memory one file frees for the next (glibc's malloc).

    glibc gives the top of its heap back to the kernel once more free memory lies there
    than twice the largest block it has freed; a passed-through JPEG frees two blocks of
    its size (the file, the codestream without its metadata). A batch of similar files
    then gives the heap back and takes it again for every file: three ``brk`` calls and
    a page fault for every 4 KiB, for stretches of hundreds of files (issue 28). Fixed
    thresholds keep blocks up to a file read whole on the heap, and up to two of them
    free: memory a worker holds, not returns. The pool's workers call this; a program
    that owns its process (the command line) calls it before its workers fork. Other C
    libraries' allocators are left as they are.
    """
    from dicomize.inputs import WHOLE

    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: another allocator, with its own rules
        return
    # Setting either turns glibc's own moving threshold off, so both are set, or neither.
    if mallopt(_M_MMAP_THRESHOLD, WHOLE):
        mallopt(_M_TRIM_THRESHOLD, 2 * WHOLE)


#: mallopt's parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _convert_chunk(chunk: list[BatchItem], job: _Job) -> list[BatchResult]:
    return [_convert_item(item, job) for item in chunk]


def _dask_results(
    items: Iterable[BatchItem],
    job: _Job,
    client: Any,  # noqa: ANN401  (a Dask Client)
) -> Iterator[BatchResult]:
    from dask.distributed import as_completed

    window = max(8, 4 * len(client.scheduler_info().get("workers", {})))
    futures = as_completed()
    in_flight = 0
    for item in items:
        futures.add(client.submit(_convert_item, item, job, pure=False))
        in_flight += 1
        if in_flight >= window:
            yield next(futures).result()
            in_flight -= 1
    for future in futures:
        yield future.result()


def _convert_item(item: BatchItem, job: _Job) -> BatchResult:
    """Convert one item (in a worker); never raises for a bad input."""
    if item.problem:
        return BatchResult(
            input=item.source,
            output=None,
            sop_instance_uid=None,
            status=BatchStatus.FAILED,
            error=f"{item.source}: {item.problem}",
        )
    return _convert_planned(item, job)


def _convert_planned(item: BatchItem, job: _Job) -> BatchResult:
    from dicomize._convert import IDENTITY, encode_series, series_of_kind
    from dicomize._write import write_folder
    from dicomize.dicom.part10 import Part10Object
    from dicomize.dicom.uids import derive_uid
    from dicomize.inputs import sniff

    root = job.options.uid_root
    # Whose it is goes into every UID: one seed (--uid-seed) reused for another patient or
    # order never gives the first one's UIDs.
    keys = {**job.metadata, **item.metadata}
    identity = [str(keys.get(keyword) or "") for keyword in IDENTITY]
    options = replace(job.options, iod=item.iod) if item.iod else job.options
    # Names as text, not pathlib: this runs hundreds of times a second. A slide is many
    # objects: they go into a folder named as its file would be.
    folder = os.path.splitext(item.output)[0].removesuffix(".ome")
    file_there, folder_there = _present(item.output, job.run), _present(folder, job.run)
    # Once: for its series, and to read it. A picture is read whole in the same read, and
    # its reader takes those bytes: one open and one read a file. Not when an output is
    # there (a rerun): it is most often complete, and its input's head is enough.
    sniffed = sniff(item.source, options, whole=not (file_there or folder_there))
    kind = sniffed.kind
    # A seed the user gives may serve several trees with the same names: the content
    # tells their files apart, as it does for convert --uid-seed.
    content = _digest(item.source, sniffed.content) if job.options.uid_seed else ""
    sop_uid = derive_uid(job.seed, "sop", item.key or item.source, *identity, content, root=root)
    output, present = (folder, folder_there) if kind == "slide" else (item.output, file_there)
    if present and _complete(output, sop_uid, kind == "slide", root):
        return _skipped(item, output, sop_uid, job)
    ordered = _ordered(item, job)
    if isinstance(ordered, str):
        return BatchResult(
            input=item.source,
            output=None,
            sop_instance_uid=None,
            status=BatchStatus.FAILED,
            error=ordered,
        )
    # The worklist's study, or the batch's for this key and patient: a series key is then
    # unique within that study only.
    study = str(
        ordered.get("StudyInstanceUID")
        or derive_uid(job.seed, "study", item.study, *identity, root=root)
    )
    layers = {
        **job.times,
        "StudyInstanceUID": study,
        "SeriesInstanceUID": derive_uid(job.seed, "series", study, item.series, root=root),
        "InstanceNumber": str(item.instance_number),
        **job.metadata,
        **ordered,
        **item.metadata,
        "SOPInstanceUID": sop_uid,
    }
    try:
        # A series holds one kind: a folder's PDFs or clips go beside its pictures, not in.
        # A Series Number given (a flag, a row) is the user's; else the series' place.
        given = layers.get("SeriesNumber")
        layers["SeriesInstanceUID"], number = series_of_kind(
            str(layers["SeriesInstanceUID"]),
            int(str(given)) if given else item.series_number,
            kind,
            root=root,
        )
        if kind == "slide" and "SeriesInstanceUID" not in {**job.metadata, **item.metadata}:
            # Each slide is a series of its own, numbered by its place in the folder.
            layers["SeriesInstanceUID"] = derive_uid(sop_uid, "series", root=root)
            number += item.instance_number - 1
        layers["SeriesNumber"] = str(number)
        ((_, encoded),) = encode_series([item.source], layers, options=options, sniffed=sniffed)
        if isinstance(encoded, DicomizeError):
            return BatchResult(
                input=item.source,
                output=None,
                sop_instance_uid=None,
                status=BatchStatus.FAILED,
                error=str(encoded),
                option=encoded.option,
            )
        _make_folder(os.path.dirname(output) or ".", job.run)
        _remove_stale_temporaries(output, job.run)
        # A file that is there but not our complete output is replaced.
        if isinstance(encoded, Part10Object):
            written = _write_object(encoded, output, present, sop_uid, root)
        else:
            if kind != "slide":  # pages that differ in size: a folder named as the file's object
                output = os.path.splitext(output)[0]
                present = os.path.lexists(output)
            with encoded:
                write_folder(
                    list(zip(encoded.names, encoded.objects, strict=True)),
                    output,
                    overwrite=present,
                )
            written = True
    except DicomizeError as exc:
        return BatchResult(
            input=item.source,
            output=None,
            sop_instance_uid=None,
            status=BatchStatus.FAILED,
            error=str(exc),
            option=exc.option,
        )
    except Exception as exc:  # one bad file never stops a batch
        logger.debug("unexpected error converting %s", item.source, exc_info=True)
        return BatchResult(
            input=item.source,
            output=None,
            sop_instance_uid=None,
            status=BatchStatus.FAILED,
            error=f"internal error: {exc!r}",
        )
    return (
        _checked(item, output, sop_uid, job, encoded.notes)
        if written
        else _skipped(item, output, sop_uid, job)
    )


def _write_object(
    encoded: Part10Object, output: str, present: bool, sop_uid: str, root: str | None
) -> bool:
    """Write one object; False when what it would be is there already (not written)."""
    from dicomize._write import write_object

    try:
        write_object(encoded, output, overwrite=present)
    except OutputExists:
        # Made since the folder was listed: by another run of this batch, which wrote
        # what this one would, or by someone else, whose file is kept.
        if not _complete(output, sop_uid, False, root):
            raise
        return False
    return True


def _skipped(item: BatchItem, output: str, sop_uid: str, job: _Job) -> BatchResult:
    # Killed between linking the output into place and removing its temporary name,
    # a run leaves both: the output is kept, the temporary goes.
    _remove_stale_temporaries(output, job.run)
    return BatchResult(
        input=item.source,
        output=output,
        sop_instance_uid=sop_uid,
        status=BatchStatus.SKIPPED,
    )


def _digest(source: str, content: bytes | None) -> str:
    """Return the SHA-256 of a file's bytes, or nothing when it cannot be read (it fails)."""
    import hashlib  # --uid-seed only

    if content is not None:  # read whole already
        return hashlib.sha256(content).hexdigest()
    try:
        with open(source, "rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError:
        return ""


def _checked(
    item: BatchItem, output: str, sop_uid: str, job: _Job, notes: tuple[str, ...]
) -> BatchResult:
    """Return the converted result, or a failure when --verify finds errors in the output."""
    if job.verify:
        from dicomize.validate import validate_file

        paths = (
            [os.path.join(output, name) for name in sorted(os.listdir(output))]
            if os.path.isdir(output)
            else [output]
        )
        for path in paths:
            verdict = validate_file(path)
            if not verdict.ok:
                error = f"{item.source}: {verdict.first_error()}"
                return BatchResult(
                    input=item.source,
                    output=output,
                    sop_instance_uid=sop_uid,
                    status=BatchStatus.FAILED,
                    error=error,
                )
    return BatchResult(
        input=item.source,
        output=output,
        sop_instance_uid=sop_uid,
        status=BatchStatus.CONVERTED,
        notes=notes,
    )


def _ordered(item: BatchItem, job: _Job) -> dict[str, Any] | str:
    """Return the worklist's attributes for `item` (none without a worklist), or why not."""
    if job.worklist is None:
        return {}
    keys = {**job.metadata, **item.metadata}
    try:
        return job.worklist.metadata_for(keys.get("AccessionNumber"), keys.get("PatientID"))
    except DicomizeError as exc:
        return f"{item.source}: {exc}"


def _complete(output: str, sop_uid: str, slide: bool, root: str | None) -> bool:
    """Tell whether `output`, which exists, is our finished object (or slide) for this input."""
    from pydicom import dcmread

    if slide:
        from dicomize.dicom.uids import derive_uid

        # A slide's folder is renamed into place whole: its first level is the proof.
        output, sop_uid = (
            os.path.join(output, "level-0.dcm"),
            derive_uid(sop_uid, "slide", "0", root=root),
        )
    try:
        ds = dcmread(output, stop_before_pixels=True)
    except Exception:  # anything unreadable is redone
        return False
    return str(ds.get("SOPInstanceUID", "")) == sop_uid


def _present(output: str, run: str) -> bool:
    """Tell whether `output` exists, as ``os.path.exists`` does, from its folder's listing.

    A fresh batch asks this of every file, and none is there: the listing taken when
    this process first met the folder in this run answers for them all, without a
    system call each. A name listed (a rerun's) is looked at, for a link that leads
    nowhere. A name made since then is found by the writer, which never replaces it.
    """
    folder, name = os.path.split(output)
    listing = _listing(folder or ".", run)
    if listing is None:  # the folder cannot be listed: each name is looked at
        return os.path.exists(output)
    return name in listing.names and os.path.exists(output)


def _remove_stale_temporaries(output: str, run: str) -> None:
    # A killed run can leave the writer's temporary files behind. Each folder is
    # listed once per run and process: a glob per file made a batch quadratic.
    folder, target = os.path.split(output)
    folder = folder or "."
    listing = _listing(folder, run)
    if listing is None:
        return
    stale = listing.temporaries
    for name in [name for name in stale if is_temporary_of(name, target)]:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):  # a slide's folder, half written
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(path)
        stale.discard(name)


@functools.lru_cache(maxsize=256)
def _make_folder(folder: str, run: str) -> None:  # noqa: ARG001  (a cache key)
    # Once per folder, run and process: most outputs of a batch share a few folders.
    os.makedirs(folder, exist_ok=True)


@dataclass(frozen=True, slots=True)
class _Listing:
    """What an output folder held before this process wrote there in this run."""

    #: Outputs of earlier runs, and whatever else is there.
    names: frozenset[str]
    #: The writer's temporary names an earlier run left (removed as they are met).
    temporaries: set[str]


@functools.lru_cache(maxsize=256)
def _listing(folder: str, run: str) -> _Listing | None:  # noqa: ARG001  (a cache key)
    # Listed before this process writes there, so only a previous run's leftovers are
    # named. Each folder once per run and process: a look per file cost a system call each.
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries]
    except (FileNotFoundError, NotADirectoryError):
        return _Listing(names=frozenset(), temporaries=set())  # nothing written there yet
    except OSError:
        return None
    return _Listing(
        names=frozenset(name for name in names if not is_temporary(name)),
        temporaries={name for name in names if is_temporary(name)},
    )
