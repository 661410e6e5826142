"""dicomize: ordinary pictures and numpy arrays to valid DICOM objects.

>>> import numpy as np, dicomize
>>> ds = dicomize.convert(np.zeros((2, 2), np.uint8), dicomize.Metadata(patient_id="12345"))
>>> ds.SOPClassUID.name
'Secondary Capture Image Storage'

The public names are listed in ``__all__``; they load on first use so that
the command line starts without importing pydicom, numpy or Pillow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dicomize._version import __version__

# The exception tree is tiny and dependency-free, so it loads eagerly.
from dicomize.errors import (
    CorruptImage,
    DicomizeError,
    ImageTooLarge,
    InputError,
    ManifestError,
    MetadataError,
    OutputError,
    OutputExists,
    UnsupportedInput,
)

if TYPE_CHECKING:
    from dicomize._convert import convert, convert_frames, convert_series
    from dicomize._write import write
    from dicomize.batch import plan_manifest, plan_tree, run_batch
    from dicomize.metadata import Metadata, resolve_metadata
    from dicomize.options import ConvertOptions
    from dicomize.picture import Picture
    from dicomize.readers import read_picture
    from dicomize.reference import reference_metadata
    from dicomize.send import SendOptions, send_files
    from dicomize.validate import validate_file

__all__ = [
    "ConvertOptions",
    "CorruptImage",
    "DicomizeError",
    "ImageTooLarge",
    "InputError",
    "ManifestError",
    "Metadata",
    "MetadataError",
    "OutputError",
    "OutputExists",
    "Picture",
    "SendOptions",
    "UnsupportedInput",
    "__version__",
    "convert",
    "convert_frames",
    "convert_series",
    "plan_manifest",
    "plan_tree",
    "read_picture",
    "reference_metadata",
    "resolve_metadata",
    "run_batch",
    "send_files",
    "validate_file",
    "write",
]

_LOCATIONS = {
    "ConvertOptions": "dicomize.options",
    "convert": "dicomize._convert",
    "convert_series": "dicomize._convert",
    "convert_frames": "dicomize._convert",
    "Metadata": "dicomize.metadata",
    "resolve_metadata": "dicomize.metadata",
    "Picture": "dicomize.picture",
    "read_picture": "dicomize.readers",
    "reference_metadata": "dicomize.reference",
    "plan_manifest": "dicomize.batch",
    "plan_tree": "dicomize.batch",
    "run_batch": "dicomize.batch",
    "SendOptions": "dicomize.send",
    "send_files": "dicomize.send",
    "validate_file": "dicomize.validate",
    "write": "dicomize._write",
}


def __getattr__(name: str) -> Any:  # noqa: ANN401  (PEP 562 lazy exports)
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'dicomize' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
