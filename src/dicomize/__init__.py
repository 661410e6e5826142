"""dicomize: ordinary pictures and numpy arrays to valid DICOM objects.

>>> import numpy as np, dicomize
>>> ds = dicomize.convert(np.zeros((2, 2), np.uint8), dicomize.Metadata(patient_id="12345"))
>>> ds.SOPClassUID.name
'Secondary Capture Image Storage'

The public names are the keys of ``_LOCATIONS`` (and ``__all__``, made from
it); they load on first use so that the command line starts without importing
pydicom, numpy or Pillow. The ``TYPE_CHECKING`` block below names them again
for type checkers only; a test holds the two in step.
"""

from __future__ import annotations

import importlib

from dicomize import errors
from dicomize._version import __version__ as __version__

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

    from dicomize._api import convert as convert
    from dicomize._api import convert_frames as convert_frames
    from dicomize._api import convert_series as convert_series
    from dicomize._api import convert_video as convert_video
    from dicomize._api import read_picture as read_picture
    from dicomize._api import resolve_metadata as resolve_metadata
    from dicomize._api import write as write
    from dicomize._api import write_slide as write_slide
    from dicomize._extract import Extracted as Extracted
    from dicomize._extract import extract as extract
    from dicomize._extract import extract_all as extract_all
    from dicomize.batch.plan import BatchItem as BatchItem
    from dicomize.batch.plan import plan_manifest as plan_manifest
    from dicomize.batch.plan import plan_tree as plan_tree
    from dicomize.batch.run import BatchSummary as BatchSummary
    from dicomize.batch.run import run_batch as run_batch
    from dicomize.consistency import ConsistencyFinding as ConsistencyFinding
    from dicomize.consistency import ConsistencyReport as ConsistencyReport
    from dicomize.consistency import check_consistency as check_consistency
    from dicomize.errors import ConfigError as ConfigError
    from dicomize.errors import CorruptImage as CorruptImage
    from dicomize.errors import DicomizeError as DicomizeError
    from dicomize.errors import ImageTooLarge as ImageTooLarge
    from dicomize.errors import InputError as InputError
    from dicomize.errors import ManifestError as ManifestError
    from dicomize.errors import MetadataError as MetadataError
    from dicomize.errors import OutputError as OutputError
    from dicomize.errors import OutputExists as OutputExists
    from dicomize.errors import QueryError as QueryError
    from dicomize.errors import UnsupportedInput as UnsupportedInput
    from dicomize.metadata import Metadata as Metadata
    from dicomize.options import ConvertOptions as ConvertOptions
    from dicomize.options import SendOptions as SendOptions
    from dicomize.pacs import StudyMatch as StudyMatch
    from dicomize.pacs import StudyQuery as StudyQuery
    from dicomize.pacs import find_study as find_study
    from dicomize.pacs import study_metadata as study_metadata
    from dicomize.picture import Picture as Picture
    from dicomize.reference import reference_metadata as reference_metadata
    from dicomize.report import BatchResult as BatchResult
    from dicomize.report import BatchStatus as BatchStatus
    from dicomize.report import SendResult as SendResult
    from dicomize.report import SendStatus as SendStatus
    from dicomize.send import send_files as send_files
    from dicomize.send.destination import DimseDestination as DimseDestination
    from dicomize.send.destination import StowDestination as StowDestination
    from dicomize.send.destination import parse_destination as parse_destination
    from dicomize.validate import Finding as Finding
    from dicomize.validate import Verdict as Verdict
    from dicomize.validate import validate_file as validate_file
    from dicomize.worklist import WorklistItem as WorklistItem
    from dicomize.worklist import WorklistQuery as WorklistQuery
    from dicomize.worklist import find_worklist_item as find_worklist_item
    from dicomize.worklist import query_worklist as query_worklist
    from dicomize.worklist import worklist_metadata as worklist_metadata

#: Every public name, and the module that defines it.
_LOCATIONS: dict[str, str] = {
    # Converting and writing
    "convert": "dicomize._api",
    "convert_frames": "dicomize._api",
    "convert_series": "dicomize._api",
    "convert_video": "dicomize._api",
    "write": "dicomize._api",
    "write_slide": "dicomize._api",
    "read_picture": "dicomize._api",
    "Picture": "dicomize.picture",
    "ConvertOptions": "dicomize.options",
    # Metadata
    "Metadata": "dicomize.metadata",
    "WorklistQuery": "dicomize.worklist",
    "StudyQuery": "dicomize.pacs",
    "StudyMatch": "dicomize.pacs",
    "find_study": "dicomize.pacs",
    "study_metadata": "dicomize.pacs",
    "WorklistItem": "dicomize.worklist",
    "query_worklist": "dicomize.worklist",
    "find_worklist_item": "dicomize.worklist",
    "worklist_metadata": "dicomize.worklist",
    "resolve_metadata": "dicomize._api",
    "reference_metadata": "dicomize.reference",
    # Batches
    "plan_manifest": "dicomize.batch.plan",
    "plan_tree": "dicomize.batch.plan",
    "BatchItem": "dicomize.batch.plan",
    "run_batch": "dicomize.batch.run",
    "BatchSummary": "dicomize.batch.run",
    "BatchResult": "dicomize.report",
    "BatchStatus": "dicomize.report",
    # Delivery
    "send_files": "dicomize.send",
    "SendOptions": "dicomize.options",
    "SendResult": "dicomize.report",
    "SendStatus": "dicomize.report",
    "parse_destination": "dicomize.send.destination",
    "DimseDestination": "dicomize.send.destination",
    "StowDestination": "dicomize.send.destination",
    # Getting content back out
    "extract": "dicomize._extract",
    "extract_all": "dicomize._extract",
    "Extracted": "dicomize._extract",
    # Validation
    "validate_file": "dicomize.validate",
    "Verdict": "dicomize.validate",
    "Finding": "dicomize.validate",
    "check_consistency": "dicomize.consistency",
    "ConsistencyReport": "dicomize.consistency",
    "ConsistencyFinding": "dicomize.consistency",
    # The exception tree (dicomize.errors)
    **dict.fromkeys(errors.__all__, "dicomize.errors"),
}

__all__ = sorted(["__version__", *_LOCATIONS])  # noqa: PLE0605  (made from the one table)


def __getattr__(name: str) -> Any:  # noqa: ANN401  (PEP 562 lazy exports)
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'dicomize' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
