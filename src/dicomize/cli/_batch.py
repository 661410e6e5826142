"""``dicomize batch``: a folder tree or manifest converted in parallel, with a report."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from dicomize.batch.plan import GROUPINGS, BatchItem, plan_manifest, plan_tree
from dicomize.cli._arguments import (
    add_convert_arguments,
    add_send_arguments,
    convert_options,
    metadata,
    positive_int,
    worklist_lookup,
)
from dicomize.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    ReportWriter,
    deliver,
    fail,
    fail_query,
    hinted,
    refuse,
)
from dicomize.errors import ConfigError, InputError, ManifestError, MetadataError, QueryError
from dicomize.report import BatchResult, BatchStatus

__all__ = ["add_parser", "run"]


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``batch`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Convert every picture under INPUT (or listed in --manifest) into OUT, "
        "mirroring the folders, in parallel. Pictures in one folder form one series. A rerun "
        "skips what is done; UIDs stay the same.",
    )
    parser.add_argument("input", nargs="?", metavar="INPUT", help="folder (or picture) to convert")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    parser.add_argument(
        "--manifest",
        metavar="FILE",
        help="CSV or JSON Lines: a path column and DICOM keyword columns",
    )
    parser.add_argument(
        "--allow-outside-output",
        action="store_true",
        help="let a manifest's output column name files outside OUT (absolute or ..)",
    )
    parser.add_argument(
        "--workers", type=positive_int, metavar="N", help="processes (default: all cores)"
    )
    parser.add_argument(
        "--report",
        metavar="FILE.jsonl",
        help="write one JSON line per input: input, output, UID, status, error",
    )
    default = (plan_tree.__kwdefaults__ or {}).get("group_by")
    parser.add_argument(
        "--group-by",
        choices=GROUPINGS,
        help="folder: a study and series per folder; tree: one study, a series per folder; "
        f"file: a study and series per picture (default {default})",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this Dask cluster (tcp://host:8786); needs dicomize[dask]",
    )
    add_convert_arguments(parser, single=False)
    add_send_arguments(parser, command=False)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run a batch; one line per failure, a summary line; return the exit code."""
    from dicomize.batch.run import keep_freed_memory, run_batch  # the process pool
    from dicomize.metadata import resolve_metadata

    try:
        merged = metadata(args, worklist=False)  # a batch asks the worklist per input
        resolve_metadata(merged)  # refuse bad metadata once, before any work
        lookup = worklist_lookup(args)
        items = _primed(_plan(args))  # a manifest is validated in full here
        # A remuxed or transcoded clip waits in the output folder, never elsewhere; made
        # once the inputs are known to be there, so a mistyped one leaves nothing behind.
        Path(args.output).mkdir(parents=True, exist_ok=True)
        options = replace(convert_options(args), temporary_folder=args.output)
        client = _client(args.scheduler) if args.scheduler else None
    except QueryError as exc:
        return fail_query(exc, names=args.verbose > 0)
    except (MetadataError, ConfigError, ManifestError, InputError) as exc:
        return refuse(exc, args)
    show = sys.stderr.isatty() and not args.quiet
    # On a terminal only: a cheap second walk gives the total for the ETA.
    total = sum(1 for _ in _plan(args)) if show and not args.manifest else None
    progress = _Progress(show, total)
    keep_freed_memory()  # this process is the batch's: for it and the workers it forks
    delivered: list[str] = []  # output paths only, for --send
    try:
        with ReportWriter(args.report) as report:

            def on_result(result: BatchResult) -> None:
                report.write(result)
                if result.status == BatchStatus.FAILED and not args.quiet:
                    progress.clear()
                    fail(hinted(result.error or f"{result.input}: failed", result.option))
                if result.notes and not args.quiet:
                    progress.clear()
                    for note in result.notes:
                        print(f"dicomize: note: {result.input}: {note}", file=sys.stderr)
                progress.update(result)
                if args.send and result.output and result.status != BatchStatus.FAILED:
                    delivered.append(result.output)

            summary = run_batch(
                items,
                args.output,
                merged,
                options=options,
                workers=args.workers,
                client=client,
                on_result=on_result,
                verify=args.verify,
                worklist=lookup,
            )
    finally:
        progress.clear()
        if client is not None:
            client.close()
    if not args.quiet:
        print(f"dicomize: batch: {summary.line()}", file=sys.stderr)
    code = EXIT_OK if summary.ok else EXIT_FAILED
    if args.send and delivered:
        code = max(code, deliver(args, delivered, args.send))
    return code


def _plan(args: argparse.Namespace) -> Iterable[BatchItem]:
    if args.manifest:
        return plan_manifest(args.manifest, args.output, allow_outside=args.allow_outside_output)
    if args.input:
        if args.group_by is None:
            return plan_tree(args.input, args.output)
        return plan_tree(args.input, args.output, group_by=args.group_by)
    raise ConfigError("give an INPUT folder or --manifest")


def _primed(items: Iterable[BatchItem]) -> Iterator[BatchItem]:
    iterator = iter(items)
    try:
        first = next(iterator)
    except StopIteration:
        return iter(())
    return itertools.chain([first], iterator)


def _client(address: str) -> Any:  # noqa: ANN401  (dask.distributed.Client, an optional extra)
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'dicomize[dask]'") from None
    try:
        return Client(address, timeout=30)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler {address}: {exc}") from None


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
        self.failed += result.status == BatchStatus.FAILED
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
