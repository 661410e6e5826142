"""The public records are standard-library dataclasses, and the API explains itself.

Users, IDEs, ``help()``, notebooks and documentation tools read the API through
:mod:`inspect`, :mod:`typing` and :mod:`dataclasses`; these tests hold every public
name of :mod:`dicomize` and :mod:`dicomize.service` to what those tools need (issue 24).
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import pickle
import pkgutil
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import encode, gradient
from dicomize import service

#: Every public name, by its dotted name.
PUBLIC = {
    f"{package.__name__}.{name}": getattr(package, name)
    for package in (dicomize, service)
    for name in package.__all__
    if not name.startswith("__")
}
#: Public classes that do work rather than hold values: not records.
_WORKERS = {"dicomize.service.Journal", "dicomize.service.Watcher", "dicomize.service.Worker"}
#: Records that count while work goes on: mutable, so not hashable.
_TALLIES = {"dicomize.BatchSummary", "dicomize.service.WatchSummary"}
RECORDS = {
    name: value
    for name, value in PUBLIC.items()
    if isinstance(value, type)
    and not issubclass(value, BaseException | enum.Enum)
    and name not in _WORKERS
}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_public_records_are_keyword_only_slotted_dataclasses(name: str) -> None:
    cls = RECORDS[name]
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen is (name not in _TALLIES)  # type: ignore[attr-defined]
    assert all(field.kw_only for field in dataclasses.fields(cls))
    assert "__slots__" in vars(cls)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_signature_shows_its_parameters(name: str) -> None:
    value = PUBLIC[name]
    if not callable(value):
        pytest.skip("not callable")
    parameters = inspect.signature(value).parameters
    assert not {"args", "kwargs"} & set(parameters), parameters
    if dataclasses.is_dataclass(value):
        assert list(parameters) == [field.name for field in dataclasses.fields(value)]


def _annotated(value: object) -> Iterator[Callable[..., object] | type]:
    """`value`, and the public methods, properties and ``__init__`` of a class."""
    if isinstance(value, type) or callable(value):
        yield value
    if isinstance(value, type):
        for name, member in vars(value).items():
            function = member.fget if isinstance(member, property) else member
            if inspect.isfunction(function) and (name == "__init__" or not name.startswith("_")):
                yield function


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_type_hints_resolve_on_every_public_name(name: str) -> None:
    for target in _annotated(PUBLIC[name]):
        assert isinstance(typing.get_type_hints(target), dict)


def test_options_are_changed_with_dataclasses_replace_and_checked_again() -> None:
    options = dicomize.ConvertOptions(iod="vl-photo")
    changed = dataclasses.replace(options, jpeg_quality=70)
    assert (changed.jpeg_quality, changed.iod, options.jpeg_quality) == (70, "vl-photo", 90)
    with pytest.raises(dicomize.ConfigError, match="jpeg_quality"):
        dataclasses.replace(options, jpeg_quality=0)
    basic = ("user", "pa55word")
    send = dataclasses.replace(dicomize.SendOptions(basic=basic), retries=0)
    assert (send.retries, send.basic) == (0, basic)
    assert dataclasses.asdict(send)["batch_size"] == dicomize.SendOptions().batch_size


def test_run_batch_takes_a_metadata_object_as_convert_does(tmp_path: Path) -> None:
    photos, out = tmp_path / "photos", tmp_path / "dicom"
    photos.mkdir()
    (photos / "a.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    meta = dicomize.Metadata(patient_id="12345", patient_name="Doe^Jane")
    summary = dicomize.run_batch(dicomize.plan_tree(photos, out), out, meta, workers=1)
    assert (summary.converted, summary.failed) == (1, 0)
    ds = pydicom.dcmread(next(out.rglob("*.dcm")))
    assert (ds.PatientID, str(ds.PatientName)) == ("12345", "Doe^Jane")


def test_run_batch_refuses_bad_metadata_before_it_writes_anything(tmp_path: Path) -> None:
    photos, out = tmp_path / "photos", tmp_path / "dicom"
    photos.mkdir()
    (photos / "a.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    with pytest.raises(dicomize.MetadataError, match="PatientSex"):
        dicomize.run_batch(
            dicomize.plan_tree(photos, out), out, dicomize.Metadata(patient_sex="X"), workers=1
        )
    assert not out.exists()


def test_records_refuse_changes_and_positional_fields() -> None:
    options = dicomize.ConvertOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.jpeg_quality = 1  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        dicomize.Metadata("Doe^Jane")  # type: ignore[call-arg]


def test_records_survive_pickling_for_worker_processes(tmp_path: Path) -> None:
    sent = [
        dicomize.ConvertOptions(uid_seed="s"),
        dicomize.SendOptions(basic=("user", "k")),
        dicomize.Metadata(patient_id="1", extra={"AccessionNumber": "A1"}),
        dicomize.BatchItem(
            source=str(tmp_path / "a.png"),
            output=str(tmp_path / "a.dcm"),
            series="s",
            study="t",
            instance_number=1,
        ),
    ]
    assert pickle.loads(pickle.dumps(sent)) == sent  # noqa: S301  (our own bytes)


#: Field names that hold credentials: a record's repr must never show them.
_SECRET_NAME = re.compile(r"secret|password|passwd|token|basic|credential", re.IGNORECASE)


def _records() -> Iterator[type]:
    """Every dataclass of dicomize, from every module (the web page's included)."""
    for module in pkgutil.walk_packages(dicomize.__path__, "dicomize."):
        if module.name.endswith("__main__"):
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value):
                yield value


def test_no_record_shows_a_credential_in_its_repr() -> None:
    records = set(_records())
    assert {"WebSettings", "SendOptions", "ServiceSettings"} <= {cls.__name__ for cls in records}
    shown = {
        f"{cls.__qualname__}.{field.name}"
        for cls in records
        for field in dataclasses.fields(cls)
        if field.repr and _SECRET_NAME.search(field.name)
    }
    assert shown == set()


def test_the_web_settings_repr_hides_the_sign_in_secret() -> None:
    from dicomize.options import SendOptions
    from dicomize.service.web import WebSettings

    hidden = ("s3cr3t", "t0k3n", "pa55word")
    settings = WebSettings(
        state=Path("state"),
        secret=hidden[0],
        worklist_options=SendOptions(token=hidden[1], basic=("user", hidden[2])),
    )
    text = repr(settings)
    assert text.startswith("WebSettings(state=")
    for value in hidden:
        assert value not in text
        assert value not in str(settings)


#: A flag as the command line spells it.
_FLAG = re.compile(r"(?<![\w-])--[a-z]")


def _library_messages() -> Iterator[tuple[str, str]]:
    """Every text in every ``raise`` of the library: all of dicomize but its front ends."""
    root = Path(dicomize.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if {"cli", "service"} & set(path.relative_to(root).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for part in ast.walk(node.exc):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        yield f"{path.relative_to(root)}:{node.lineno}", part.value


def test_no_library_error_names_a_command_line_flag() -> None:
    messages = list(_library_messages())
    assert len(messages) > 100  # the scan reads the raises at all
    assert [f"{where}: {text!r}" for where, text in messages if _FLAG.search(text)] == []


def test_api_errors_name_the_option_and_leave_the_flag_to_the_command_line(
    tmp_path: Path,
) -> None:
    # The command line adds its flags: test_cli (--overwrite), test_vl_photo (--keep-gps).
    existing = tmp_path / "exists.dcm"
    existing.write_bytes(b"precious")
    dataset = dicomize.convert(np.zeros((2, 2), np.uint8), dicomize.Metadata(patient_id="1"))
    with pytest.raises(dicomize.OutputExists) as raised:
        dicomize.write(dataset, existing)
    assert (str(raised.value), raised.value.option) == (f"{existing}: exists", "overwrite")
    with pytest.raises(dicomize.ConfigError) as refused:
        dicomize.ConvertOptions(keep_gps=True)
    assert (refused.value.option, _FLAG.search(str(refused.value))) == ("keep_gps", None)
