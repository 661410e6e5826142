"""``dicomize validate``: a verdict per file, for people or (``--json``) for machines."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from dicomize.cli._arguments import add_verbosity
from dicomize.cli._common import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from dicomize.validate import Verdict

__all__ = ["add_parser", "run"]


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``validate`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Report, per file, whether it conforms: the IOD and its attributes "
        "(dciodvfy), Pixel Data against its description, encapsulation, decoding, ICC "
        "profile and lossy bookkeeping. Exit code 0 only when no file has an error.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files or folders")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    add_verbosity(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Validate every input; exit 0 only when no file has an error."""
    from dicomize.validate import dciodvfy_path, validate_paths  # noqa: PLC0415  (pydicom)

    if dciodvfy_path() is None and not args.quiet:
        print(
            "dicomize: dciodvfy is not installed (pip install 'dicomize[validate]'): "
            "only dicomize's own checks run",
            file=sys.stderr,
        )
    failed = 0
    for verdict in validate_paths(args.inputs):
        failed += not verdict.ok
        if args.json:
            print(verdict.to_json())
        elif not args.quiet or not verdict.ok:
            _print(verdict)
    return EXIT_OK if failed == 0 else EXIT_FAILED


def _print(verdict: Verdict) -> None:
    iod = f" ({verdict.iod})" if verdict.iod else ""
    if not verdict.findings:
        print(f"{verdict.path}: OK{iod}")
        return
    state = "OK" if verdict.ok else "INVALID"
    print(
        f"{verdict.path}: {state}{iod}, {len(verdict.errors)} error(s), "
        f"{len(verdict.warnings)} warning(s)"
    )
    for finding in verdict.findings:
        where = f" {finding.attribute}:" if finding.attribute else ""
        print(f"  {finding.severity} [{finding.source}]{where} {finding.message}")
