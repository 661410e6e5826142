"""``dicomize validate``: a verdict per file, for people or (``--json``) for machines."""

from __future__ import annotations

import argparse
import sys

from dicomize.cli import EXIT_FAILED, EXIT_OK
from dicomize.validate import Verdict, dciodvfy_path, validate_paths

__all__ = ["first_error", "run_validate_command"]


def run_validate_command(args: argparse.Namespace) -> int:
    """Validate every input; exit 0 only when no file has an error."""
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


def first_error(verdict: Verdict) -> str:
    """One line saying why a file failed verification."""
    error = verdict.errors[0]
    more = f" (+{len(verdict.errors) - 1} more)" if len(verdict.errors) > 1 else ""
    return f"failed verification: {error.message}{more}"
