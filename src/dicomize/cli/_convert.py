"""``dicomize convert``: arguments to library calls, results to one line each."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from dicomize.cli._arguments import (
    add_convert_arguments,
    add_send_arguments,
    convert_options,
    metadata,
)
from dicomize.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    deliver,
    explain,
    fail,
    fail_query,
    refuse,
    verified,
)
from dicomize.errors import ConfigError, InputError, MetadataError, OutputError, QueryError
from dicomize.options import ConvertOptions

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from dicomize.dicom.part10 import Part10Object
    from dicomize.objectset import ObjectSet

__all__ = ["add_parser", "run"]

#: Media Storage SOP Class UID (0002,0002).
_SOP_CLASS = 0x00020002
_FRAME_OF_REFERENCE_UID = 0x00200052


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``convert`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Convert pictures (JPEG, PNG, TIFF, HEIC, WebP, ...) to Secondary Capture "
        "or VL Photographic images, PDFs to Encapsulated PDF (or, --pdf-as-images, to "
        "multi-frame SC images), and STL, OBJ and MTL models to their Encapsulated IODs. "
        "The content decides, not the file name. Several inputs form one series of one study.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="picture, PDF or model files")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file, folder (several inputs, or a name ending in /), or - for stdout; "
        "default: INPUT's name with .dcm beside it",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_convert_arguments(parser, single=True)
    add_send_arguments(parser, command=False)
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert ``args.inputs``; report each failure on one line; return the exit code."""
    from pathlib import Path  # convert --help does without it

    try:
        merged = metadata(args)
        options = convert_options(args)
        # One file for the joined frames, else one per input.
        joined = args.multiframe or args.video
        destinations = (
            [_joined_destination(args)] if joined else _destinations(args.inputs, args.output)
        )
        # A remuxed or transcoded clip waits beside its output, never elsewhere.
        folder = next((d.parent for d in destinations if d is not None), Path())
        options = replace(options, temporary_folder=str(folder))
    except (MetadataError, ConfigError) as exc:
        return refuse(exc, args)
    except QueryError as exc:
        return fail_query(exc, names=args.verbose > 0)
    if args.multiframe or args.video:
        return _run_joined(args, merged, options)
    from dicomize._convert import encode_series  # pydicom and the readers
    from dicomize.dicom.part10 import Part10Object

    failed = 0
    written: list[str] = []
    new_frame = False
    try:
        results = encode_series(args.inputs, merged, options=options)
        for (source, result), destination in zip(results, destinations, strict=True):
            if isinstance(result, InputError):
                failed += 1
                fail(explain(result))
            elif not isinstance(result, Part10Object):
                with result:
                    paths = _write_set(args, source, result, destination)
                if paths is None:
                    failed += 1
                written.extend(paths or ())
            elif _write_one(args, source, result, destination):
                new_frame = new_frame or _in_new_frame(result, options, merged)
                if destination is not None:
                    written.append(str(destination))
            else:
                failed += 1
    except MetadataError as exc:
        fail(f"invalid metadata: {explain(exc)}")
        return EXIT_USAGE
    if not args.quiet:
        _summary(args.inputs, failed, new_frame=new_frame)
    code = EXIT_FAILED if failed else EXIT_OK
    return max(code, _send(args, written))


def _write_one(
    args: argparse.Namespace, source: object, result: Part10Object, destination: Path | None
) -> bool:
    """Write one object (to stdout when `destination` is None); report; tell whether it counts."""
    from dicomize._write import write_object

    try:
        if destination is None:
            write_object(result, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            write_object(result, destination, overwrite=args.overwrite)
    except (OutputError, InputError) as exc:  # pixels are packed while written
        fail(f"{source!s}: {explain(exc)}")
        return False
    if destination is not None and args.verify and not verified(destination):
        return False
    if not args.quiet:
        for note in result.notes:
            print(f"dicomize: note: {source!s}: {note}", file=sys.stderr)
        if destination is not None:
            print(f"{source!s} -> {destination}", file=sys.stderr)
    return True


def _write_set(
    args: argparse.Namespace, source: object, result: ObjectSet, destination: Path | None
) -> list[str] | None:
    """Write an input's several objects into a folder named after it; None when it failed."""
    from pathlib import Path

    from dicomize._write import write_folder

    if destination is None:
        fail(f"{source!s}: becomes several objects: name an output folder (-o)")
        return None
    folder = destination.parent / destination.stem.removesuffix(".ome")  # NAME.ome.tif
    try:
        paths = write_folder(
            list(zip(result.names, result.objects, strict=True)), folder, overwrite=args.overwrite
        )
    except (OutputError, InputError) as exc:  # tiles are read while written
        fail(f"{source!s}: {explain(exc)}")
        return None
    if args.verify and not all(verified(Path(path)) for path in paths):
        return None
    if not args.quiet:
        for note in result.notes:
            print(f"dicomize: note: {source!s}: {note}", file=sys.stderr)
        print(f"{source!s} -> {folder}/ ({len(paths)} objects)", file=sys.stderr)
    return paths


def _summary(inputs: list[str], failed: int, *, new_frame: bool) -> None:
    if new_frame:
        print(
            "dicomize: note: the models have a new Frame of Reference: no images share their "
            "coordinates (--frame-of-reference-from REF.dcm gives them a series' frame)",
            file=sys.stderr,
        )
    if len(inputs) > 1:
        print(
            f"dicomize: converted {len(inputs) - failed} of {len(inputs)}"
            + (f", {failed} failed" if failed else ""),
            file=sys.stderr,
        )


def _in_new_frame(result: Part10Object, options: ConvertOptions, merged: dict[str, Any]) -> bool:
    """Tell whether `result` is a model placed in a Frame of Reference made for it."""
    if options.frame_of_reference_uid or merged.get("FrameOfReferenceUID"):
        return False
    from dicomize.iods import of_sop_class

    sop_class = next(str(value) for tag, _, value, _ in result.meta if tag == _SOP_CLASS)
    # A Dermoscopic photo's frame is its series' own, not a claim that images share it.
    return of_sop_class(sop_class).kind == "model" and any(
        tag == _FRAME_OF_REFERENCE_UID for tag, *_ in result.body
    )


def _send(args: argparse.Namespace, written: list[str]) -> int:
    """With --send, deliver what was written; the worse exit code wins."""
    if not args.send or not written:
        return EXIT_OK
    return deliver(args, written, args.send)


def _run_joined(args: argparse.Namespace, merged: dict[str, Any], options: ConvertOptions) -> int:
    """Join every input into one multi-frame or video object written to one file."""
    from dicomize._convert import encode_frames, encode_video  # pydicom
    from dicomize._write import write_object

    destination = _joined_destination(args)
    try:
        if args.video:
            from fractions import Fraction  # --video only

            fps = {} if args.fps is None else {"fps": Fraction(args.fps)}
            dataset = encode_video(_sources(args.inputs), merged, options=options, **fps)
        else:
            dataset = encode_frames(args.inputs, merged, options=options)
    except MetadataError as exc:
        fail(f"invalid metadata: {explain(exc)}")
        return EXIT_USAGE
    except InputError as exc:
        fail(explain(exc))
        return EXIT_FAILED
    try:
        if destination is None:
            write_object(dataset, sys.stdout.buffer)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            write_object(dataset, destination, overwrite=args.overwrite)
    except (OutputError, InputError) as exc:
        fail(explain(exc))
        return EXIT_FAILED
    if destination is not None and args.verify and not verified(destination):
        return EXIT_FAILED
    if not args.quiet and destination is not None:
        for note in dataset.notes:
            print(f"dicomize: note: {note}", file=sys.stderr)
        print(f"{len(args.inputs)} input(s) joined -> {destination}", file=sys.stderr)
    return _send(args, [str(destination)] if destination is not None else [])


def _joined_destination(args: argparse.Namespace) -> Path | None:
    """Name the one output of --multiframe or --video (None: stdout)."""
    from pathlib import Path

    if args.output == "-":
        return None
    if args.output is None or args.output.endswith(("/", "\\")) or Path(args.output).is_dir():
        folder = Path(args.output) if args.output else Path(args.inputs[0]).parent
        return folder / (Path(args.inputs[0]).stem + ".dcm")
    return Path(args.output)


def _sources(inputs: list[str]) -> list[object]:
    """Load the inputs of --video: pictures by name, numpy .npy files of frames as arrays."""
    import numpy as np

    sources: list[object] = []
    for name in inputs:
        if not name.endswith(".npy"):
            sources.append(name)
            continue
        try:
            sources.append(np.load(name, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise InputError(f"not a readable numpy array ({exc})", name) from None
    return sources


def _destinations(inputs: list[str], output: str | None) -> list[Path | None]:
    """Map inputs to output paths (None = stdout), refusing collisions up front."""
    from pathlib import Path

    if output == "-":
        if len(inputs) != 1:
            raise ConfigError("-o - (stdout) takes exactly one input")
        if sys.stdout.isatty():
            raise ConfigError("refusing to write binary DICOM to a terminal; redirect stdout")
        return [None]
    if output is None:
        paths = [Path(name).with_suffix(".dcm") for name in inputs]
    elif not (len(inputs) > 1 or output.endswith(("/", "\\")) or Path(output).is_dir()):
        paths = [Path(output)]
    else:
        target = Path(output)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create output folder {target}: {exc.strerror or exc}"
            ) from None
        paths = [target / (Path(name).stem + ".dcm") for name in inputs]
    seen: dict[Path, str] = {}
    for name, path in zip(inputs, paths, strict=True):
        if path in seen:
            raise ConfigError(f"{name} and {seen[path]} would both be written to {path}")
        seen[path] = name
    return list(paths)
