"""The ``dicomize`` command line. It parses arguments and calls the library.

Each command is a module of this package, ``_<name>``, with
``add_parser(commands, name, line)`` and ``run(args)``; :data:`COMMANDS` lists them
in the order ``--help`` shows, with their help lines. A run imports only the
module of its command.
Exit codes are in :mod:`dicomize.cli._common`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from dicomize._version import __version__

__all__ = ["COMMANDS", "build_parser", "main"]

#: Each command and its line in ``dicomize --help``, in that order.
COMMANDS = {
    "convert": "convert pictures, PDFs and 3D models to DICOM objects",
    "batch": "convert a folder tree or a manifest in parallel, resumably",
    "send": "send DICOM files to a PACS (C-STORE or STOW-RS)",
    "validate": "check DICOM files (any, not only dicomize's) with dciodvfy and dicomize's checks",
    "extract": "write out the document, codestream or picture a DICOM file holds",
    "worklist": "list the scheduled procedure steps of a Modality Worklist",
    "watch": "convert, send and file what is dropped into a folder (a hot folder)",
    "serve": "a web page to find the order, drop files, check and send them",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the argument parser of the ``dicomize`` command.

    Parameters
    ----------
    only : str or None
        Give only this command its arguments; the others are listed by name and help
        line, which is all ``dicomize --help`` shows. Building the hundreds of flags
        of every command took a quarter of the start-up time of ``--help``.
    """
    parser = argparse.ArgumentParser(
        prog="dicomize",
        description="Turn ordinary pictures into valid DICOM objects.",
        epilog="Exit codes: 0 all converted, 1 some inputs failed, 2 invalid command line or "
        "metadata, 3 internal error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"dicomize {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, line in COMMANDS.items():
        if only is None or name == only:
            module = importlib.import_module(f"dicomize.cli._{name}")
            module.add_parser(commands, name, line).set_defaults(run=module.run)
        else:
            commands.add_parser(name, help=line)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """Return the command `argv` names (its first word that is not an option), if known."""
    named = next((word for word in argv if not word.startswith("-")), None)
    return named if named in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only=_command_in(words) or "").parse_args(words)
    # After parsing: --help and --version have exited without loading the shared flags.
    from dicomize.cli._common import EXIT_INTERNAL, EXIT_INTERRUPTED, configure_logging

    configure_logging(args)
    run: Callable[[argparse.Namespace], int] = args.run
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
