"""``dicomize extract``: the document, codestream or picture a DICOM file holds, as a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomize.cli._arguments import add_verbosity, positive_int
from dicomize.cli._common import EXIT_FAILED, EXIT_OK, explain, fail
from dicomize.errors import InputError, OutputError, OutputExists

if TYPE_CHECKING:
    from dicomize._extract import Extracted

__all__ = ["add_parser", "run"]


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``extract`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Write the encapsulated document (PDF, STL, OBJ, MTL, CDA) of a DICOM file "
        "with its original bytes, a passed-through JPEG or JPEG 2000 codestream as it is "
        "stored, or any other image as a PNG (through its Modality and VOI transforms; "
        "--raw: the stored values). A multi-frame image gives one file per frame, "
        "OUT-0001.png and on, unless --frame picks one. A tiled image (a whole-slide "
        "level) gives its whole picture as a tiled TIFF, or --region's as PNG or TIFF (by "
        "OUT's suffix). Any producer's files, not only dicomize's.",
    )
    parser.add_argument("input", metavar="FILE.dcm", help="a DICOM file")
    parser.add_argument(
        "-o", "--output", metavar="OUT", help="output file (default: FILE with its type's suffix)"
    )
    parser.add_argument(
        "--raw", action="store_true", help="images: the stored values, no Modality or VOI"
    )
    parser.add_argument(
        "--frame", type=positive_int, metavar="N", help="images: only frame N (from 1)"
    )
    parser.add_argument(
        "--region",
        type=_region,
        metavar="X,Y,W,H",
        help="tiled images (slides): only this region of the level, in pixels from its top "
        "left; PNG or TIFF by OUT's suffix (default PNG)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_verbosity(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Extract one file; report a failure on one line."""
    from dicomize._extract import extract, extract_all  # pydicom
    from dicomize._write import write_atomically

    try:
        if args.frame is None and (args.region is not None or _tiled(args.input)):
            found = [_tiled_picture(args)]
        elif args.frame is not None:
            found = [extract(args.input, raw=args.raw, frame=args.frame)]
        else:
            found = extract_all(args.input, raw=args.raw)
        outputs = _outputs(args, found)
        for output, item in zip(outputs, found, strict=True):
            write_atomically(output, item.write_to, args.overwrite)
    except (InputError, OutputError) as exc:
        fail(explain(exc))
        return EXIT_FAILED
    if not args.quiet:
        where = str(outputs[0]) if len(outputs) == 1 else f"{outputs[0]} ... {outputs[-1]}"
        print(f"{args.input} -> {where} ({found[0].kind})", file=sys.stderr)
    return EXIT_OK


def _tiled(path: str) -> bool:
    from dicomize._extract_tiled import is_tiled

    return is_tiled(path)


def _tiled_picture(args: argparse.Namespace) -> Extracted:
    from dicomize._extract_tiled import extract_tiled

    default = ".png" if args.region is not None else ".tif"
    suffix = Path(args.output).suffix.lower() if args.output else default
    return extract_tiled(args.input, region=args.region, suffix=suffix or default)


def _region(text: str) -> tuple[int, int, int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        x, y, width, height = (int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"X,Y,W,H in pixels, got {text!r}") from None
    return x, y, width, height


def _outputs(args: argparse.Namespace, found: list[Extracted]) -> list[Path]:
    """Name the files: OUT for one, OUT-0001 and on for several; none may exist unasked."""
    base = Path(args.output) if args.output else Path(args.input).with_suffix(found[0].suffix)
    if len(found) == 1:
        paths = [base]
    else:
        suffix = base.suffix or found[0].suffix
        paths = [base.with_name(f"{base.stem}-{n:04d}{suffix}") for n in range(1, len(found) + 1)]
    existing = [path for path in paths if path.exists()]
    if existing and not args.overwrite:
        raise OutputExists("exists", existing[0], option="overwrite")
    return paths
