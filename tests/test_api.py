"""The public API: what is exported, documented and typed."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

import dicomize
from dicomize import errors


def test_every_exported_name_resolves_and_is_documented() -> None:
    for name in dicomize.__all__:
        member = getattr(dicomize, name)
        if name != "__version__":
            assert inspect.getdoc(member), name
    assert sorted(dicomize.__all__) == dicomize.__all__
    assert dir(dicomize) == sorted(dicomize.__all__)


def test_exported_functions_stay_functions_whatever_is_imported_first() -> None:
    # Regression: the submodule dicomize.convert used to shadow the function.
    import dicomize._convert
    import dicomize._write

    assert inspect.isfunction(dicomize.convert)
    assert inspect.isfunction(dicomize.write)


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = dicomize.no_such_thing


def test_every_error_is_a_dicomize_error_and_listed_in_the_tree() -> None:
    documented = inspect.getdoc(errors) or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, dicomize.DicomizeError)
        assert name in documented


def test_package_ships_its_type_marker() -> None:
    assert (Path(dicomize.__file__).parent / "py.typed").exists()


def test_convert_then_write_in_one_call_each(tmp_path: Path) -> None:
    ds = dicomize.convert(np.zeros((2, 3), np.uint8), dicomize.Metadata(patient_id="42"))
    path = tmp_path / "one.dcm"
    dicomize.write(ds, path)
    assert path.read_bytes()[128:132] == b"DICM"
