"""Batch conversion at archive scale: folders or manifests, parallel, resumable, reported.

Rules (documented in docs/guides/batch.md):

* **Outputs** mirror the input tree: ``photos/a/b.jpg`` → ``dicom/a/b.dcm``. A manifest row
  may name its output; otherwise the path relative to the manifest's folder is mirrored.
* **Grouping** (``group_by``): ``"folder"`` (default) makes each folder one series of one
  study; ``"tree"`` makes the whole input one study with a series per folder; ``"file"``
  gives every picture its own study and series. Manifest rows group by their
  ``study_key``/``series_key`` columns when present. Instance Numbers follow the sorted
  order of file names within a series.
* **UIDs** are derived from a seed (``--uid-seed``, or a random one stored in the output
  folder as ``.dicomize-batch.json``) and the group and input path, so workers agree on a
  series without talking, and a resumed batch files its remaining pictures into the same
  series with the same UIDs.
* **Resume**: an input whose output exists, parses and carries the expected SOP Instance UID
  is skipped; any other file at that name is redone. Outputs are written atomically, and
  temporary files a killed run left behind are removed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomize.batch.plan import GROUPINGS as GROUPINGS
    from dicomize.batch.plan import BatchItem as BatchItem
    from dicomize.batch.plan import plan_manifest as plan_manifest
    from dicomize.batch.plan import plan_tree as plan_tree
    from dicomize.batch.run import BatchSummary as BatchSummary
    from dicomize.batch.run import run_batch as run_batch
    from dicomize.report import BatchResult as BatchResult
    from dicomize.report import BatchStatus as BatchStatus

# Planning loads no process pool: the command line's --help imports the plan module only.
_LOCATIONS = {
    "GROUPINGS": "dicomize.batch.plan",
    "BatchItem": "dicomize.batch.plan",
    "plan_manifest": "dicomize.batch.plan",
    "plan_tree": "dicomize.batch.plan",
    "BatchSummary": "dicomize.batch.run",
    "run_batch": "dicomize.batch.run",
    "BatchResult": "dicomize.report",
    "BatchStatus": "dicomize.report",
}
__all__ = sorted(_LOCATIONS)  # noqa: PLE0605  (made from the table)


def __getattr__(name: str) -> Any:  # noqa: ANN401  (PEP 562 lazy exports)
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'dicomize.batch' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
