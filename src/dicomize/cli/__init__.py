"""The ``dicomize`` command line. It parses arguments and calls the library.

Exit codes: 0 every input converted; 1 one or more inputs failed (each is
reported on one line); 2 invalid command line or metadata (nothing written);
3 an internal error (a bug: rerun with ``--debug`` and report it);
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from dicomize._version import __version__

__all__ = ["EXIT_FAILED", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

#: Named flags: (flag, DICOM keyword, help). They win over --set and --metadata.
METADATA_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--patient-name", "PatientName", "Family^Given^Middle^Prefix^Suffix"),
    ("--patient-id", "PatientID", "patient identifier"),
    ("--issuer-of-patient-id", "IssuerOfPatientID", "who assigned the patient ID"),
    ("--birth-date", "PatientBirthDate", "YYYYMMDD or YYYY-MM-DD"),
    ("--sex", "PatientSex", "M, F or O (omit when unknown)"),
    ("--age", "PatientAge", "nnnY, nnnM, nnnW or nnnD"),
    ("--accession", "AccessionNumber", "accession number (at most 16 bytes)"),
    ("--study-id", "StudyID", "study identifier (default 1)"),
    ("--study-description", "StudyDescription", "study description"),
    ("--study-date", "StudyDate", "default: now"),
    ("--study-time", "StudyTime", "default: now"),
    ("--study-uid", "StudyInstanceUID", "join this study (default: a new UID)"),
    ("--referring-physician", "ReferringPhysicianName", "Family^Given"),
    ("--series-description", "SeriesDescription", "series description"),
    ("--series-number", "SeriesNumber", "default 1"),
    ("--series-uid", "SeriesInstanceUID", "join this series (default: a new UID)"),
    ("--instance-number", "InstanceNumber", "first instance number (default 1)"),
    ("--modality", "Modality", "default OT; DOC for documents, XC for photos, ..."),
    ("--body-part", "BodyPartExamined", "e.g. CHEST, HAND"),
    ("--laterality", "ImageLaterality", "R, L, B (both) or U (unpaired, the default)"),
    (
        "--conversion-type",
        "ConversionType",
        "DI digital interface (default), WSD workstation, SD scanned document, SI scanned image, "
        "DF digitized film, DV digitized video, DRW drawing, SYN synthetic",
    ),
    (
        "--burned-in-annotation",
        "BurnedInAnnotation",
        "YES (default: the pixels may show names or dates) or NO",
    ),
    ("--recognizable-visual-features", "RecognizableVisualFeatures", "YES or NO"),
    ("--image-comments", "ImageComments", "free text"),
    ("--species", "PatientSpeciesDescription", "veterinary patient, e.g. 'Canis lupus familiaris'"),
    ("--breed", "PatientBreedDescription", "veterinary breed"),
    ("--responsible-person", "ResponsiblePerson", "owner of an animal, Family^Given"),
    ("--responsible-person-role", "ResponsiblePersonRole", "OWNER, VETERINARIAN, ..."),
    ("--responsible-organization", "ResponsibleOrganization", "organisation responsible"),
)


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
    convert = commands.add_parser(
        "convert",
        help="convert pictures to DICOM Secondary Capture images",
        description="Convert JPEG, PNG, BMP, GIF, TIFF, WebP and PNM pictures to DICOM "
        "Secondary Capture images. Several inputs form one series of one study.",
    )
    convert.add_argument("inputs", nargs="+", metavar="INPUT", help="picture files")
    convert.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file, folder (several inputs, or a name ending in /), or - for stdout; "
        "default: INPUT's name with .dcm beside it",
    )
    convert.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_shared(convert, single=True)
    batch = commands.add_parser(
        "batch",
        help="convert a folder tree or a manifest in parallel, resumably",
        description="Convert every picture under INPUT (or listed in --manifest) into OUT, "
        "mirroring the folders, in parallel. Pictures in one folder form one series. A rerun "
        "skips what is done; UIDs stay the same.",
    )
    batch.add_argument("input", nargs="?", metavar="INPUT", help="folder (or picture) to convert")
    batch.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    batch.add_argument(
        "--manifest",
        metavar="FILE",
        help="CSV or JSON Lines: a path column and DICOM keyword columns",
    )
    batch.add_argument(
        "--workers", type=_positive_int, metavar="N", help="processes (default: all cores)"
    )
    batch.add_argument(
        "--report",
        metavar="FILE.jsonl",
        help="write one JSON line per input: input, output, UID, status, error",
    )
    batch.add_argument(
        "--group-by",
        choices=("folder", "tree", "file"),
        default="folder",
        help="folder: a study and series per folder (default); tree: one study, "
        "a series per folder; file: a study and series per picture",
    )
    batch.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this Dask cluster (tcp://host:8786); needs dicomize[dask]",
    )
    _add_shared(batch, single=False)
    send = commands.add_parser(
        "send",
        help="send DICOM files to a PACS (C-STORE or STOW-RS)",
        description="Send DICOM files (or every file under folders) to a DICOM peer over one "
        "association, or to a DICOMweb server with STOW-RS. Each file is reported as stored "
        "or not stored.",
    )
    send.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files or folders")
    send.add_argument(
        "--verify", action="store_true", help="validate each file; send only valid ones"
    )
    validate = commands.add_parser(
        "validate",
        help="check DICOM files (any, not only dicomize's) with dciodvfy and dicomize's checks",
        description="Report, per file, whether it conforms: the IOD and its attributes "
        "(dciodvfy), Pixel Data against its description, encapsulation, decoding, ICC "
        "profile and lossy bookkeeping. Exit code 0 only when no file has an error.",
    )
    validate.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files or folders")
    validate.add_argument("--json", action="store_true", help="one JSON object per file")
    _add_verbosity(validate)
    _add_verbosity(send)
    from dicomize.cli._send_args import add_send_arguments  # noqa: PLC0415  (argparse only)

    add_send_arguments(send, command=True)
    add_send_arguments(convert, command=False)
    add_send_arguments(batch, command=False)
    return parser


def _add_shared(sub: argparse.ArgumentParser, *, single: bool) -> None:
    """Add the metadata, pixel, placement and transfer-syntax flags of convert and batch."""
    meta = sub.add_argument_group("metadata (flags win over --set, which wins over --metadata)")
    for flag, keyword, text in METADATA_FLAGS:
        meta.add_argument(flag, dest=f"kw_{keyword}", metavar="VALUE", help=f"{keyword}: {text}")
    meta.add_argument(
        "--set",
        dest="set_values",
        action="append",
        default=[],
        metavar="KEYWORD=VALUE",
        help="any DICOM attribute by keyword; repeatable; backslash separates values",
    )
    meta.add_argument(
        "--metadata",
        metavar="FILE.json",
        help='JSON object of DICOM keywords: {"PatientName": "Doe^Jane"}',
    )
    pixels = sub.add_argument_group("pixels and identifiers")
    pixels.add_argument(
        "--background",
        default="white",
        metavar="COLOUR",
        help="colour for transparent pixels: a name or #RRGGBB (default white)",
    )
    pixels.add_argument(
        "--max-pixels",
        type=_positive_int,
        metavar="N",
        help="refuse larger pictures (default 150000000)",
    )
    pixels.add_argument(
        "--uid-root",
        metavar="ROOT",
        help="your organisation's UID root (default: 2.25 UUID-derived UIDs)",
    )
    sub.add_argument(
        "--verify",
        action="store_true",
        help="validate each output (dciodvfy and dicomize's checks) before it counts as done",
    )
    place = sub.add_argument_group("where the new objects go")
    joined = place.add_mutually_exclusive_group()
    joined.add_argument(
        "--study-from",
        metavar="REF.dcm",
        help="join the patient and study of this DICOM file (its pixels are not read)",
    )
    joined.add_argument(
        "--series-from",
        metavar="REF.dcm",
        help="join the series of this DICOM file, numbering after it",
    )
    place.add_argument(
        "--source-image",
        action="store_true",
        help="reference the --study-from/--series-from file as the source image",
    )
    place.add_argument(
        "--iod",
        choices=("sc", "vl-photo"),
        default="sc",
        help="sc: Secondary Capture (default; multi-frame SC chosen by the pixels); "
        "vl-photo: VL Photographic Image for clinical photographs, with EXIF mapped",
    )
    place.add_argument(
        "--keep-gps",
        action="store_true",
        help="with --iod vl-photo, keep the photo's EXIF GPS position (off: it can locate a home)",
    )
    if single:
        place.add_argument(
            "--multiframe",
            action="store_true",
            help="join the inputs as the pages of one multi-frame object (-o FILE)",
        )
        place.add_argument(
            "--one-series-per-input",
            dest="series_per_input",
            action="store_true",
            help="a series for each input instead of one series for all",
        )
    place.add_argument(
        "--uid-seed",
        metavar="TEXT",
        help="derive UIDs from this text and the pixels, so a rerun gives the same "
        "UIDs and a PACS de-duplicates instead of doubling",
    )
    coding = sub.add_argument_group("transfer syntax")
    coding.add_argument(
        "-t",
        "--transfer-syntax",
        default="explicit",
        metavar="NAME",
        help="for decoded pictures: explicit (default), deflated, rle, jpeg-lossless, "
        "jpeg-baseline, jpeg-ls-lossless, jpeg-ls-near-lossless, jpeg2000-lossless, jpeg2000, "
        "htj2k-lossless, or a transfer syntax UID",
    )
    coding.add_argument(
        "--no-passthrough",
        dest="passthrough",
        action="store_false",
        help="decode JPEGs too instead of storing their codestream unchanged",
    )
    coding.add_argument(
        "--keep-jpeg-metadata",
        action="store_true",
        help="keep EXIF/XMP/IPTC/comment segments of passed-through JPEGs "
        "(they can hold GPS positions and names)",
    )
    coding.add_argument(
        "--jpeg-quality",
        type=int,
        default=90,
        metavar="Q",
        help="quality 1-100 of jpeg-baseline output (default 90)",
    )
    coding.add_argument(
        "--near-lossless-error",
        type=int,
        default=2,
        metavar="N",
        help="largest error per sample of jpeg-ls-near-lossless output (default 2)",
    )
    coding.add_argument(
        "--j2k-ratio",
        type=float,
        default=10.0,
        metavar="R",
        help="compression ratio of lossy jpeg2000 output (default 10)",
    )
    _add_verbosity(sub)


def _add_verbosity(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-v", "--verbose", action="count", default=0, help="more messages")
    sub.add_argument("-q", "--quiet", action="store_true", help="errors only")
    sub.add_argument(
        "--debug",
        action="store_true",
        help="debug messages (may include patient data) and tracebacks",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _configure_logging(args: argparse.Namespace) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    try:
        if args.command == "validate":
            from dicomize.cli._validate import run_validate_command  # noqa: PLC0415

            return run_validate_command(args)
        if args.command == "send":
            from dicomize.cli._send import run_send_command  # noqa: PLC0415

            return run_send_command(args)
        if args.command == "batch":
            from dicomize.cli._batch import run_batch_command  # noqa: PLC0415

            return run_batch_command(args)
        from dicomize.cli._convert import run_convert  # noqa: PLC0415

        return run_convert(args)
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
