"""``dicomize validate``: a verdict per file, then one for the set, for people or machines.

After the files, the set: whether they agree on their patient, study and series
attributes (:func:`dicomize.consistency.check_consistency`), which no check of
one file can see.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from dicomize.cli._arguments import add_verbosity
from dicomize.cli._common import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from dicomize.consistency import ConsistencyReport
    from dicomize.validate import Verdict

__all__ = ["add_parser", "run"]


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``validate`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Report, per file, whether it conforms: the IOD and its attributes "
        "(dciodvfy), Pixel Data against its description, encapsulation, decoding, ICC "
        "profile and lossy bookkeeping; then whether the files agree on their patient, "
        "study and series attributes (one modality per series, one study per series, no "
        "SOP Instance UID twice). Exit code 0 only when there is no error.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files or folders")
    parser.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per file, then one for the set ("check": "consistency")',
    )
    add_verbosity(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Validate every input, then the set; exit 0 only when there is no error."""
    from dicomize.consistency import check_consistency  # pydicom
    from dicomize.validate import dciodvfy_path, validate_paths  # pydicom

    if dciodvfy_path() is None and not args.quiet:
        print(
            "dicomize: dciodvfy is not installed (pip install 'dicomize[validate]'): "
            "only dicomize's own checks run",
            file=sys.stderr,
        )
    failed = 0
    paths = []
    for verdict in validate_paths(args.inputs):
        paths.append(verdict.path)
        failed += not verdict.ok
        if args.json:
            print(verdict.to_json())
        elif not args.quiet or not verdict.ok:
            _print(verdict)
    report = check_consistency(paths)
    if args.json:
        print(report.to_json())
    elif not report.ok or (not args.quiet and (report.findings or report.files > 1)):
        _print_set(report)
    return EXIT_OK if failed == 0 and report.ok else EXIT_FAILED


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


def _print_set(report: ConsistencyReport) -> None:
    studies = "study" if report.studies == 1 else "studies"
    shape = f"{report.files} files, {report.studies} {studies}, {report.series} series"
    if not report.findings:
        print(f"consistency ({shape}): OK")
        return
    state = "OK" if report.ok else "INCONSISTENT"
    print(
        f"consistency ({shape}): {state}, {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s)"
    )
    for finding in report.findings:
        print(f"  {finding.severity} [{finding.rule}] {finding.message}")
