"""What a batch converts: a folder tree or a manifest, listed lazily as :class:`BatchItem`.

The grouping rules, output paths and manifest columns are described in
:mod:`dicomize.batch`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomize.errors import ConfigError, ManifestError, MetadataError
from dicomize.files import walk_files
from dicomize.names import keyword_for_name

__all__ = ["GROUPINGS", "BatchItem", "plan_manifest", "plan_tree"]

#: How pictures are grouped into studies and series (``group_by``).
GROUPINGS = ("folder", "tree", "file")
_SPECIAL_COLUMNS = frozenset({"path", "output", "study_key", "series_key", "iod"})


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchItem:
    """One picture to convert, with everything a worker needs and nothing shared."""

    source: str
    output: str
    #: Series key (Study key is ``study``); pictures with equal keys share UIDs.
    series: str
    study: str
    instance_number: int
    #: Identifies the input however the root was spelled (relative path, manifest path).
    key: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The series' place in its study: given by :func:`~dicomize.batch.run_batch`, which
    #: keeps each series' number with the batch's state so a rerun keeps it too.
    series_number: int = 1
    #: Why this input cannot be converted, found while planning (its output is another's).
    problem: str = ""
    #: The IOD this input is stored as (a manifest's ``iod`` column); empty: the batch's.
    iod: str = ""


def plan_tree(
    root: str | os.PathLike[str], output: str | os.PathLike[str], *, group_by: str = "folder"
) -> Iterator[BatchItem]:
    """List the pictures under `root` lazily, folder by folder, in sorted order.

    Hidden files and folders (names starting with ``.``) are passed over, and
    so is `output` when it lies inside `root`. The format of each file is
    decided later, from its content.

    Raises
    ------
    dicomize.errors.ConfigError
        When `group_by` is not one of :data:`GROUPINGS`, or `root` does not exist.
    """
    if group_by not in GROUPINGS:
        raise ConfigError(f"group_by must be one of {', '.join(GROUPINGS)}, got {group_by!r}")
    root, output = Path(root), Path(output)
    if not root.exists():
        raise ConfigError(f"{root}: no such file or folder")
    if root.is_file():
        yield BatchItem(
            source=str(root),
            output=str(output / (root.stem + ".dcm")),
            series=root.stem,
            study=root.stem,
            instance_number=1,
            key=root.name,
        )
        return
    # Outputs mirror folders, so only one folder's names are kept to find two inputs
    # with one output (photo.png and photo.bmp).
    taken: dict[str, str] = {}
    folder, key, prefix, into, number = None, "", "", "", 0
    for _, source in walk_files([root], skip=output):
        if source.parent != folder:
            # A folder's files come together: what they share is worked out once, as
            # the parent plans every file of a batch while the workers convert.
            folder = source.parent
            relative = folder.relative_to(root)
            key = relative.as_posix()
            prefix = "" if key == "." else f"{key}/"
            into = str(output / relative)
            number = 0
            taken.clear()
        number += 1
        name = source.name
        target = f"{source.stem}.dcm"
        first = taken.setdefault(target, name)
        member = prefix + name
        if group_by == "file":
            study = series = member
        else:
            study = "" if group_by == "tree" else key
            series = key
        yield BatchItem(
            source=str(source),
            output=os.path.join(into, target),
            series=series,
            study=study,
            instance_number=1 if group_by == "file" else number,
            key=member,
            problem=""
            if first == name
            else f"its output {target} is {first}'s: rename one of them",
        )


def plan_manifest(
    manifest: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    allow_outside: bool = False,
) -> Iterator[BatchItem]:
    """Read a CSV or JSON Lines manifest: a ``path`` column and DICOM keyword columns.

    Every row is validated first, in one streaming pass, so an error in row
    1,234 is reported before any picture is converted; the items are then
    produced in a second pass.

    A row's output is its ``output`` column, relative to `output`, or else its
    ``path`` mirrored under `output`. A manifest may come from another system
    (a RIS export), so an output that would land outside `output` (an absolute
    path, ``..``) is refused unless `allow_outside` is true.

    Raises
    ------
    ManifestError
        For an unknown column, a missing path, an invalid value or an output
        outside `output`, with the row number.
    """
    manifest, output = Path(manifest), Path(output)
    for _ in _manifest_items(manifest, output, allow_outside):
        pass  # validation pass: nothing is kept
    yield from _manifest_items(manifest, output, allow_outside)


def _manifest_items(manifest: Path, output: Path, allow_outside: bool) -> Iterator[BatchItem]:
    from dicomize.dicom.vr import validate_attribute  # pydicom: manifests only

    base = manifest.parent
    counters: dict[str, int] = {}
    targets: dict[Path, int] = {}
    agreed = _Agreement(manifest)
    for row_number, row in _manifest_rows(manifest):
        path = str(row.get("path") or "").strip()
        if not path:
            raise ManifestError(manifest, row_number, "the path column is empty")
        metadata: dict[str, Any] = {}
        for column, value in row.items():
            if column in _SPECIAL_COLUMNS or value in (None, ""):
                continue
            keyword = keyword_for_name(column)
            if keyword is None:
                raise ManifestError(manifest, row_number, f"unknown column {column!r}")
            try:
                metadata[keyword] = validate_attribute(keyword, value)
            except MetadataError as exc:
                raise ManifestError(manifest, row_number, str(exc)) from None
        source = Path(path) if Path(path).is_absolute() else base / path
        relative = Path(path) if not Path(path).is_absolute() else Path(Path(path).name)
        named = str(row.get("output") or "").strip()
        target = output / named if named else output / relative.with_suffix(".dcm")
        if not allow_outside and not target.resolve().is_relative_to(output.resolve()):
            raise ManifestError(
                manifest,
                row_number,
                f"the output {named or target} is outside the output folder {output}: "
                "name one inside it in the output column",
                option="allow_outside",
            )
        # Two rows writing one file would make one object of two inputs.
        first = targets.setdefault(target, row_number)
        if first != row_number:
            raise ManifestError(
                manifest,
                row_number,
                f"the output {target} is row {first}'s output too (name another in the "
                "output column)",
            )
        series = str(row.get("series_key") or relative.parent.as_posix())
        study = str(row.get("study_key") or series)
        iod = _iod_column(manifest, row_number, row)
        # One series, one IOD: its instances share one Modality and one SOP Class family.
        agreed.check(row_number, study, series, {**metadata, "iod": iod})
        counters[series] = counters.get(series, 0) + 1
        yield BatchItem(
            source=str(source),
            output=str(target),
            series=series,
            study=study,
            instance_number=counters[series],
            key=f"{path}\x1f{named}" if named else path,
            metadata=metadata,
            iod=iod,
        )


def _iod_column(manifest: Path, row_number: int, row: dict[str, Any]) -> str:
    from dicomize.iods import chosen

    iod = str(row.get("iod") or "").strip()
    names = [row.name for row in chosen()]
    if iod and iod not in names:
        raise ManifestError(manifest, row_number, f"iod {iod!r} is not one of {', '.join(names)}")
    return iod


class _Agreement:
    """Refuse rows of one study or series that disagree on what their study or series is.

    A study has one description, date and referring physician, and a series one
    modality, laterality and body part (PS3.3 A.1.2): a row saying otherwise would
    write a study that contradicts itself. Whose study it is (Patient ID, Issuer,
    Accession Number) may differ: each patient and order gets a study of its own.
    """

    def __init__(self, manifest: Path) -> None:
        from dicomize._convert import IDENTITY  # manifests only
        from dicomize.consistency import SERIES_ATTRIBUTES, STUDY_ATTRIBUTES

        self.manifest = manifest
        self.keywords = {
            "study": [k for k in STUDY_ATTRIBUTES if k not in IDENTITY],
            "series": [*(k for k in SERIES_ATTRIBUTES if k not in IDENTITY), "iod"],
        }
        self.identity = IDENTITY
        self.first: dict[tuple[str, str, str], tuple[int, dict[str, Any]]] = {}

    def check(self, row: int, study: str, series: str, metadata: dict[str, Any]) -> None:
        identity = "\x1f".join(str(metadata.get(k) or "") for k in self.identity)
        for entity, key in (("study", study), ("series", f"{study}\x1f{series}")):
            values = {k: metadata.get(k) for k in self.keywords[entity]}
            first_row, first = self.first.setdefault((entity, key, identity), (row, values))
            for keyword, value in values.items():
                if value != first[keyword]:
                    raise ManifestError(
                        self.manifest,
                        row,
                        f"{keyword} {_shown(value)} differs from row {first_row}'s "
                        f"{_shown(first[keyword])}: the rows of one {entity} "
                        f"({entity}_key {(study if entity == 'study' else series)!r}) must "
                        "agree on it",
                    )


def _shown(value: object) -> str:
    return "(none)" if value in (None, "") else repr(value)


def _manifest_rows(manifest: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import csv  # manifests only, not the command line's start
    import json

    try:
        with manifest.open(encoding="utf-8-sig", newline="") as stream:
            if manifest.suffix.lower() in {".jsonl", ".ndjson"}:
                for number, line in enumerate(stream, start=1):
                    if line.strip():
                        row = json.loads(line)
                        if not isinstance(row, dict):
                            raise ManifestError(manifest, number, "a line is not a JSON object")
                        yield number, row
            else:
                # Row 1 is the header, so the first picture is row 2, as a spreadsheet shows it.
                for number, row in enumerate(csv.DictReader(stream), start=2):
                    yield number, row
    except json.JSONDecodeError as exc:
        raise ManifestError(manifest, exc.lineno, f"not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(manifest, 0, f"cannot read the manifest ({exc})") from None
