"""What every command shares: exit codes, one-line failures, report files, logging, delivery.

Exit codes: 0 every input done; 1 one or more inputs failed (each is reported
on one line); 2 invalid command line, options or metadata (nothing written);
3 an internal error (a bug: rerun with ``--debug`` and report it);
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from types import TracebackType

from dicomize.cli._arguments import format_item, send_options
from dicomize.errors import ConfigError, DicomizeError, MetadataError, QueryError

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import IO, Protocol

    class _Record(Protocol):
        def to_json(self) -> str: ...

    class _Match(Protocol):
        def summary(self, *, names: bool = False) -> dict[str, str]: ...


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ReportWriter",
    "configure_logging",
    "deliver",
    "explain",
    "fail",
    "fail_query",
    "log_service",
    "refuse",
    "verified",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def fail_query(exc: QueryError, *, names: bool = False) -> int:
    """Report a worklist that gave no single item: the line, then what matched; exit 2."""
    from typing import cast  # a query failed: the start-up is over

    fail(str(exc))
    for item in cast("list[_Match]", exc.items):
        print("  " + format_item(item.summary(names=names)), file=sys.stderr)
    return EXIT_USAGE


def refuse(exc: DicomizeError, args: argparse.Namespace) -> int:
    """Report what stops a command before any work (flags, metadata, the worklist); exit 2."""
    if isinstance(exc, QueryError):
        return fail_query(exc, names=args.verbose > 0)
    fail(f"invalid {'metadata' if isinstance(exc, MetadataError) else 'arguments'}: {explain(exc)}")
    return EXIT_USAGE


def log_service(args: argparse.Namespace) -> None:
    """Log a service's work at info level: jobs by number, requests by route, never patient data."""
    import logging  # --help does without it

    if not args.quiet:
        level = logging.DEBUG if args.debug else logging.INFO
        logging.getLogger("dicomize.service").setLevel(level)


def fail(message: str) -> None:
    """Report one failure on one line of stderr."""
    print(f"dicomize: {message}", file=sys.stderr)


#: The flag that changes an outcome, by the name the library's error gives it
#: (DicomizeError.option): the library names no flags, as its errors reach the web
#: page and API callers too.
_FLAG_HINTS = {
    "overwrite": "use --overwrite to replace it",
    "keep_gps": "--keep-gps needs --iod vl-photo",
    "transcode": "leave out --no-transcode",
    "multiframe": "use --multiframe",
    "raw": "leave out --raw",
    "allow_outside": "or allow it with --allow-outside-output",
    "dpi": "lower --dpi, or raise --max-pixels",
    "laterality": "give --laterality R, L or B",
    # A clip's IOD needs the region it shows (C.8.12.1), and no code says "unknown".
    "anatomic_region": "give --body-part, e.g. COLON, or --anatomic-region CODE^SCHEME^MEANING",
    "anatomic_region_code": "give its code with --anatomic-region CODE^SCHEME^MEANING",
    # A fixed IOD refused a Modality given, or taken from --series-from's series.
    "modality": "a series has one Modality: leave out --modality; to file beside another "
    "IOD's series, join the reference's study with --study-from instead of its series",
    "metadata": "give it as a code item in --metadata JSON",
    "acquired": "give --set AcquisitionDateTime=YYYYMMDDHHMMSS",
    "equipment": "give --manufacturer, --model-name, --software-versions and "
    "--device-serial-number",
    # A slide lacks what its file should say: each is one flag.
    "slide_metadata": "the scanner: --manufacturer, --model-name, --device-serial-number, "
    "--software-versions; the scan: --set AcquisitionDateTime=YYYYMMDDHHMMSS; pixels: --mpp",
    "max_slide_pixels": "raise --max-slide-pixels",
    "region": "give --region X,Y,W,H",
    # The patient given differs from the reference's: its study is another patient's.
    "study_from": "give the reference's patient, or leave out --study-from to start a new study",
    "series_from": "give the reference's patient, or leave out --series-from to start a new study",
}


def explain(exc: DicomizeError) -> str:
    """Return `exc` as one line, with the flag that would change the outcome if one would."""
    return hinted(str(exc), exc.option)


def hinted(message: str, option: str | None) -> str:
    """Return `message` with the flag of `option` (a failure's way out), if it has one."""
    hint = _FLAG_HINTS.get(option or "")
    return f"{message} ({hint})" if hint else message


class ReportWriter:
    """A JSON Lines report (``--report``): one line per record, flushed as it comes.

    Without a path it writes nothing, so a command writes every record the same way.
    """

    def __init__(self, path: str | None) -> None:
        self._stream: IO[str] | None = None
        if path:
            from pathlib import Path  # convert --help does without it

            self._stream = Path(path).open("w", encoding="utf-8")  # noqa: SIM115  (closed in __exit__)

    def write(self, record: _Record) -> None:
        """Append one record."""
        if self._stream is not None:
            self._stream.write(record.to_json() + "\n")
            self._stream.flush()

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self._stream.close()


def configure_logging(args: argparse.Namespace) -> None:
    """Send log records to stderr at the level -v, -q and --debug ask for."""
    import logging  # --help does without it

    if args.debug:
        level = logging.DEBUG
    elif args.quiet:
        level = logging.ERROR
    else:
        level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="dicomize: %(levelname)s: %(message)s", stream=sys.stderr
    )
    # pynetdicom reports every refused connection itself; dicomize reports it once, per file.
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if args.debug else logging.CRITICAL)
    # watchdog logs an error for events still queued when its observer stops (watch's SIGTERM).
    logging.getLogger("watchdog").setLevel(logging.DEBUG if args.debug else logging.CRITICAL)


def verified(path: Path) -> bool:
    """Validate a written file (``--verify``); report it on one line when it has errors."""
    from dicomize.validate import validate_file  # pydicom, dciodvfy

    verdict = validate_file(path)
    if not verdict.ok:
        fail(f"{path}: {verdict.first_error()}")
    return verdict.ok


def deliver(
    args: argparse.Namespace, paths: Iterable[str], url: str, *, report_path: str | None = None
) -> int:
    """Send `paths` to `url` with the delivery flags in `args`; return the exit code."""
    from dicomize.report import SendStatus  # loaded when sending
    from dicomize.send import send_files
    from dicomize.send.destination import parse_destination

    try:
        destination = parse_destination(url)
        options = send_options(args)
    except ConfigError as exc:
        fail(f"invalid arguments: {explain(exc)}")
        return EXIT_USAGE
    counts = dict.fromkeys(SendStatus, 0)
    try:
        with ReportWriter(report_path) as report:
            for result in send_files(list(paths), destination, options):
                report.write(result)
                counts[result.status] += 1
                if (
                    result.status in {SendStatus.FAILED, SendStatus.NOT_COMMITTED}
                    and not args.quiet
                ):
                    fail(f"{result.input}: {result.status}: {result.error}")
    except ConfigError as exc:
        fail(f"invalid arguments: {explain(exc)}")
        return EXIT_USAGE
    if not args.quiet:
        stored = counts[SendStatus.STORED] + counts[SendStatus.COMMITTED]
        line = f"dicomize: send: {stored + counts[SendStatus.NOT_COMMITTED]} stored"
        if options.commit:
            line += f", {counts[SendStatus.COMMITTED]} committed"
        print(f"{line}, {counts[SendStatus.FAILED]} not stored", file=sys.stderr)
    bad = counts[SendStatus.FAILED] + counts[SendStatus.NOT_COMMITTED]
    return EXIT_OK if bad == 0 else EXIT_FAILED
