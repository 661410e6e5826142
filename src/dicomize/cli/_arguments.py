"""The flags several commands share, and their translation into options and metadata.

Defaults are not written here: a flag left out is ``None`` and the options
object (:class:`~dicomize.options.ConvertOptions`, :class:`~dicomize.options.SendOptions`)
fills it; ``--help`` shows the default read from that object. Only argparse,
the options and the metadata table load here, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from dicomize.errors import ConfigError, InputError, QueryError
from dicomize.iods import chosen
from dicomize.names import METADATA_FLAGS
from dicomize.options import MODEL_UNITS, ConvertOptions, SendOptions
from dicomize.syntaxes import CODECS

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "add_convert_arguments",
    "add_send_arguments",
    "add_verbosity",
    "add_verify",
    "add_worklist_keys",
    "convert_options",
    "default_of",
    "format_item",
    "metadata",
    "positive_int",
    "send_options",
]


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1 (argparse ``type``)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    """Add -v, -q and --debug."""
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="debug messages (may include patient data) and tracebacks",
    )


def add_verify(parser: argparse.ArgumentParser) -> None:
    """Add --verify, the same for every command that has it."""
    parser.add_argument(
        "--verify",
        action="store_true",
        help="validate each file (dciodvfy and dicomize's checks); a file with errors "
        "counts as failed and is not sent",
    )


def default_of(options: type[ConvertOptions | SendOptions], name: str) -> object:
    """Return the default of one field of an options class: each default is written there once.

    >>> default_of(ConvertOptions, "jpeg_quality")
    90
    """
    return next(field.default for field in fields(options) if field.name == name)


def _default(options: type[ConvertOptions | SendOptions], name: str) -> str:
    value = default_of(options, name)
    if isinstance(value, tuple):  # the background colour
        return "#" + "".join(f"{channel:02X}" for channel in value)
    return str(value)


def add_convert_arguments(parser: argparse.ArgumentParser, *, single: bool) -> None:
    """Add the metadata, pixel, placement and transfer-syntax flags of convert and batch.

    `single` adds what only a single ``convert`` call can do (join pages, a series per input).
    """
    _add_metadata(parser)
    _add_pixels(parser)
    add_verify(parser)
    _add_placement(parser, single=single)
    _add_worklist(parser)
    _add_documents(parser)
    _add_video(parser)
    _add_coding(parser)
    add_verbosity(parser)


def _add_worklist(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "the patient and order from a Modality Worklist (--accession, --patient-id and "
        "--modality match too)"
    )
    group.add_argument(
        "--worklist",
        metavar="URL",
        help="dicom://AET@host:port of the worklist: exactly one scheduled step must match",
    )
    add_worklist_keys(group)
    group.add_argument(
        "--choose",
        action="store_true",
        help="when several worklist items match, pick one on the terminal (names shown)",
    )
    group.add_argument(
        "--find-study",
        metavar="URL",
        help="join the one study on this PACS (dicom://AET@host:port, or a DICOMweb root) "
        "matching --accession, or --patient-id and --study-date",
    )


def add_worklist_keys(group: Any) -> None:  # noqa: ANN401  (an argparse group or parser)
    """Add the worklist matching keys that are not metadata flags too."""
    group.add_argument(
        "--scheduled",
        metavar="WHEN",
        help="Scheduled Procedure Step Start Date: today, YYYYMMDD or YYYYMMDD-YYYYMMDD",
    )
    group.add_argument(
        "--scheduled-station", metavar="AET", help="Scheduled Station AE Title to match"
    )


def _add_video(parser: argparse.ArgumentParser) -> None:
    video = parser.add_argument_group("video clips (MP4, MOV, MKV, WebM, AVI, MPEG)")
    video.add_argument(
        "--no-transcode",
        dest="transcode",
        action="store_false",
        default=None,
        help="refuse a clip whose stream fits no DICOM video syntax instead of re-encoding it",
    )
    video.add_argument(
        "--crf",
        type=int,
        metavar="N",
        help="quality of a re-encoded clip, 0 (lossless) to 51 "
        f"(default {_default(ConvertOptions, 'crf')}, visually lossless)",
    )
    video.add_argument(
        "--anatomic-region",
        metavar="CODE^SCHEME^MEANING",
        help="what a clip or a VL picture shows, e.g. 71854001^SCT^Colon; a clip needs it or "
        "--body-part (its code from PS3.16 Annex L); an eye photograph's default: the eye",
    )


def _add_documents(parser: argparse.ArgumentParser) -> None:
    documents = parser.add_argument_group("documents and 3D models")
    documents.add_argument(
        "--pdf-as-images",
        action="store_true",
        default=None,
        help="store a PDF's pages as one multi-frame SC image (for viewers without PDF) "
        "instead of Encapsulated PDF",
    )
    documents.add_argument(
        "--dpi",
        type=int,
        metavar="N",
        help=f"resolution of --pdf-as-images pages (default {_default(ConvertOptions, 'dpi')})",
    )
    documents.add_argument(
        "--units",
        dest="model_units",
        choices=MODEL_UNITS,
        help="unit of an STL/OBJ/MTL model's coordinates "
        f"(default {_default(ConvertOptions, 'model_units')})",
    )
    documents.add_argument(
        "--frame-of-reference-from",
        metavar="REF.dcm",
        help="the images an STL/OBJ model was segmented from: it takes their Frame of "
        "Reference (default: that of --study-from/--series-from, else a new one)",
    )


def _add_metadata(parser: argparse.ArgumentParser) -> None:
    meta = parser.add_argument_group("metadata (flags win over --set, which wins over --metadata)")
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
    meta.add_argument(
        "--concept-name",
        metavar="CODE^SCHEME^MEANING",
        help="a document's Concept Name, e.g. 18748-4^LN^Diagnostic Imaging Report "
        "(default: empty)",
    )
    meta.add_argument(
        "--allow-extra",
        action="store_true",
        default=None,
        help="keep attributes the IOD does not define (refused otherwise: they make the "
        "object a Standard Extended SOP Class)",
    )


def _add_pixels(parser: argparse.ArgumentParser) -> None:
    pixels = parser.add_argument_group("pixels and identifiers")
    pixels.add_argument(
        "--background",
        metavar="COLOUR",
        help="colour for transparent pixels: a name or #RRGGBB "
        f"(default {_default(ConvertOptions, 'background')})",
    )
    pixels.add_argument(
        "--max-pixels",
        type=positive_int,
        metavar="N",
        help=f"refuse larger pictures (default {_default(ConvertOptions, 'max_pixels')})",
    )
    pixels.add_argument(
        "--max-slide-pixels",
        type=positive_int,
        metavar="N",
        help="refuse whole-slide images whose largest level has more pixels (default "
        f"{_default(ConvertOptions, 'max_slide_pixels')}; a slide is never decoded whole)",
    )
    pixels.add_argument(
        "--mpp",
        type=float,
        metavar="UM",
        help="whole-slide images: micrometres per pixel of the largest level, for a slide "
        "whose file does not record it",
    )
    pixels.add_argument(
        "--uid-root",
        metavar="ROOT",
        help="your organisation's UID root (default: 2.25 UUID-derived UIDs)",
    )


def _add_placement(parser: argparse.ArgumentParser, *, single: bool) -> None:
    place = parser.add_argument_group("where the new objects go")
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
        choices=[iod.name for iod in chosen()],
        help="; ".join(f"{iod.name}: {iod.summary}" for iod in chosen())
        + f" (default {_default(ConvertOptions, 'iod')}: clips, documents and models go to "
        "their own default IOD)",
    )
    place.add_argument(
        "--keep-gps",
        action="store_true",
        default=None,
        help="keep the photo's EXIF GPS position, with an IOD that holds one (vl-photo; "
        "off: it can locate a home)",
    )
    if single:
        joined_as = place.add_mutually_exclusive_group()
        joined_as.add_argument(
            "--multiframe",
            action="store_true",
            help="join the inputs as the pages of one multi-frame object (-o FILE); lossless",
        )
        joined_as.add_argument(
            "--video",
            action="store_true",
            help="join the inputs (pictures, or frames of .npy arrays) into one H.264 video "
            "object (-o FILE); lossy and small",
        )
        place.add_argument(
            "--fps",
            type=float,
            metavar="N",
            help="frames per second of --video (default 25)",
        )
        place.add_argument(
            "--one-series-per-input",
            dest="series_per_input",
            action="store_true",
            default=None,
            help="a series for each input instead of one series for all",
        )
    place.add_argument(
        "--uid-seed",
        metavar="TEXT",
        help="derive UIDs from this text and the pixels, so a rerun gives the same "
        "UIDs and a PACS de-duplicates instead of doubling",
    )


def _add_coding(parser: argparse.ArgumentParser) -> None:
    coding = parser.add_argument_group("transfer syntax")
    coding.add_argument(
        "-t",
        "--transfer-syntax",
        metavar="NAME",
        help="for decoded pictures: "
        + ", ".join(codec.name for codec in CODECS)
        + f", or a transfer syntax UID (default {_default(ConvertOptions, 'transfer_syntax')})",
    )
    coding.add_argument(
        "--no-passthrough",
        dest="passthrough",
        action="store_false",
        default=None,
        help="decode JPEGs too instead of storing their codestream unchanged",
    )
    coding.add_argument(
        "--keep-jpeg-metadata",
        action="store_true",
        default=None,
        help="keep EXIF/XMP/IPTC/comment segments of passed-through JPEGs "
        "(they can hold GPS positions and names)",
    )
    coding.add_argument(
        "--jpeg-quality",
        type=int,
        metavar="Q",
        help="quality 1-100 of jpeg-baseline output "
        f"(default {_default(ConvertOptions, 'jpeg_quality')})",
    )
    coding.add_argument(
        "--near-lossless-error",
        dest="jpegls_error",
        type=int,
        metavar="N",
        help="largest error per sample of jpeg-ls-near-lossless output "
        f"(default {_default(ConvertOptions, 'jpegls_error')})",
    )
    coding.add_argument(
        "--j2k-ratio",
        type=float,
        metavar="R",
        help="compression ratio of lossy jpeg2000 output "
        f"(default {_default(ConvertOptions, 'j2k_ratio')})",
    )


def add_send_arguments(parser: argparse.ArgumentParser, *, command: bool) -> None:
    """Add the delivery flags; `command` (``send``) adds --to and --report, else --send."""
    group = parser.add_argument_group("delivery (secrets only from the environment or a file)")
    if command:
        group.add_argument(
            "--to",
            required=True,
            metavar="URL",
            help="dicom://AET@host:port (C-STORE) or https://host/dicom-web (STOW-RS)",
        )
    else:
        group.add_argument(
            "--send",
            metavar="URL",
            help="after converting, send the outputs to dicom://AET@host:port or a DICOMweb root",
        )
    group.add_argument(
        "--calling-aet",
        metavar="AET",
        help=f"our AE title (default {_default(SendOptions, 'calling_aet')})",
    )
    group.add_argument(
        "--tls", action="store_true", default=None, help="DICOM TLS for dicom:// destinations"
    )
    group.add_argument("--ca-file", metavar="PEM", help="trust these CA certificates (TLS, https)")
    group.add_argument("--cert-file", metavar="PEM", help="client certificate (DICOM TLS)")
    group.add_argument("--key-file", metavar="PEM", help="client private key (DICOM TLS)")
    secrets = group.add_mutually_exclusive_group()
    secrets.add_argument("--token-env", metavar="VAR", help="bearer token from this variable")
    secrets.add_argument("--token-file", metavar="FILE", help="bearer token from this file")
    secrets.add_argument("--basic-env", metavar="VAR", help="'user:password' from this variable")
    secrets.add_argument("--basic-file", metavar="FILE", help="'user:password' from this file")
    numbers = (
        ("--batch-size", int, "N", "instances per STOW-RS request"),
        ("--associations", int, "N", "associations (DIMSE) or requests (STOW-RS) at once"),
        ("--retries", int, "N", "retries after a lost connection or a 5xx answer"),
        ("--connect-timeout", float, "S", "seconds to connect"),
        ("--acse-timeout", float, "S", "seconds to wait for association answers (DIMSE)"),
        ("--dimse-timeout", float, "S", "seconds to wait for a C-STORE answer (DIMSE)"),
        ("--http-timeout", float, "S", "seconds to wait for a STOW-RS answer"),
    )
    for flag, kind, metavar, text in numbers:
        name = flag.removeprefix("--").replace("-", "_")
        group.add_argument(
            flag,
            type=kind,
            metavar=metavar,
            help=f"{text} (default {_default(SendOptions, name)})",
        )
    group.add_argument(
        "--delete-after-store",
        action="store_true",
        default=None,
        help="delete each file after the peer confirmed storing it (with --commit: committing)",
    )
    group.add_argument(
        "--commit",
        action="store_true",
        default=None,
        help="ask the PACS for Storage Commitment of what it stored (DIMSE)",
    )
    group.add_argument(
        "--commit-listen",
        metavar="HOST:PORT",
        help="listen here for the commitment report a PACS sends on a new association",
    )
    group.add_argument(
        "--commit-timeout",
        type=float,
        metavar="S",
        help=f"seconds to wait for that report (default {_default(SendOptions, 'commit_timeout')})",
    )
    group.add_argument(
        "--commit-batch",
        type=int,
        metavar="N",
        help=f"instances per commitment request (default {_default(SendOptions, 'commit_batch')})",
    )
    if command:
        group.add_argument(
            "--report",
            metavar="FILE.jsonl",
            help="one JSON line per file: input, output, UID, status, error",
        )


def _given(args: argparse.Namespace, options: type[ConvertOptions | SendOptions]) -> dict[str, Any]:
    """Return the options fields that flags of the same name set (left out, a flag is None)."""
    return {
        field.name: getattr(args, field.name)
        for field in fields(options)
        if getattr(args, field.name, None) is not None
    }


def convert_options(args: argparse.Namespace) -> ConvertOptions:
    """Build the ConvertOptions the flags ask for.

    Raises
    ------
    dicomize.errors.ConfigError
        For a value the options refuse, or a colour that is no colour.
    """
    given = _given(args, ConvertOptions)
    frame = _frame_of_reference(args)
    if frame is not None:
        given["frame_of_reference_uid"] = frame
    if args.background is not None:
        from PIL import ImageColor  # Pillow only when a colour is given

        try:
            given["background"] = tuple(ImageColor.getrgb(args.background)[:3])
        except ValueError:
            raise ConfigError(
                f"--background {args.background!r} is not a colour name or #RRGGBB"
            ) from None
    return ConvertOptions(**given)


def _frame_of_reference(args: argparse.Namespace) -> str | None:
    """Return the Frame of Reference UID models take from a reference file, or None."""
    explicit = args.frame_of_reference_from
    reference = explicit or args.study_from or args.series_from
    if not reference:
        return None
    from dicomize.reference import frame_of_reference_of  # pydicom

    try:
        frame = frame_of_reference_of(reference)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    if frame is None and explicit:
        raise ConfigError(f"--frame-of-reference-from {explicit}: it has no Frame of Reference UID")
    return frame


def send_options(args: argparse.Namespace) -> SendOptions:
    """Build the SendOptions the flags ask for, reading secrets from the environment or files.

    Raises
    ------
    dicomize.errors.ConfigError
        For a value the options refuse, or a secret that cannot be read.
    """
    given = _given(args, SendOptions)
    token = _secret(args.token_env, args.token_file)
    basic = _secret(args.basic_env, args.basic_file)
    if basic is not None:
        user, sep, password = basic.partition(":")
        if not sep:
            raise ConfigError("basic credentials must be 'user:password'")
        given["basic"] = (user, password)
    return SendOptions(token=token, **given)


def _secret(variable: str | None, file: str | None) -> str | None:
    if variable:
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(f"environment variable {variable} is not set")
        return value.strip()
    if file:
        from pathlib import Path  # convert --help does without it

        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    return None


def metadata(args: argparse.Namespace, *, worklist: bool = True) -> dict[str, Any]:
    """Merge what is known of the metadata: reference file < worklist < --metadata < --set < flags.

    Values the user gives that replace the reference file's or the worklist's are
    named on stderr (by keyword only: the values are patient data). `worklist`
    False leaves the worklist to be asked per input (``batch``).

    Raises
    ------
    dicomize.errors.ConfigError
        For an unreadable reference or JSON file, or a malformed --set.
    dicomize.errors.QueryError
        When ``--worklist`` gives no single item.
    dicomize.errors.MetadataError
        When the worklist's item has an invalid Type 1 or 2 value, or the merged
        metadata names another patient than the reference file's.
    """
    layers = _layers(args, worklist=worklist)
    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged.update(layer)
    if layers[0][0] == "reference":
        from dicomize.reference import check_same_patient  # loaded with the reference

        # Before any note: another patient's ID is refused, not noted (PS3.3 A.1.2).
        option = "series_from" if args.series_from else "study_from"
        check_same_patient(layers[0][1], merged, option=option)
    for position, (source, found) in enumerate(layers):
        if source is None or args.quiet:
            continue
        replaced = [
            keyword
            for _, layer in layers[position + 1 :]
            for keyword in layer
            if keyword in found and str(layer[keyword]) != str(found[keyword])
        ]
        if replaced:
            print(
                f"dicomize: note: given values replace the {source}'s "
                + ", ".join(dict.fromkeys(sorted(replaced))),
                file=sys.stderr,
            )
    return merged


def worklist_lookup(args: argparse.Namespace) -> Any:  # noqa: ANN401  (a WorklistLookup)
    """Return the worklist each input is resolved against (by its own accession), or None."""
    if not args.worklist:
        return None
    from dicomize.worklist_lookup import WorklistLookup

    return WorklistLookup(
        url=args.worklist,
        scheduled=args.scheduled,
        modality=args.kw_Modality,
        station=args.scheduled_station,
        options=send_options(args),
    )


def _worklist_layer(args: argparse.Namespace) -> dict[str, Any]:
    from dicomize.worklist import WorklistQuery, find_worklist_item, worklist_metadata

    query = WorklistQuery(
        accession=getattr(args, "kw_AccessionNumber", None),
        patient_id=getattr(args, "kw_PatientID", None),
        scheduled=args.scheduled,
        modality=getattr(args, "kw_Modality", None),
        station=args.scheduled_station,
    )
    try:
        chosen = find_worklist_item(args.worklist, query, send_options(args))
    except QueryError as exc:
        if not (exc.items and getattr(args, "choose", False) and _interactive()):
            raise
        chosen = _choose(exc.items)
    found, notes = worklist_metadata(chosen)
    if not args.quiet:
        for note in notes:
            print(f"dicomize: note: {note}", file=sys.stderr)
    return found


def format_item(summary: dict[str, str]) -> str:
    """One worklist item as a table row: date, time, accession, modality, procedure[, patient]."""
    cells = [
        summary["date"] or "-",
        summary["time"][:4] or "-",
        f"{summary['accession'] or '-':<16}",
        f"{summary['modality'] or '-':<3}",
        summary["procedure"] or "-",
    ]
    if "patient_name" in summary:
        cells += [summary["patient_id"], summary["patient_name"]]
    return "  ".join(cells)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _choose(items: list[Any]) -> Any:  # noqa: ANN401  (WorklistItem)
    """Let the person at the terminal pick one of several worklist items (names shown)."""
    print("dicomize: several scheduled procedure steps match:", file=sys.stderr)
    for number, item in enumerate(items, start=1):
        print(f"  {number}. {format_item(item.summary(names=True))}", file=sys.stderr)
    answer = input(f"dicomize: which one (1-{len(items)}, anything else to stop)? ").strip()
    if not answer.isdigit() or not 1 <= int(answer) <= len(items):
        raise QueryError("no worklist item chosen")
    return items[int(answer) - 1]


def _pacs_layer(args: argparse.Namespace) -> dict[str, Any]:
    from dicomize.pacs import StudyQuery, find_study, study_metadata

    query = StudyQuery(
        accession=getattr(args, "kw_AccessionNumber", None),
        patient_id=getattr(args, "kw_PatientID", None),
        study_date=getattr(args, "kw_StudyDate", None),
    )
    found, notes = study_metadata(find_study(args.find_study, query, send_options(args)))
    if not args.quiet:
        for note in notes:
            print(f"dicomize: note: {note}", file=sys.stderr)
    return found


def _layers(
    args: argparse.Namespace, *, worklist: bool = True
) -> list[tuple[str | None, dict[str, Any]]]:
    """Return each source of metadata, lowest first, named when it is not the user's."""
    layers: list[tuple[str | None, dict[str, Any]]] = []
    reference_path = args.study_from or args.series_from
    if args.source_image and not reference_path:
        raise ConfigError("--source-image needs --study-from or --series-from")
    if reference_path:
        from dicomize.reference import reference_metadata  # pydicom

        try:
            found = reference_metadata(
                reference_path, series=bool(args.series_from), source_image=args.source_image
            )
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        layers.append(("reference", found))
    if worklist and getattr(args, "worklist", None):
        layers.append(("worklist", _worklist_layer(args)))
    if getattr(args, "find_study", None):
        layers.append(("PACS", _pacs_layer(args)))
    if args.metadata:
        layers.append((None, _read_json(args.metadata)))
    pairs: dict[str, Any] = {}
    for item in args.set_values:
        keyword, sep, value = item.partition("=")
        if not sep or not keyword.strip():
            raise ConfigError(f"--set takes KEYWORD=VALUE, got {item!r}")
        pairs[keyword.strip()] = value
    layers.append((None, pairs))
    flags = {
        keyword: getattr(args, f"kw_{keyword}")
        for _, keyword, _ in METADATA_FLAGS
        if getattr(args, f"kw_{keyword}") is not None
    }
    if args.concept_name is not None:
        flags["ConceptNameCodeSequence"] = [_code(args.concept_name, "--concept-name")]
    if args.anatomic_region is not None:
        flags["AnatomicRegionSequence"] = [_code(args.anatomic_region, "--anatomic-region")]
    layers.append((None, flags))
    return layers


def _code(text: str, flag: str) -> dict[str, str]:
    """Parse CODE^SCHEME^MEANING into a Code Sequence Macro item (PS3.3 Table 8.8-1)."""
    parts = text.split("^")
    if len(parts) != 3 or not all(part.strip() for part in parts):  # noqa: PLR2004
        raise ConfigError(f"{flag} takes CODE^SCHEME^MEANING, got {text!r}")
    value, scheme, meaning = (part.strip() for part in parts)
    return {"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning}


def _read_json(path: str) -> dict[str, Any]:
    import json  # only with --metadata
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--metadata {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--metadata {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--metadata {path}: expected a JSON object of DICOM keywords")
    return data
