"""``dicomize watch``: a hot folder converted, sent and filed, until stopped (or ``--once``)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from dicomize.cli._arguments import (
    add_convert_arguments,
    add_send_arguments,
    convert_options,
    metadata,
    send_options,
    worklist_lookup,
)
from dicomize.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, log_service, refuse
from dicomize.errors import ConfigError, InputError, MetadataError, QueryError
from dicomize.service.defaults import GIVE_UP_AFTER, POLL, RETRY_AFTER, RETRY_MAX, SETTLE

__all__ = ["add_parser", "run", "service_settings"]


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``watch`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Watch INBOX: each complete file (size unchanged for --settle seconds) is "
        "converted, sent with --send and/or kept in -o, then moved to --done, or to --failed "
        "with NAME.error.txt saying why. A journal (INBOX/.dicomize) makes it safe to kill and "
        "restart at any moment: nothing is lost, converted twice or sent twice.",
    )
    parser.add_argument("inbox", metavar="INBOX", help="the folder to watch (and its sub-folders)")
    parser.add_argument("-o", "--output", metavar="OUT", help="keep the DICOM objects here")
    parser.add_argument("--done", metavar="DIR", help="filed sources (default INBOX/done)")
    parser.add_argument("--failed", metavar="DIR", help="failed sources (default INBOX/failed)")
    parser.add_argument(
        "--state", metavar="DIR", help="the journal and spool (default INBOX/.dicomize)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        metavar="S",
        help=f"seconds a file must stay unchanged before it is taken (default {SETTLE:g})",
    )
    parser.add_argument(
        "--poll",
        type=float,
        metavar="S",
        help=f"seconds between scans (default {POLL:g})",
    )
    parser.add_argument(
        "--no-events",
        dest="events",
        action="store_false",
        help="scan only, no filesystem events (network shares, where none arrive)",
    )
    parser.add_argument(
        "--sidecar",
        action="store_true",
        help="read each file's attributes from NAME.json or its folder's metadata.csv",
    )
    parser.add_argument(
        "--accession-from",
        metavar="PATTERN",
        help="each file's Accession Number from its path, for --worklist: '{folder}', "
        "'{stem}', or a regular expression with (?P<accession>...)",
    )
    parser.add_argument(
        "--retry-after",
        type=float,
        metavar="S",
        help="seconds before a failed send is tried again, doubling each time up to "
        f"{RETRY_MAX:g} (default {RETRY_AFTER:g})",
    )
    parser.add_argument(
        "--give-up-after",
        type=float,
        metavar="HOURS",
        help="file a job that could not be sent for this long as failed "
        f"(default {GIVE_UP_AFTER / 3600:g})",
    )
    parser.add_argument(
        "--once", action="store_true", help="take what is there, work it off, and exit (cron)"
    )
    add_convert_arguments(parser, single=False)
    add_send_arguments(parser, command=False)
    return parser


def service_settings(args: argparse.Namespace, output: str | None) -> Any:  # noqa: ANN401
    """Build the ServiceSettings of ``watch`` and ``serve`` from their flags.

    Raises
    ------
    ConfigError, MetadataError, QueryError, InputError
        For flags that cannot work; nothing has started yet.
    """
    from dicomize.metadata import resolve_metadata  # noqa: PLC0415
    from dicomize.service.worker import ServiceSettings  # noqa: PLC0415

    merged = metadata(args, worklist=False)  # the worklist is asked per file
    resolve_metadata(merged)
    options = convert_options(args)
    return ServiceSettings(
        output=Path(output) if output else None,
        send=args.send,
        send_options=send_options(args),
        convert_options=options,
        metadata=merged,
        worklist=worklist_lookup(args),
        verify=args.verify,
        **{
            name: value
            for name, value in (
                ("retry_after", getattr(args, "retry_after", None)),
                ("give_up_after", _seconds(getattr(args, "give_up_after", None))),
            )
            if value is not None
        },
    )


def _seconds(hours: float | None) -> float | None:
    return None if hours is None else hours * 3600


def run(args: argparse.Namespace) -> int:
    """Watch until SIGTERM (or once); return the exit code."""
    from dicomize.service.watch import Watcher, WatchSettings  # noqa: PLC0415

    inbox = Path(args.inbox)
    if not inbox.is_dir():
        fail(f"invalid arguments: {inbox} is not a folder")
        return EXIT_USAGE
    if not args.output and not args.send:
        fail("invalid arguments: give -o OUT, --send URL, or both")
        return EXIT_USAGE
    given = {
        name: getattr(args, name)
        for name in ("settle", "poll", "accession_from")
        if getattr(args, name) is not None
    }
    try:
        settings = service_settings(args, args.output)
        watch = WatchSettings(
            inbox=inbox,
            done=Path(args.done) if args.done else inbox / "done",
            failed=Path(args.failed) if args.failed else inbox / "failed",
            state=Path(args.state) if args.state else inbox / ".dicomize",
            events=args.events,
            sidecar=args.sidecar,
            **given,
        )
    except (QueryError, MetadataError, ConfigError, InputError) as exc:
        return refuse(exc, args)
    log_service(args)
    watcher = Watcher(watch, settings)
    previous = {
        number: signal.signal(number, lambda *_: watcher.stop())
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        summary = watcher.run(once=args.once)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        watcher.close()
    if not args.quiet:
        print(f"dicomize: watch: {summary.line()}", file=sys.stderr)
    return EXIT_OK if summary.failed == 0 and summary.waiting == 0 else EXIT_FAILED
