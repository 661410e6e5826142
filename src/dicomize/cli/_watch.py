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
from dicomize.service.defaults import (
    FAILED_RECENTLY,
    GIVE_UP_AFTER,
    KEEP_FOR,
    POLL,
    RETRY_AFTER,
    RETRY_MAX,
    SETTLE,
    STUCK_AFTER,
    STUCK_ATTEMPTS,
)

__all__ = ["add_keep_days", "add_parser", "run", "service_settings"]

_DAY = 24 * 3600.0


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
    add_keep_days(parser, held=False)
    parser.add_argument(
        "--once", action="store_true", help="take what is there, work it off, and exit (cron)"
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="print the journal's jobs by state and the stuck ones (waiting to retry for over "
        f"{STUCK_AFTER / 3600:g} h or {STUCK_ATTEMPTS} attempts, failed in the last "
        f"{FAILED_RECENTLY / 3600:g} h) with their reasons, and exit: 1 when any is stuck",
    )
    add_convert_arguments(parser, single=False)
    add_send_arguments(parser, command=False)
    return parser


def add_keep_days(parser: argparse.ArgumentParser, *, held: bool) -> None:
    """Add ``--keep-days``, the retention rule (`held`: and the web page's held uploads)."""
    but = ", but a held upload nobody sent is, with its objects, once unchanged as long"
    parser.add_argument(
        "--keep-days",
        type=float,
        metavar="DAYS",
        help="days after which a job done or failed is forgotten: its journal row (patient "
        "data) and what the spool still holds of it; nothing on its way to the PACS is "
        f"deleted{but if held else ''} (default {KEEP_FOR / _DAY:g})",
    )


def service_settings(args: argparse.Namespace, output: str | None) -> Any:  # noqa: ANN401
    """Build the ServiceSettings of ``watch`` and ``serve`` from their flags.

    Raises
    ------
    ConfigError, MetadataError, QueryError, InputError
        For flags that cannot work; nothing has started yet.
    """
    from dicomize.metadata import resolve_metadata
    from dicomize.service.worker import ServiceSettings

    keep_days = getattr(args, "keep_days", None)
    if keep_days is not None and keep_days < 0:
        raise ConfigError(f"--keep-days {keep_days:g}: a number of days, 0 or more")
    merged = metadata(args, worklist=False)  # the worklist is asked per file
    if "SOPInstanceUID" in merged:
        from dicomize.service.worker import SOP_INSTANCE_UID

        raise MetadataError("SOPInstanceUID", merged["SOPInstanceUID"], SOP_INSTANCE_UID)
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
                ("keep_for", _seconds(getattr(args, "keep_days", None), _DAY)),
            )
            if value is not None
        },
    )


def _seconds(count: float | None, unit: float = 3600.0) -> float | None:
    return None if count is None else count * unit


def run(args: argparse.Namespace) -> int:
    """Watch until SIGTERM (or once); return the exit code."""
    from dicomize.service.watch import Watcher, WatchSettings

    inbox = Path(args.inbox)
    if not inbox.is_dir():
        fail(f"invalid arguments: {inbox} is not a folder")
        return EXIT_USAGE
    state = Path(args.state) if args.state else inbox / ".dicomize"
    if args.status:
        return _status(state)
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
            state=state,
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


def _status(state: Path) -> int:
    """Print the journal's jobs by state, then each stuck job with its reason."""
    import time  # --help does without it

    from dicomize.files import printable
    from dicomize.service.journal import Journal, state_in_words

    path = state / "journal.sqlite"
    if not path.exists():
        fail(f"invalid arguments: no journal in {state} (has this folder been watched?)")
        return EXIT_USAGE
    journal = Journal(path)
    try:
        counts = journal.counts()
        stuck = journal.stuck()
    finally:
        journal.close()
    listed = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items())) or "no jobs"
    print(f"{path}: {listed}")
    print(f"{len(stuck)} stuck" + (":" if stuck else ""))
    for job in stuck:
        taken = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created))
        failed = f"{job.attempts} failed attempt" + ("" if job.attempts == 1 else "s")
        print(f"  job {job.id}: {state_in_words(job)}; taken {taken}, {failed}")
        print(f"    {printable(job.name)}")  # a name that is not UTF-8 is shown, escaped
        if job.error:
            print(f"    {printable(job.error)}")
    return EXIT_FAILED if stuck else EXIT_OK
