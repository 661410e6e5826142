"""``dicomize extract``: the document, codestream or picture a DICOM file holds, as a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dicomize.cli._arguments import add_verbosity
from dicomize.cli._common import EXIT_FAILED, EXIT_OK, fail
from dicomize.errors import InputError, OutputError

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``extract`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "extract",
        help="write out the document, codestream or picture a DICOM file holds",
        description="Write the encapsulated document (PDF, STL, OBJ, MTL, CDA) of a DICOM file "
        "with its original bytes, a passed-through JPEG or JPEG 2000 codestream as it is "
        "stored, or any other image as a PNG of its first frame (through its Modality and "
        "VOI transforms; --raw: the stored values). Any producer's files, not only "
        "dicomize's.",
    )
    parser.add_argument("input", metavar="FILE.dcm", help="a DICOM file")
    parser.add_argument(
        "-o", "--output", metavar="OUT", help="output file (default: FILE with its type's suffix)"
    )
    parser.add_argument(
        "--raw", action="store_true", help="images: the stored values, no Modality or VOI"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_verbosity(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Extract one file; report a failure on one line."""
    from dicomize._extract import extract  # noqa: PLC0415  (pydicom)
    from dicomize._write import write_atomically  # noqa: PLC0415

    try:
        found = extract(args.input, raw=args.raw)
        output = Path(args.output) if args.output else Path(args.input).with_suffix(found.suffix)
        write_atomically(output, lambda stream: stream.write(found.data), args.overwrite)
    except (InputError, OutputError) as exc:
        fail(str(exc))
        return EXIT_FAILED
    if not args.quiet:
        print(f"{args.input} -> {output} ({found.kind})", file=sys.stderr)
    return EXIT_OK
