"""The package's structure: imports run one way, and the public API is whole and typed."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from collections.abc import Iterator
from pathlib import Path

import dicomize

PACKAGE = Path(dicomize.__file__).parent


def _modules() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every dicomize module `name` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(name, path):
            module = imported
            while module and module not in modules:  # a name inside a module
                module = module.rpartition(".")[0]
            if module and module != name:
                targets.add(module)
        graph[name] = targets
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 finished

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    graph = _graph()
    assert len(graph) > 40  # the walk found the package
    assert "dicomize.codestreams.jpeg" in graph["dicomize.readers._jpeg"]
    assert _cycle(graph) is None


def test_nothing_outside_the_cli_imports_the_cli() -> None:
    upward = {
        name: sorted(t for t in targets if t.startswith("dicomize.cli"))
        for name, targets in _graph().items()
        if not name.startswith("dicomize.cli") and name != "dicomize.__main__"
    }
    assert {name: targets for name, targets in upward.items() if targets} == {}


def test_every_public_name_imports_from_where_the_table_says() -> None:
    for name in dicomize.__all__:
        assert getattr(dicomize, name) is not None, name
    for name, module in dicomize._LOCATIONS.items():
        assert getattr(importlib.import_module(module), name) is getattr(dicomize, name)


def test_the_type_checkers_names_are_the_table() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    )
    names = {
        (alias.asname or alias.name): node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom) and node.module != "typing"
        for alias in node.names
    }
    assert names == dicomize._LOCATIONS


def _classes_in(annotation: object) -> Iterator[type]:
    if isinstance(annotation, type):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _classes_in(argument)


def test_what_public_functions_return_is_exported() -> None:
    exported = {id(getattr(dicomize, name)) for name in dicomize.__all__}
    # Annotations name types that modules import for type checkers only: resolve them
    # in every dicomize module's namespace.
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    # pydicom's types too: the start-up path names them for type checkers only.
    namespace: dict[str, object] = {"Dataset": Dataset, "DicomSequence": Sequence}
    for module in _modules():
        if module != "dicomize.__main__":
            namespace.update(vars(importlib.import_module(module)))
    checked = 0
    for name in dicomize.__all__:
        member = getattr(dicomize, name)
        if not inspect.isfunction(member):
            continue
        returned = typing.get_type_hints(member, localns=namespace).get("return")
        for cls in _classes_in(returned):
            if cls.__module__.startswith("dicomize"):
                checked += 1
                assert id(cls) in exported, f"{name} returns {cls.__name__}, not exported"
    assert checked >= 8  # Picture, BatchSummary, SendResult, Verdict, ...


#: The layers, top first, as docs/architecture.md lists them: a module
#: imports only from its own layer or the ones after it.
LAYERS = [
    "__main__",
    "__init__",
    "cli",
    "service",
    "batch",
    "worklist_lookup",
    "worklist",
    "pacs",
    "send",
    "validate",
    "consistency",
    "_extract_tiled",
    "_extract",
    "_api",
    "_convert",
    "iods.*",
    "build",
    "exif",
    "reference",
    "inputs",
    "slides",
    "encode",
    "video",
    "readers",
    "options",
    "syntaxes",
    "codestreams",
    "documents",
    "metadata",
    "names",
    "iods",
    "_write",
    "picture",
    "report",
    "files",
    "objectset",
    "dicom",
    "errors",
    "_version",
]


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) > 2 and f"{parts[1]}.*" in LAYERS:  # a package whose modules sit higher
        return LAYERS.index(f"{parts[1]}.*")
    return LAYERS.index(parts[1] if len(parts) > 1 else "__init__")


def test_imports_run_down_the_layers() -> None:
    upward = [
        (name, target)
        for name, targets in _graph().items()
        for target in targets
        if _layer(target) < _layer(name)
    ]
    assert upward == []
