"""Atomic output: a reader sees no file or the whole file; nothing is replaced unless asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

import dicomize
import dicomize._write
import dicomize.dicom.part10


@pytest.fixture
def dataset() -> pydicom.Dataset:
    return dicomize.convert(np.zeros((8, 8), np.uint8), {"PatientID": "1"})


def test_failure_while_writing_leaves_neither_output_nor_temporary_file(
    dataset: pydicom.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_fail(stream: Any, *_: object, **__: object) -> None:
        stream.write(b"\x00" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dicomize._write, "write_part10", half_then_fail)
    target = tmp_path / "out.dcm"
    with pytest.raises(dicomize.OutputError, match="No space left on device"):
        dicomize.write(dataset, target)
    assert list(tmp_path.iterdir()) == []


def test_a_file_appearing_during_the_write_is_not_replaced(
    dataset: pydicom.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "race.dcm"
    real = dicomize.dicom.part10.write_part10

    def write_while_someone_else_creates(stream: Any, *args: Any, **kwargs: Any) -> None:
        target.write_bytes(b"theirs")
        real(stream, *args, **kwargs)

    monkeypatch.setattr(dicomize._write, "write_part10", write_while_someone_else_creates)
    with pytest.raises(dicomize.OutputExists):
        dicomize.write(dataset, target)
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["race.dcm"]


def test_overwrite_replaces_atomically(dataset: pydicom.Dataset, tmp_path: Path) -> None:
    target = tmp_path / "out.dcm"
    target.write_bytes(b"old")
    dicomize.write(dataset, target, overwrite=True)
    assert pydicom.dcmread(target).SOPInstanceUID == dataset.SOPInstanceUID
    assert [p.name for p in tmp_path.iterdir()] == ["out.dcm"]


def test_missing_folder_is_an_output_error(dataset: pydicom.Dataset, tmp_path: Path) -> None:
    with pytest.raises(dicomize.OutputError, match="No such file or directory"):
        dicomize.write(dataset, tmp_path / "missing" / "out.dcm")


def test_output_permissions_follow_the_umask_not_the_temporary_file(
    dataset: pydicom.Dataset, tmp_path: Path
) -> None:
    import os

    old = os.umask(0o022)
    try:
        dicomize.write(dataset, tmp_path / "perm.dcm")
    finally:
        os.umask(old)
    assert (tmp_path / "perm.dcm").stat().st_mode & 0o777 == 0o644
