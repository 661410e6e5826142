"""``dicomize send``: deliver files, one line per failure, a summary."""

from __future__ import annotations

import argparse
from typing import Any

from dicomize.cli._arguments import add_send_arguments, add_verbosity, add_verify
from dicomize.cli._common import EXIT_FAILED, EXIT_OK, deliver, fail

__all__ = ["add_parser", "run"]


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``send`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Send DICOM files (or every file under folders) to a DICOM peer over one "
        "association, or to a DICOMweb server with STOW-RS. Each file is reported as stored "
        "or not stored.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files or folders")
    add_verify(parser)
    add_verbosity(parser)
    add_send_arguments(parser, command=True)
    return parser


def run(args: argparse.Namespace) -> int:
    """Send every input file, or report why not; return the exit code."""
    paths: list[str] = list(args.inputs)
    refused = 0
    if args.verify:
        from dicomize.validate import validate_paths  # pydicom, dciodvfy

        paths = []
        for verdict in validate_paths(args.inputs):
            if verdict.ok:
                paths.append(verdict.path)
            else:
                refused += 1
                fail(f"{verdict.path}: not sent: {verdict.first_error()}")
    code = deliver(args, paths, args.to, report_path=args.report) if paths else EXIT_OK
    return max(code, EXIT_FAILED if refused else EXIT_OK)
