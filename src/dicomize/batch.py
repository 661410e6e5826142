"""Batch conversion at archive scale: folders or manifests, parallel, resumable, reported.

Rules (documented in the README):

* **Outputs** mirror the input tree: ``photos/a/b.jpg`` → ``dicom/a/b.dcm``. A manifest row
  may name its output; otherwise the path relative to the manifest's folder is mirrored.
* **Grouping** (``group_by``): ``"folder"`` (default) makes each folder one series of one
  study; ``"tree"`` makes the whole input one study with a series per folder; ``"file"``
  gives every picture its own study and series. Manifest rows group by their
  ``study_key``/``series_key`` columns when present. Instance Numbers follow the sorted
  order of file names within a series.
* **UIDs** are derived from a seed (``--uid-seed``, or a random one stored in the output
  folder as ``.dicomize-batch.json``) and the group and input path, so workers agree on a
  series without talking, and a resumed batch files its remaining pictures into the same
  series with the same UIDs.
* **Resume**: an input whose output exists, parses and carries the expected SOP Instance UID
  is skipped; any other file at that name is redone. Outputs are written atomically, and
  temporary files a killed run left behind are removed.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import functools
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from dicomize._vr import validate_attribute
from dicomize.errors import DicomizeError, ManifestError, MetadataError
from dicomize.options import ConvertOptions
from dicomize.report import BatchResult

__all__ = [
    "BatchItem",
    "BatchResult",
    "BatchSummary",
    "ManifestError",
    "plan_manifest",
    "plan_tree",
    "run_batch",
]

logger = logging.getLogger(__name__)

_STATE = ".dicomize-batch.json"
_GROUPINGS = ("folder", "tree", "file")
#: Items per task sent to a worker process.
_CHUNK = 8
_SPECIAL_COLUMNS = frozenset({"path", "output", "study_key", "series_key"})


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """One picture to convert, with everything a worker needs and nothing shared."""

    source: str
    output: str
    #: Series key (Study key is ``study``); pictures with equal keys share UIDs.
    series: str
    study: str
    instance_number: int
    #: Identifies the input however the root was spelled (relative path, manifest path).
    key: str = ""
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
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


def plan_tree(
    root: str | os.PathLike[str], output: str | os.PathLike[str], *, group_by: str = "folder"
) -> Iterator[BatchItem]:
    """List the pictures under `root` lazily, folder by folder, in sorted order.

    Hidden files and folders (names starting with ``.``) are passed over. The
    format of each file is decided later, from its content.
    """
    if group_by not in _GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(_GROUPINGS)}")
    root, output = Path(root), Path(output)
    skip = output.resolve()  # an output folder inside the input tree is not input
    if root.is_file():
        yield BatchItem(
            str(root), str(output / (root.stem + ".dcm")), root.stem, root.stem, 1, key=root.name
        )
        return
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(
            name
            for name in folders
            if not name.startswith(".") and (Path(folder) / name).resolve() != skip
        )
        relative = Path(folder).relative_to(root)
        key = relative.as_posix()
        number = 0
        for name in sorted(files):
            if name.startswith("."):
                continue
            number += 1
            source = Path(folder) / name
            target = output / relative / (Path(name).stem + ".dcm")
            if group_by == "file":
                study = series = (relative / name).as_posix()
            else:
                study = "" if group_by == "tree" else key
                series = key
            yield BatchItem(
                str(source),
                str(target),
                series,
                study,
                1 if group_by == "file" else number,
                key=(relative / name).as_posix(),
            )


def plan_manifest(
    manifest: str | os.PathLike[str], output: str | os.PathLike[str]
) -> Iterator[BatchItem]:
    """Read a CSV or JSON Lines manifest: a ``path`` column and DICOM keyword columns.

    Every row is validated first, in one streaming pass, so an error in row
    1,234 is reported before any picture is converted; the items are then
    produced in a second pass.

    Raises
    ------
    ManifestError
        For an unknown column, a missing path or an invalid value, with the row number.
    """
    manifest, output = Path(manifest), Path(output)
    for _ in _manifest_items(manifest, output):
        pass  # validation pass: nothing is kept
    yield from _manifest_items(manifest, output)


def _manifest_items(manifest: Path, output: Path) -> Iterator[BatchItem]:
    base = manifest.parent
    counters: dict[str, int] = {}
    for row_number, row in _manifest_rows(manifest):
        path = str(row.get("path") or "").strip()
        if not path:
            raise ManifestError(manifest, row_number, "the path column is empty")
        metadata: dict[str, Any] = {}
        for column, value in row.items():
            if column in _SPECIAL_COLUMNS or value in (None, ""):
                continue
            keyword = _keyword_for_column(column)
            if keyword is None:
                raise ManifestError(manifest, row_number, f"unknown column {column!r}")
            try:
                metadata[keyword] = validate_attribute(keyword, value)
            except MetadataError as exc:
                raise ManifestError(manifest, row_number, str(exc)) from None
        source = Path(path) if Path(path).is_absolute() else base / path
        relative = Path(path) if not Path(path).is_absolute() else Path(Path(path).name)
        target = row.get("output") or output / relative.with_suffix(".dcm")
        series = str(row.get("series_key") or relative.parent.as_posix())
        study = str(row.get("study_key") or series)
        counters[series] = counters.get(series, 0) + 1
        yield BatchItem(
            str(source), str(target), series, study, counters[series], key=path, metadata=metadata
        )


def _manifest_rows(manifest: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with manifest.open(encoding="utf-8-sig", newline="") as stream:
            if manifest.suffix.lower() in {".jsonl", ".ndjson"}:
                for number, line in enumerate(stream, start=1):
                    if line.strip():
                        row = json.loads(line)
                        if not isinstance(row, dict):
                            raise ManifestError(manifest, number, "a line is not a JSON object")
                        yield number, row
            else:
                # Row 1 is the header, so the first picture is row 2, as a spreadsheet shows it.
                for number, row in enumerate(csv.DictReader(stream), start=2):
                    yield number, row
    except json.JSONDecodeError as exc:
        raise ManifestError(manifest, exc.lineno, f"not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(manifest, 0, f"cannot read the manifest ({exc})") from None


def _keyword_for_column(column: str) -> str | None:
    from pydicom.datadict import tag_for_keyword  # noqa: PLC0415

    from dicomize.cli import METADATA_FLAGS  # noqa: PLC0415

    if tag_for_keyword(column) is not None:
        return column
    friendly = {flag.lstrip("-").replace("-", "_"): keyword for flag, keyword, _ in METADATA_FLAGS}
    return friendly.get(column.strip().lower().replace("-", "_"))


def run_batch(
    items: Iterable[BatchItem],
    output: str | os.PathLike[str],
    metadata: dict[str, Any] | None = None,
    *,
    options: ConvertOptions | None = None,
    workers: int | None = None,
    client: Any = None,  # noqa: ANN401  (dask.distributed.Client, an optional extra)
    on_result: Callable[[BatchResult], None] | None = None,
    verify: bool = False,
) -> BatchSummary:
    """Convert `items` in parallel; call `on_result` for each as it finishes.

    Parameters
    ----------
    items : iterable of BatchItem
        From :func:`plan_tree` or :func:`plan_manifest`; consumed lazily.
    output : str or os.PathLike
        The output folder (holds the batch state that keeps UIDs stable).
    metadata : dict or None
        Attributes for every picture; a manifest row's values win over them.
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

    Returns
    -------
    BatchSummary
        The counts; ``summary.ok`` is False when any input failed.
    """
    options = options or ConvertOptions()
    metadata = metadata or {}
    started = time.monotonic()
    seed = options.uid_seed or _batch_seed(Path(output))
    summary = BatchSummary()
    job = _Job(metadata, options, seed, verify, run=secrets.token_hex(8))
    for result in _results(items, job, workers, client):
        setattr(summary, result.status, getattr(summary, result.status) + 1)
        if on_result is not None:
            on_result(result)
    summary.seconds = time.monotonic() - started
    return summary


def _batch_seed(output: Path) -> str:
    """Return the batch's UID seed, stored with the outputs so a rerun continues the series."""
    state = output / _STATE
    try:
        return str(json.loads(state.read_text(encoding="utf-8"))["uid_seed"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    output.mkdir(parents=True, exist_ok=True)
    seed = secrets.token_hex(16)
    temporary = state.with_name(state.name + f".{secrets.token_hex(4)}.part")
    temporary.write_text(json.dumps({"uid_seed": seed}), encoding="utf-8")
    try:
        os.link(temporary, state)  # another process may have won the race: use its seed
    except FileExistsError:
        return _batch_seed(output)
    finally:
        temporary.unlink(missing_ok=True)
    return seed


@dataclasses.dataclass(frozen=True)
class _Job:
    """What every worker needs besides the item: picklable, small."""

    metadata: dict[str, Any]
    options: ConvertOptions
    seed: str
    verify: bool = False
    #: Identifies this run_batch call, so workers that outlive it (Dask) list folders anew.
    run: str = ""


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
    if workers == 1:
        for item in items:
            yield convert_item(item, job)
        return
    # Items go to workers in small chunks: one task per file made the parent's pickling
    # and queueing a third of the work. A bounded window of chunks in flight keeps
    # memory flat however many files there are.
    window = workers * 4
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        pending: set[concurrent.futures.Future[list[BatchResult]]] = set()
        for chunk in _chunks(items, _CHUNK):
            pending.add(pool.submit(_convert_chunk, chunk, job))
            if len(pending) >= window:
                done, pending = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED
                )
                yield from (result for future in done for result in future.result())
        for future in concurrent.futures.as_completed(pending):
            yield from future.result()


def _chunks(items: Iterable[BatchItem], size: int) -> Iterator[list[BatchItem]]:
    chunk: list[BatchItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _convert_chunk(chunk: list[BatchItem], job: _Job) -> list[BatchResult]:
    return [convert_item(item, job) for item in chunk]


def _dask_results(
    items: Iterable[BatchItem],
    job: _Job,
    client: Any,  # noqa: ANN401  (a Dask Client)
) -> Iterator[BatchResult]:
    from dask.distributed import as_completed  # noqa: PLC0415

    window = max(8, 4 * len(client.scheduler_info().get("workers", {})))
    futures = as_completed()
    in_flight = 0
    for item in items:
        futures.add(client.submit(convert_item, item, job, pure=False))
        in_flight += 1
        if in_flight >= window:
            yield next(futures).result()
            in_flight -= 1
    for future in futures:
        yield future.result()


def convert_item(item: BatchItem, job: _Job) -> BatchResult:
    """Convert one item (in a worker); never raises for a bad input."""
    from dicomize._convert import encode_series  # noqa: PLC0415
    from dicomize._write import write_object  # noqa: PLC0415
    from dicomize.uids import derive_uid  # noqa: PLC0415

    root = job.options.uid_root
    sop_uid = derive_uid(job.seed, "sop", item.key or item.source, root=root)
    output = Path(item.output)
    if _complete(output, sop_uid):
        return BatchResult(item.source, item.output, sop_uid, "skipped")
    layers = {
        "StudyInstanceUID": derive_uid(job.seed, "study", item.study, root=root),
        "SeriesInstanceUID": derive_uid(job.seed, "series", item.study, item.series, root=root),
        "InstanceNumber": str(item.instance_number),
        **job.metadata,
        **item.metadata,
        "SOPInstanceUID": sop_uid,
    }
    try:
        ((_, encoded),) = encode_series([item.source], layers, options=job.options)
        if isinstance(encoded, DicomizeError):
            return BatchResult(item.source, None, None, "failed", str(encoded))
        output.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(output, job.run)
        # A file that is there but not our complete output is replaced.
        write_object(encoded, output, overwrite=output.exists())
    except DicomizeError as exc:
        return BatchResult(item.source, None, None, "failed", str(exc))
    except Exception as exc:  # one bad file never stops a batch
        logger.debug("unexpected error converting %s", item.source, exc_info=True)
        return BatchResult(item.source, None, None, "failed", f"internal error: {exc!r}")
    if job.verify:
        from dicomize.validate import validate_file  # noqa: PLC0415

        verdict = validate_file(output)
        if not verdict.ok:
            return BatchResult(
                item.source,
                item.output,
                sop_uid,
                "failed",
                f"{item.source}: failed verification: {verdict.errors[0].message}",
            )
    return BatchResult(item.source, item.output, sop_uid, "converted")


def _complete(output: Path, sop_uid: str) -> bool:
    """Tell whether `output` is our finished object for this input, by reading it."""
    if not output.is_file():
        return False
    from pydicom import dcmread  # noqa: PLC0415

    try:
        ds = dcmread(output, stop_before_pixels=True)
    except Exception:  # anything unreadable is redone
        return False
    return str(ds.get("SOPInstanceUID", "")) == sop_uid


def _remove_stale_temporaries(output: Path, run: str) -> None:
    # Our writer's temporary names are ".<name>.<12 hex>.part"; a killed run can leave one.
    # Each folder is listed once per run and process: a glob per file made a batch quadratic.
    prefix = f".{output.name}."
    stale = _stale_temporaries(str(output.parent), run)
    for name in [name for name in stale if name.startswith(prefix)]:
        (output.parent / name).unlink(missing_ok=True)
        stale.discard(name)


@functools.lru_cache(maxsize=256)
def _stale_temporaries(folder: str, run: str) -> set[str]:  # noqa: ARG001  (a cache key)
    # Listed before this process writes there, so only a previous run's leftovers are named.
    with os.scandir(folder) as entries:
        return {e.name for e in entries if e.name.startswith(".") and e.name.endswith(".part")}
