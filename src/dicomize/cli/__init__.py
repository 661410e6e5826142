"""The ``dicomize`` command line. It parses arguments and calls the library.

Each command is a module of this package with ``add_parser(commands)`` and
``run(args)``; :data:`COMMANDS` lists them in the order ``--help`` shows.
Exit codes are in :mod:`dicomize.cli._common`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import cast

from dicomize._version import __version__
from dicomize.cli import (
    _batch,
    _convert,
    _extract,
    _send,
    _serve,
    _validate,
    _watch,
    _worklist,
)
from dicomize.cli._common import EXIT_INTERNAL, EXIT_INTERRUPTED, configure_logging

__all__ = ["COMMANDS", "build_parser", "main"]

#: The command modules, in the order ``--help`` lists them.
COMMANDS = (_convert, _batch, _send, _validate, _extract, _worklist, _watch, _serve)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dicomize`` command."""
    parser = argparse.ArgumentParser(
        prog="dicomize",
        description="Turn ordinary pictures into valid DICOM objects.",
        epilog="Exit codes: 0 all converted, 1 some inputs failed, 2 invalid command line or "
        "metadata, 3 internal error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"dicomize {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands).set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args)
    run = cast(Callable[[argparse.Namespace], int], args.run)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("dicomize: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"dicomize: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
