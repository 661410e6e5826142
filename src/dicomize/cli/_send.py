"""``dicomize send`` and ``--send``: deliver files, one line per failure, a summary."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from dicomize.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from dicomize.cli._convert import UsageError, _fail
from dicomize.report import BatchResult
from dicomize.send import SendOptions, parse_destination, send_files

__all__ = ["run_send_command", "send_after", "send_options"]


def send_options(args: argparse.Namespace) -> SendOptions:
    """Build SendOptions from the flags, reading secrets from the environment or files."""
    token = _secret(args.token_env, args.token_file)
    basic = _secret(args.basic_env, args.basic_file)
    pair: tuple[str, str] | None = None
    if basic is not None:
        user, sep, password = basic.partition(":")
        if not sep:
            raise UsageError("basic credentials must be 'user:password'")
        pair = (user, password)
    return SendOptions(
        calling_aet=args.calling_aet,
        tls=args.tls,
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
        connect_timeout=args.connect_timeout,
        acse_timeout=args.acse_timeout,
        dimse_timeout=args.dimse_timeout,
        retries=args.retries,
        batch_size=args.batch_size,
        token=token,
        basic=pair,
        delete_after_store=args.delete_after_store,
    )


def _secret(variable: str | None, file: str | None) -> str | None:
    if variable:
        value = os.environ.get(variable)
        if not value:
            raise UsageError(f"environment variable {variable} is not set")
        return value.strip()
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from None
    return None


def run_send_command(args: argparse.Namespace) -> int:
    """``dicomize send``: every input file stored or reported."""
    paths: list[str] = list(args.inputs)
    refused = 0
    if args.verify:
        from dicomize.cli._validate import first_error  # noqa: PLC0415
        from dicomize.validate import validate_paths  # noqa: PLC0415

        paths = []
        for verdict in validate_paths(args.inputs):
            if verdict.ok:
                paths.append(verdict.path)
            else:
                refused += 1
                _fail(f"{verdict.path}: not sent: {first_error(verdict)}")
    code = send_after(args, paths, args.to, report_path=args.report) if paths else EXIT_OK
    return max(code, EXIT_FAILED if refused else EXIT_OK)


def send_after(
    args: argparse.Namespace, paths: Iterable[str], url: str, *, report_path: str | None = None
) -> int:
    """Send `paths` to `url` with the flags in `args`; return the exit code."""
    try:
        destination = parse_destination(url)
        options = send_options(args)
    except (ValueError, UsageError) as exc:
        _fail(f"invalid arguments: {exc}")
        return EXIT_USAGE
    stored = failed = 0
    report: IO[str] | None = None
    try:
        if report_path:
            report = Path(report_path).open("w", encoding="utf-8")  # noqa: SIM115  (closed below)
        for result in send_files(list(paths), destination, options):
            stored += result.status == "stored"
            failed += result.status != "stored"
            _report(result, report, quiet=args.quiet)
    finally:
        if report is not None:
            report.close()
    if not args.quiet:
        print(f"dicomize: send: {stored} stored, {failed} not stored", file=sys.stderr)
    return EXIT_OK if failed == 0 else EXIT_FAILED


def _report(result: BatchResult, report: IO[str] | None, *, quiet: bool) -> None:
    if report is not None:
        report.write(result.to_json() + "\n")
        report.flush()
    if result.status != "stored" and not quiet:
        _fail(f"{result.input}: not stored: {result.error}")
