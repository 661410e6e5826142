"""A model's Enhanced General Equipment names dicomize, or the user's system (issue 30.7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest

import dicomize
from conftest import FULL_METADATA, assert_conforms
from dicomize._version import __version__
from test_models import IODS, MODELS

EQUIPMENT = ("Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions")


def _convert(kind: str, tmp_path: Path, metadata: dict[str, Any]) -> pydicom.Dataset:
    source = tmp_path / f"tetra.{kind}"
    source.write_bytes(MODELS[kind])
    output = tmp_path / f"tetra-{kind}.dcm"
    dicomize.write(dicomize.convert(source, metadata), output)
    assert_conforms(output, iod=IODS[kind])
    return pydicom.dcmread(output)


@pytest.mark.parametrize("kind", ["stl", "obj", "mtl"])
def test_without_the_users_equipment_the_model_names_dicomize_and_its_version(
    kind: str, tmp_path: Path
) -> None:
    ds = _convert(kind, tmp_path, FULL_METADATA)
    # dicomize made the instance; "unknown" would deny what dicomize knows of itself.
    assert [ds[k].value for k in EQUIPMENT] == ["dicomize", "dicomize", __version__, __version__]


@pytest.mark.parametrize("kind", ["stl", "obj", "mtl"])
def test_the_users_equipment_wins_over_dicomize(kind: str, tmp_path: Path) -> None:
    given = ["Materialise", "Mimics", "SN-42", "25.0"]
    ds = _convert(kind, tmp_path, {**FULL_METADATA, **dict(zip(EQUIPMENT, given, strict=True))})
    assert [ds[k].value for k in EQUIPMENT] == given


def test_a_named_system_is_not_given_dicomizes_model_serial_or_version(tmp_path: Path) -> None:
    ds = _convert("stl", tmp_path, {**FULL_METADATA, "Manufacturer": "Materialise"})
    # Its other details are the named system's, which dicomize cannot know: Type 1 "unknown".
    assert [ds[k].value for k in EQUIPMENT] == ["Materialise", "unknown", "unknown", "unknown"]
