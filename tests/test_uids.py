"""UIDs: the DICOM ones are named once, and the ones made without uuid are the UUIDs it makes."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterator
from pathlib import Path

from pydicom.uid import UID

import dicomize
from dicomize.dicom import uids
from dicomize.dicom.uids import derive_uid, is_valid_uid, new_uid

PACKAGE = Path(dicomize.__file__).parent
DICOM_ROOT = "1.2.840.10008"

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "dicomize deterministic uids")


def test_derived_uids_are_the_version_5_uuids_of_earlier_releases() -> None:
    for parts in [("seed", "sop", "photos/a.jpg"), ("clinic-42", "study"), ("é", "ü")]:
        expected = uuid.uuid5(NAMESPACE, "\x1f".join(parts)).int
        assert derive_uid(*parts) == f"2.25.{expected}"


def test_new_uids_are_random_version_4_uuids() -> None:
    made = {new_uid() for _ in range(200)}
    assert len(made) == 200
    for uid in made:
        assert is_valid_uid(uid)
        value = uuid.UUID(int=int(uid.removeprefix("2.25.")))
        assert (value.version, value.variant) == (4, uuid.RFC_4122)


def test_uids_under_a_root_fill_the_64_characters() -> None:
    root = "1.2.826.0.1.3680043.10.543"
    for uid in (new_uid(root), derive_uid("seed", "x", root=root)):
        assert uid.startswith(root + ".")
        assert is_valid_uid(uid)
        assert len(uid) == 64


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the module, class and function docstring nodes of `tree`."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _dicom_literals(source: str) -> Iterator[tuple[int, str]]:
    """Each string constant (f-string parts included) in `source` under the DICOM UID root."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(DICOM_ROOT)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def test_the_literal_finder_skips_docstrings_and_sees_f_strings() -> None:
    source = (
        '"""Module: 1.2.840.10008.1.2"""\n'
        "def f() -> str:\n"
        '    """1.2.840.10008.1.2.1"""\n'
        '    return "1.2.840.10008.1.2.2"\n'
        'G = {f"1.2.840.10008.1.2.4.{n}" for n in range(3)}\n'
    )
    assert list(_dicom_literals(source)) == [
        (4, "1.2.840.10008.1.2.2"),
        (5, "1.2.840.10008.1.2.4."),
    ]


def test_no_dicom_uid_is_spelled_out_outside_the_dicom_package() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.parent != PACKAGE / "dicom"
        for line, value in _dicom_literals(path.read_text(encoding="utf-8"))
    ]
    assert not found, "name these in dicomize/dicom/uids.py:\n" + "\n".join(found)


def test_each_named_dicom_uid_is_registered_and_named_once() -> None:
    named = {
        name: value
        for name, value in vars(uids).items()
        if name.isupper() and isinstance(value, str) and value.startswith(DICOM_ROOT)
    }
    prefixes = {"ENCAPSULATED_SYNTAX_PREFIX", "VIDEO_SYNTAX_PREFIX"}
    for name, value in named.items():
        if name not in prefixes:
            assert UID(value).name != value, f"{name} = {value} is not in PS3.6 Annex A"
    values = [value for name, value in named.items() if name not in prefixes]
    assert len(values) == len(set(values)), "a UID has two names"
    assert {
        *uids.FRAGMENTABLE_VIDEO_SYNTAXES,
        *uids.FRAGMENTABLE_VIDEO_SYNTAXES.values(),
        uids.HEVC_MP51,
        uids.HEVC_M10P51,
    } == uids.ALL_VIDEO_SYNTAXES
