"""``dicomize batch``: a folder tree or manifest converted in parallel, with a report."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from dicomize.batch import (
    BatchItem,
    BatchResult,
    plan_manifest,
    plan_tree,
    run_batch,
)
from dicomize.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from dicomize.cli._convert import UsageError, _fail, _merge, _metadata_layers, _options
from dicomize.errors import InputError, ManifestError, MetadataError
from dicomize.metadata import resolve_metadata

__all__ = ["run_batch_command"]


def run_batch_command(args: argparse.Namespace) -> int:
    """Run a batch; one line per failure, a summary line; return the exit code."""
    try:
        metadata = _merge(
            _metadata_layers(args),
            has_reference=bool(args.study_from or args.series_from),
            quiet=args.quiet,
        )
        resolve_metadata(metadata)  # refuse bad metadata once, before any work
        options = _options(args)
        items = _primed(_plan(args))  # a manifest is validated in full here
        client = _client(args.scheduler) if args.scheduler else None
    except (MetadataError, UsageError, ManifestError, InputError) as exc:
        _fail(f"invalid {'metadata' if isinstance(exc, MetadataError) else 'arguments'}: {exc}")
        return EXIT_USAGE
    show = sys.stderr.isatty() and not args.quiet
    # On a terminal only: a cheap second walk gives the total for the ETA.
    total = sum(1 for _ in _plan(args)) if show and not args.manifest else None
    progress = _Progress(show, total)
    delivered: list[str] = []  # output paths only, for --send
    report: IO[str] | None = None
    try:
        if args.report:
            report = Path(args.report).open("w", encoding="utf-8")  # noqa: SIM115  (closed below)

        def on_result(result: BatchResult) -> None:
            if report is not None:
                report.write(result.to_json() + "\n")
                report.flush()
            if result.status == "failed" and not args.quiet:
                progress.clear()
                _fail(result.error or f"{result.input}: failed")
            progress.update(result)
            if args.send and result.output and result.status in {"converted", "skipped"}:
                delivered.append(result.output)

        summary = run_batch(
            items,
            args.output,
            metadata,
            options=options,
            workers=args.workers,
            client=client,
            on_result=on_result,
            verify=args.verify,
        )
    finally:
        progress.clear()
        if report is not None:
            report.close()
        if client is not None:
            client.close()
    if not args.quiet:
        print(f"dicomize: batch: {summary.line()}", file=sys.stderr)
    code = EXIT_OK if summary.ok else EXIT_FAILED
    if args.send and delivered:
        from dicomize.cli._send import send_after  # noqa: PLC0415

        code = max(code, send_after(args, delivered, args.send))
    return code


def _plan(args: argparse.Namespace) -> Iterable[BatchItem]:
    if args.manifest:
        return plan_manifest(args.manifest, args.output)
    if args.input:
        return plan_tree(args.input, args.output, group_by=args.group_by)
    raise UsageError("give an INPUT folder or --manifest")


def _primed(items: Iterable[BatchItem]) -> Iterator[BatchItem]:
    iterator = iter(items)
    try:
        first = next(iterator)
    except StopIteration:
        return iter(())
    return itertools.chain([first], iterator)


def _client(address: str) -> Any:  # noqa: ANN401  (dask.distributed.Client, an optional extra)
    try:
        from dask.distributed import Client  # noqa: PLC0415
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'dicomize[dask]'") from None
    try:
        return Client(address, timeout=30)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler {address}: {exc}") from None


class _Progress:
    """A one-line progress display on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        self.enabled = enabled
        self.total = total
        self.started = time.monotonic()
        self.done = self.failed = 0
        self.shown = 0.0

    def update(self, result: BatchResult) -> None:
        self.done += 1
        self.failed += result.status == "failed"
        now = time.monotonic()
        if self.enabled and now - self.shown > 0.2:  # noqa: PLR2004
            rate = self.done / max(now - self.started, 1e-9)
            line = f"\r{self.done}"
            if self.total:
                left = max(self.total - self.done, 0) / max(rate, 1e-9)
                line += f"/{self.total} ({100 * self.done // self.total}%), ETA {left:.0f} s"
            sys.stderr.write(f"{line}, {self.failed} failed, {rate:.1f} files/s ")
            sys.stderr.flush()
            self.shown = now

    def clear(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
