"""dicomize's records behave as the frozen dataclasses they replace on the start-up paths.

Every option, picture and result object is a :func:`dicomize._record.record`; these
tests hold them to what callers and the batch's worker processes rely on.
"""

from __future__ import annotations

import importlib
import pickle
import pkgutil
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import dicomize
from dicomize._record import as_dict, default_of, field, field_names, record, replace


@record()
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record(kw_only=True)
class Checked:
    size: int
    note: str | None = field(default=None, repr=False)
    label: str = "none"

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must not be negative")
        object.__setattr__(self, "label", self.label.upper())


@record()
class Point3(Point):
    z: int = 0


@record(frozen=False)
class Counter:
    done: int = 0
    unit: ClassVar[str] = "files"


def test_fields_by_position_or_keyword_with_defaults() -> None:
    assert (Point(1).x, Point(1).y) == (1, 0)
    assert Point(1, 2) == Point(x=1, y=2) == Point(y=2, x=1)
    assert field_names(Point) == ("x", "y", "tags")
    assert as_dict(Point(1, 2)) == {"x": 1, "y": 2, "tags": []}
    assert default_of(Point, "y") == 0


def test_a_default_factory_is_called_for_each_instance() -> None:
    first, second = Point(1), Point(2)
    first.tags.append("a")
    assert second.tags == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (Point, "needs 'x'"),
        (lambda: Point(1, 2, [], 4), "takes 3 positional"),  # type: ignore[call-arg]
        (lambda: Point(1, x=2), "'x' twice"),  # type: ignore[misc]
        (lambda: Point(1, w=2), "no field 'w'"),  # type: ignore[call-arg]
        (lambda: Checked(3), "takes 0 positional"),  # type: ignore[call-arg]
    ],
)
def test_wrong_arguments_are_refused_as_python_refuses_them(
    make: Callable[[], object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        make()


def test_post_init_checks_and_may_normalise() -> None:
    assert Checked(size=1, label="x").label == "X"
    with pytest.raises(ValueError, match="negative"):
        Checked(size=-1)


def test_frozen_records_refuse_changes_and_hash_by_value() -> None:
    point = Point(1)
    with pytest.raises(AttributeError, match="frozen"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del point.x
    assert {Checked(size=1): "a"}[Checked(size=1)] == "a"
    with pytest.raises(TypeError, match="unhashable"):
        hash(Point(1))  # its list field, as with a dataclass


def test_a_mutable_record_can_be_changed_and_not_hashed() -> None:
    counter = Counter()
    counter.done += 1
    assert counter == Counter(1)
    assert field_names(Counter) == ("done",)  # a ClassVar is not a field
    assert repr(counter) == "Counter(done=1)"
    with pytest.raises(TypeError, match="unhashable"):
        hash(counter)


def test_equality_needs_the_same_class() -> None:
    assert Point(1) != Point3(1)
    assert Point(1) != (1, 0, [])  # type: ignore[comparison-overlap]


def test_repr_leaves_out_hidden_fields() -> None:
    assert repr(Checked(size=2, note="hidden")) == "Checked(size=2, label='NONE')"
    assert repr(Point3(1)) == "Point3(x=1, y=0, tags=[], z=0)"


def test_replace_makes_and_checks_a_new_record() -> None:
    checked = Checked(size=1, note="k")
    bigger = replace(checked, size=5)
    assert (bigger.size, bigger.note, checked.size) == (5, "k", 1)
    with pytest.raises(ValueError, match="negative"):
        replace(checked, size=-1)


def test_a_subclass_adds_fields_after_its_base() -> None:
    assert field_names(Point3) == ("x", "y", "tags", "z")
    assert Point3(1, 2, [], 3).z == 3


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="'b' has no default"):

        @record()
        class Bad:
            a: int = 0
            b: int  # type: ignore[misc]


def test_records_survive_pickling_for_worker_processes() -> None:
    checked = Checked(size=4, note="k")
    again = pickle.loads(pickle.dumps(checked))  # noqa: S301  (our own bytes)
    assert again == checked
    assert again.note == "k"
    with pytest.raises(AttributeError, match="frozen"):
        again.size = 1


def test_declaring_records_imports_neither_dataclasses_nor_inspect() -> None:
    code = (
        "import sys\n"
        "from dicomize._record import record\n"
        "@record()\n"
        "class A:\n"
        "    x: int = 0\n"
        "assert A(1).x == 1\n"
        "print(sorted({'dataclasses', 'inspect', 'typing'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


#: Field names that hold credentials: a record's repr must never show them.
_SECRET_NAME = re.compile(r"secret|password|passwd|token|basic|credential", re.IGNORECASE)


def _records() -> Iterator[type]:
    """Every record class of dicomize, from every module (the web page's included)."""
    for module in pkgutil.walk_packages(dicomize.__path__, "dicomize."):
        if module.name.endswith("__main__"):
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, type) and "__record__" in vars(value):
                yield value


def test_no_record_shows_a_credential_in_its_repr() -> None:
    records = set(_records())
    assert {"WebSettings", "SendOptions", "ServiceSettings"} <= {cls.__name__ for cls in records}
    shown = {
        f"{cls.__qualname__}.{name}"
        for cls in records
        for name in cls.__record__.shown  # type: ignore[attr-defined]
        if _SECRET_NAME.search(name)
    }
    assert shown == set()


def test_the_web_settings_repr_hides_the_sign_in_secret() -> None:
    from dicomize.options import SendOptions  # noqa: PLC0415
    from dicomize.service.web import WebSettings  # noqa: PLC0415

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
