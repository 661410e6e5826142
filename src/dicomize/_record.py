"""Frozen record classes that cost nothing to declare: dicomize's stand-in for dataclasses.

A cold ``dicomize convert photo.jpg`` spent about a third of its time on
:mod:`dataclasses` (``bench/RESULTS.md``, issue 17): importing it imports
:mod:`inspect`, with ``ast``, ``dis`` and ``tokenize``, and every ``@dataclass``
compiles five or six methods from source text when its module loads (0.8 ms a
class here, against 0.01 ms for a plain class). :func:`record` keeps the same
declarations (annotated fields with defaults, :func:`field`, ``__post_init__``,
frozen instances) and gives every record the same few methods, written once
below, so declaring a record only reads its annotations.

Type checkers treat :func:`record` as a dataclass transform (PEP 681): they check
constructor calls and refuse assignments to fields, as for a frozen dataclass.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")
else:

    def dataclass_transform(**_: object) -> object:
        """Stand for :func:`typing.dataclass_transform`, which only informs type checkers."""
        return lambda function: function


__all__ = ["as_dict", "default_of", "field", "field_names", "record", "replace"]

_MISSING = object()


class _Field:
    """What :func:`field` says about one field, until :func:`record` reads it."""

    __slots__ = ("default", "factory", "shown")

    def __init__(self, default: object, factory: Callable[[], object] | None, shown: bool) -> None:
        self.default = default
        self.factory = factory
        self.shown = shown


def field(
    *,
    default: Any = _MISSING,  # noqa: ANN401  (a field of any type)
    default_factory: Callable[[], object] | None = None,
    repr: bool = True,
) -> Any:  # noqa: ANN401  (assigned to a field of any type)
    """Declare a field with a default made per instance, or one left out of ``repr``.

    Parameters
    ----------
    default : object, optional
        The field's default.
    default_factory : callable, optional
        Called with no arguments for each instance that is not given the field.
    repr : bool
        Show the field in the record's ``repr`` (False for secrets).
    """
    if default is not _MISSING and default_factory is not None:
        raise ValueError("a field takes a default or a default_factory, not both")
    return _Field(default, default_factory, repr)


class _Layout:
    """A record class's fields: read once from its annotations by :func:`record`."""

    __slots__ = ("defaults", "factories", "known", "names", "positional", "post_init", "shown")

    def __init__(self, cls: type, kw_only: bool) -> None:
        inherited: _Layout | None = getattr(cls, "__record__", None)
        names: list[str] = []
        hidden: set[str] = set()
        self.defaults: dict[str, object] = {}
        self.factories: dict[str, Callable[[], object]] = {}
        if inherited is not None:
            names.extend(inherited.names)
            hidden.update(inherited.names)
            hidden.difference_update(inherited.shown)
            self.defaults.update(inherited.defaults)
            self.factories.update(inherited.factories)
        # Its own annotations, not its bases' (which inspect.get_annotations would read).
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue  # a class attribute, as dataclasses has it
            if name not in names:
                names.append(name)
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, _Field):
                if not value.shown:
                    hidden.add(name)
                if value.factory is not None:
                    self.factories[name] = value.factory
                    delattr(cls, name)
                    continue
                value = value.default
                if value is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, value)
            if value is not _MISSING:
                self.defaults[name] = value
            elif (self.defaults or self.factories) and not kw_only:
                raise TypeError(f"{cls.__name__}: {name!r} has no default but follows one that has")
        self.names: tuple[str, ...] = tuple(names)
        self.known = frozenset(names)
        self.shown: tuple[str, ...] = tuple(name for name in names if name not in hidden)
        self.positional = 0 if kw_only else len(names)
        self.post_init = hasattr(cls, "__post_init__")


def _init(self: object, *args: object, **kwargs: object) -> None:
    layout = _layout(self)
    values = dict(layout.defaults)
    if args:
        if len(args) > layout.positional:
            raise TypeError(
                f"{type(self).__name__}() takes {layout.positional} positional arguments, "
                f"{len(args)} given"
            )
        values.update(zip(layout.names, args, strict=False))
        twice = kwargs.keys() & set(layout.names[: len(args)])
        if twice:
            raise TypeError(f"{type(self).__name__}() got {sorted(twice)[0]!r} twice")
    if kwargs:
        unknown = kwargs.keys() - layout.known
        if unknown:
            raise TypeError(f"{type(self).__name__}() has no field {sorted(unknown)[0]!r}")
        values.update(kwargs)
    for name, factory in layout.factories.items():
        if name not in values:
            values[name] = factory()
    if len(values) < len(layout.names):
        missing = [name for name in layout.names if name not in values]
        raise TypeError(f"{type(self).__name__}() needs {', '.join(map(repr, missing))}")
    # The instance's own dict, not setattr: the record is frozen from here on.
    self.__dict__.update(values)
    if layout.post_init:
        self.__post_init__()  # type: ignore[attr-defined]


def _setattr(self: object, name: str, _value: object) -> None:
    raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")


def _delattr(self: object, name: str) -> None:
    raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")


def _layout(item: object) -> _Layout:
    layout: _Layout = type(item).__record__  # type: ignore[attr-defined]
    return layout


def _values(self: object) -> tuple[object, ...]:
    return tuple(getattr(self, name) for name in _layout(self).names)


def _eq(self: object, other: object) -> object:  # bool, or NotImplemented for other types
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: object) -> int:
    return hash(_values(self))


def _repr(self: object) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _layout(self).shown)
    return f"{type(self).__qualname__}({shown})"


_MUTABLE: dict[str, object] = {
    "__init__": _init,
    "__eq__": _eq,
    "__hash__": None,
    "__repr__": _repr,
}
_FROZEN = {**_MUTABLE, "__setattr__": _setattr, "__delattr__": _delattr, "__hash__": _hash}


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(*, kw_only: bool = False, frozen: bool = True) -> Callable[[type[_T]], type[_T]]:
    """Make the decorated class a record of its annotated fields, frozen unless told.

    Parameters
    ----------
    kw_only : bool
        Fields are given by keyword only (for records with many fields).
    frozen : bool
        Fields cannot be set after ``__init__`` (and ``__post_init__``), and the
        record hashes by its values. False: fields can be set (counters), and the
        record cannot be hashed.

    Examples
    --------
    >>> @record()
    ... class Point:
    ...     x: int
    ...     y: int = 0
    >>> Point(1)
    Point(x=1, y=0)
    """

    def make(cls: type[_T]) -> type[_T]:
        cls.__record__ = _Layout(cls, kw_only)  # type: ignore[attr-defined]
        for name, method in (_FROZEN if frozen else _MUTABLE).items():
            setattr(cls, name, method)
        return cls

    return make


def field_names(item: object) -> tuple[str, ...]:
    """Return the names of the fields of a record or record class, in declared order."""
    layout: _Layout = item.__record__  # type: ignore[attr-defined]
    return layout.names


def as_dict(item: object) -> dict[str, Any]:
    """Return a record's fields as a dict (values as they are, not copied)."""
    return {name: getattr(item, name) for name in field_names(item)}


def replace(item: _T, /, **changes: object) -> _T:
    """Return a copy of a record with some fields changed, made (and checked) anew."""
    return type(item)(**{**as_dict(item), **changes})


def default_of(cls: type, name: str) -> object:
    """Return the default of one field of a record class (for ``--help`` texts).

    >>> from dicomize.options import ConvertOptions
    >>> default_of(ConvertOptions, "jpeg_quality")
    90
    """
    layout: _Layout = cls.__record__  # type: ignore[attr-defined]
    return layout.defaults[name]
