"""``dicomize convert``: arguments to library calls, results to one line each."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dicomize._convert import encode_frames, encode_series
from dicomize._write import write_object as write
from dicomize.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, METADATA_FLAGS
from dicomize.errors import DicomizeError, InputError, MetadataError, OutputError
from dicomize.options import ConvertOptions
from dicomize.reference import reference_metadata

__all__ = ["run_convert"]


def _fail(message: str) -> None:
    print(f"dicomize: {message}", file=sys.stderr)


def run_convert(args: argparse.Namespace) -> int:
    """Convert ``args.inputs``; report each failure on one line; return the exit code."""
    try:
        metadata = _metadata_layers(args)
        options = _options(args)
        # One file for the joined frames, else one per input.
        destinations = [] if args.multiframe else _destinations(args.inputs, args.output)
    except (MetadataError, UsageError) as exc:
        _fail(f"invalid {'metadata' if isinstance(exc, MetadataError) else 'arguments'}: {exc}")
        return EXIT_USAGE

    if args.multiframe:
        return _run_multiframe(args, metadata, options)
    failed = 0
    written: list[str] = []
    try:
        merged = _merge(
            metadata, has_reference=bool(args.study_from or args.series_from), quiet=args.quiet
        )
        results = encode_series(args.inputs, merged, options=options)
        for (source, result), destination in zip(results, destinations, strict=True):
            if isinstance(result, InputError):
                failed += 1
                _fail(str(result))
                continue
            try:
                if destination is None:
                    write(result, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                else:
                    write(result, destination, overwrite=args.overwrite)
            except (OutputError, InputError) as exc:  # pixels are packed while written
                failed += 1
                _fail(f"{source!s}: {exc}")
                continue
            if destination is not None and args.verify and not _verified(destination):
                failed += 1
                continue
            if destination is not None:
                written.append(str(destination))
                if not args.quiet:
                    print(f"{source!s} -> {destination}", file=sys.stderr)
    except MetadataError as exc:
        _fail(f"invalid metadata: {exc}")
        return EXIT_USAGE
    if len(args.inputs) > 1 and not args.quiet:
        done = len(args.inputs) - failed
        print(
            f"dicomize: converted {done} of {len(args.inputs)}"
            + (f", {failed} failed" if failed else ""),
            file=sys.stderr,
        )
    code = EXIT_FAILED if failed else EXIT_OK
    return max(code, _send_outputs(args, written))


def _verified(destination: Path) -> bool:
    from dicomize.cli._validate import first_error  # noqa: PLC0415
    from dicomize.validate import validate_file  # noqa: PLC0415

    verdict = validate_file(destination)
    if not verdict.ok:
        _fail(f"{destination}: {first_error(verdict)}")
    return verdict.ok


def _send_outputs(args: argparse.Namespace, written: list[str]) -> int:
    """With --send, deliver what was written; the worse exit code wins."""
    if not getattr(args, "send", None) or not written:
        return EXIT_OK
    from dicomize.cli._send import send_after  # noqa: PLC0415

    return send_after(args, written, args.send)


def _run_multiframe(
    args: argparse.Namespace, metadata: list[dict[str, Any]], options: ConvertOptions
) -> int:
    """Join every input into one multi-frame object written to one file."""
    if args.output == "-":
        destination: Path | None = None
    elif args.output is None or args.output.endswith(("/", "\\")) or Path(args.output).is_dir():
        folder = Path(args.output) if args.output else Path(args.inputs[0]).parent
        destination = folder / (Path(args.inputs[0]).stem + ".dcm")
    else:
        destination = Path(args.output)
    try:
        merged = _merge(
            metadata, has_reference=bool(args.study_from or args.series_from), quiet=args.quiet
        )
        dataset = encode_frames(args.inputs, merged, options=options)
    except MetadataError as exc:
        _fail(f"invalid metadata: {exc}")
        return EXIT_USAGE
    except InputError as exc:
        _fail(str(exc))
        return EXIT_FAILED
    try:
        if destination is None:
            write(dataset, sys.stdout.buffer)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            write(dataset, destination, overwrite=args.overwrite)
    except (OutputError, InputError) as exc:
        _fail(str(exc))
        return EXIT_FAILED
    if destination is not None and args.verify and not _verified(destination):
        return EXIT_FAILED
    if not args.quiet and destination is not None:
        print(f"{len(args.inputs)} pictures -> {destination}", file=sys.stderr)
    return _send_outputs(args, [str(destination)] if destination is not None else [])


class UsageError(DicomizeError):
    """The command line asks for something impossible."""


def _metadata_layers(args: argparse.Namespace) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = []
    reference_path = args.study_from or args.series_from
    if args.source_image and not reference_path:
        raise UsageError("--source-image needs --study-from or --series-from")
    if reference_path:
        try:
            layers.append(
                reference_metadata(
                    reference_path, series=bool(args.series_from), source_image=args.source_image
                )
            )
        except InputError as exc:
            raise UsageError(str(exc)) from None
    if args.metadata:
        layers.append(_read_json(args.metadata))
    pairs: dict[str, Any] = {}
    for item in args.set_values:
        keyword, sep, value = item.partition("=")
        if not sep or not keyword.strip():
            raise UsageError(f"--set takes KEYWORD=VALUE, got {item!r}")
        pairs[keyword.strip()] = value
    layers.append(pairs)
    layers.append(
        {
            keyword: getattr(args, f"kw_{keyword}")
            for _, keyword, _ in METADATA_FLAGS
            if getattr(args, f"kw_{keyword}") is not None
        }
    )
    return layers


def _merge(layers: list[dict[str, Any]], *, has_reference: bool, quiet: bool) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    if has_reference and not quiet:
        # Explicit values win over the reference's; say which (never the values: patient data).
        reference = layers[0]
        replaced = sorted(
            k
            for layer in layers[1:]
            for k in layer
            if k in reference and str(layer[k]) != str(reference[k])
        )
        if replaced:
            print(
                "dicomize: note: given values replace the reference's "
                + ", ".join(dict.fromkeys(replaced)),
                file=sys.stderr,
            )
    return merged


def _read_json(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--metadata {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--metadata {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"--metadata {path}: expected a JSON object of DICOM keywords")
    return data


def _options(args: argparse.Namespace) -> ConvertOptions:
    from PIL import ImageColor  # noqa: PLC0415

    try:
        red, green, blue = ImageColor.getrgb(args.background)[:3]
    except ValueError:
        raise UsageError(
            f"--background {args.background!r} is not a colour name or #RRGGBB"
        ) from None
    try:
        kwargs: dict[str, Any] = {
            "background": (red, green, blue),
            "uid_root": args.uid_root,
            "transfer_syntax": args.transfer_syntax,
            "passthrough": args.passthrough,
            "keep_jpeg_metadata": args.keep_jpeg_metadata,
            "jpeg_quality": args.jpeg_quality,
            "jpegls_error": args.near_lossless_error,
            "j2k_ratio": args.j2k_ratio,
            "uid_seed": args.uid_seed,
            "series_per_input": getattr(args, "series_per_input", False),
            "iod": args.iod,
            "keep_gps": args.keep_gps,
        }
        if args.max_pixels is not None:
            kwargs["max_pixels"] = args.max_pixels
        return ConvertOptions(**kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _destinations(inputs: list[str], output: str | None) -> list[Path | None]:
    """Map inputs to output paths (None = stdout), refusing collisions up front."""
    if output == "-":
        if len(inputs) != 1:
            raise UsageError("-o - (stdout) takes exactly one input")
        if sys.stdout.isatty():
            raise UsageError("refusing to write binary DICOM to a terminal; redirect stdout")
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
            raise UsageError(
                f"cannot create output folder {target}: {exc.strerror or exc}"
            ) from None
        paths = [target / (Path(name).stem + ".dcm") for name in inputs]
    seen: dict[Path, str] = {}
    for name, path in zip(inputs, paths, strict=True):
        if path in seen:
            raise UsageError(f"{name} and {seen[path]} would both be written to {path}")
        seen[path] = name
    return list(paths)
