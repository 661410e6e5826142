"""3D models for manufacturing: STL, OBJ and MTL, checked by strict readers (PS3.3 A.85).

The Encapsulated STL IOD holds binary STL (A.85.1.4.1); an ASCII STL is turned
into binary STL here, facet for facet, its coordinates rounded to the 32-bit
floats binary STL stores. OBJ and MTL are ASCII (A.85.2.4.1, A.85.3.4.1) and
kept byte for byte. Every reader checks the whole file, so a truncated or
damaged model is refused with the line or facet at fault: a printer or planning
tool that later reads a broken model from the PACS gives no such clue.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from dicomize.documents import Document
from dicomize.errors import CorruptImage, UnsupportedInput

__all__ = ["read_ascii_stl", "read_binary_stl", "read_mtl", "read_obj"]

_STL_HEADER = 80
_FACET = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attributes", "<u2")])
#: A binary STL header must not begin with "solid": readers would take it for ASCII.
_CONVERTED_HEADER = b"binary STL made from ASCII STL by dicomize".ljust(_STL_HEADER, b" ")
#: One ASCII STL facet: 21 words, the numbers at these positions.
_FACET_WORDS = (
    *("facet", "normal", "#", "#", "#", "outer", "loop"),
    *("vertex", "#", "#", "#") * 3,
    *("endloop", "endfacet"),
)
_NUMBERS = [i for i, word in enumerate(_FACET_WORDS) if word == "#"]
_KEYWORDS = [i for i, word in enumerate(_FACET_WORDS) if word != "#"]


def read_binary_stl(data: bytes) -> Document:
    """Check a binary STL: the facet count agrees with the size, every coordinate is a number."""
    _binary_facets(data)
    return Document(data=data, mime_type="model/stl", source_format="STL")


def _binary_facets(data: bytes) -> np.ndarray:
    if len(data) < _STL_HEADER + 4:
        raise CorruptImage("binary STL is shorter than its 84-byte header")
    count = int.from_bytes(data[_STL_HEADER : _STL_HEADER + 4], "little")
    expected = _STL_HEADER + 4 + count * _FACET.itemsize
    if len(data) != expected:
        raise CorruptImage(
            f"binary STL declares {count} facets ({expected} bytes) but has {len(data)} bytes"
        )
    if count == 0:
        raise CorruptImage("STL has no facets")
    facets = np.frombuffer(data, _FACET, count, _STL_HEADER + 4)
    bad = ~np.isfinite(facets["vertices"]).all(axis=(1, 2)) | ~np.isfinite(facets["normal"]).all(
        axis=1
    )
    if bad.any():
        raise CorruptImage(
            f"STL facet {int(np.argmax(bad)) + 1} has a coordinate that is not a number"
        )
    return facets


def read_ascii_stl(data: bytes) -> Document:
    """Check an ASCII STL word by word and store it as the binary STL the IOD requires."""
    try:
        words = data.decode("ascii").split()
    except UnicodeDecodeError as exc:
        raise CorruptImage(f"ASCII STL has a non-ASCII byte at offset {exc.start}") from None
    blocks = [_solid_facets(words, start, end) for start, end in _solids(words)]
    numbers = np.concatenate(blocks) if blocks else np.empty((0, 12), np.float32)
    if len(numbers) == 0:
        raise CorruptImage("STL has no facets")
    facets = np.zeros(len(numbers), _FACET)
    facets["normal"] = numbers[:, :3]
    facets["vertices"] = numbers[:, 3:].reshape(-1, 3, 3)
    if not np.isfinite(numbers).all():
        row = int(np.argmax(~np.isfinite(numbers).all(axis=1)))
        raise CorruptImage(f"STL facet {row + 1} has a coordinate beyond 32-bit floats")
    binary = _CONVERTED_HEADER + len(facets).to_bytes(4, "little") + facets.tobytes()
    return Document(data=binary, mime_type="model/stl", source_format="STL")


def _solids(words: list[str]) -> Iterator[tuple[int, int]]:
    """Yield where the facets of each ``solid ... endsolid`` block start and end."""
    position = 0
    while position < len(words):
        if words[position].lower() != "solid":
            raise CorruptImage(f"ASCII STL: expected 'solid', found {words[position][:20]!r}")
        lowered = [word.lower() for word in words[position + 1 :]]
        try:
            end = position + 1 + lowered.index("endsolid")
        except ValueError:
            raise CorruptImage("ASCII STL has no 'endsolid' (truncated)") from None
        # The solid's name runs up to the first facet.
        start = next(
            (i for i in range(position + 1, end) if words[i].lower() == "facet"),
            end,
        )
        yield start, end
        # endsolid may repeat the name: skip words up to the next solid.
        position = end + 1
        while position < len(words) and words[position].lower() != "solid":
            position += 1


def _solid_facets(words: list[str], start: int, end: int) -> np.ndarray:
    body = words[start:end]
    if len(body) % len(_FACET_WORDS):
        raise CorruptImage(
            f"ASCII STL: a facet is incomplete (after word {start + len(body) // 21 * 21})"
        )
    table = np.array(body, dtype=object).reshape(-1, len(_FACET_WORDS))
    keywords = np.char.lower(table[:, _KEYWORDS].astype(str))
    mismatch = keywords != np.array([_FACET_WORDS[i] for i in _KEYWORDS])
    if mismatch.any():
        row, column = np.argwhere(mismatch)[0]
        raise CorruptImage(
            f"ASCII STL facet {row + 1}: expected {_FACET_WORDS[_KEYWORDS[column]]!r}, "
            f"found {str(table[row, _KEYWORDS[column]])[:20]!r}"
        )
    try:
        with np.errstate(over="ignore"):
            return table[:, _NUMBERS].astype(np.float64).astype(np.float32)
    except ValueError as exc:
        raise CorruptImage(f"ASCII STL: a coordinate is not a number ({exc})") from None


# OBJ (Wavefront, Appendix B1 of the Advanced Visualizer manual): the statements a
# polygonal model uses are checked argument by argument; the free-form geometry and
# display statements are known and kept, their arguments not checked.
_OBJ_FREE_FORM = frozenset(
    (
        *("cstype", "deg", "bmat", "step", "curv", "curv2", "surf", "parm", "trim", "hole"),
        *("scrv", "sp", "end", "con", "mg", "bevel", "c_interp", "d_interp", "lod"),
        *("shadow_obj", "trace_obj", "ctech", "stech", "maplib", "usemap"),
    )
)
_OBJ_VERTICES = {"v": (3, 7), "vt": (1, 3), "vn": (3, 3), "vp": (1, 3)}
_OBJ_NAMES = frozenset(("o", "g", "s", "mtllib", "usemtl"))


def read_obj(data: bytes) -> Document:
    """Check an OBJ statement by statement; every face refers to vertices that exist."""
    counts = dict.fromkeys(_OBJ_VERTICES, 0)
    for number, keyword, arguments in _statements(data, "OBJ"):
        if keyword in _OBJ_VERTICES:
            low, high = _OBJ_VERTICES[keyword]
            _numbers(arguments, low, high, line=number, keyword=keyword, kind="OBJ")
            counts[keyword] += 1
        elif keyword in {"f", "l", "p"}:
            _check_element(keyword, arguments, counts, number)
        elif keyword not in _OBJ_NAMES and keyword not in _OBJ_FREE_FORM:
            raise CorruptImage(f"OBJ line {number}: unknown statement {keyword[:20]!r}")
    if counts["v"] == 0:
        raise CorruptImage("OBJ has no vertices")
    return Document(data=data, mime_type="model/obj", source_format="OBJ")


def _check_element(keyword: str, arguments: list[str], counts: dict[str, int], line: int) -> None:
    least = {"f": 3, "l": 2, "p": 1}[keyword]
    if len(arguments) < least:
        raise CorruptImage(f"OBJ line {line}: '{keyword}' needs at least {least} vertices")
    for reference in arguments:
        parts = reference.split("/")
        if len(parts) > 3 or (keyword != "f" and len(parts) > 2):  # noqa: PLR2004
            raise CorruptImage(f"OBJ line {line}: bad vertex reference {reference[:20]!r}")
        for part, kind in zip(parts, ("v", "vt", "vn"), strict=False):
            if part == "" and kind != "v":
                continue  # v//vn: no texture vertex
            try:
                index = int(part)
            except ValueError:
                raise CorruptImage(
                    f"OBJ line {line}: bad vertex reference {reference[:20]!r}"
                ) from None
            # Positive indices count from 1; negative ones back from the latest (B1-5).
            if index == 0 or index > counts[kind] or -index > counts[kind]:
                raise CorruptImage(
                    f"OBJ line {line}: {reference[:20]!r} refers to a {kind} that does not exist"
                )


# MTL (Wavefront, Appendix B1): colours take 3 numbers (or 1, or a spectral/xyz form),
# scalars 1, illumination models 0-10; texture maps take options and a file name.
_MTL_COLOURS = frozenset(("Ka", "Kd", "Ks", "Ke", "Tf"))
_MTL_SCALARS = frozenset(("Ns", "Ni", "d", "Tr", "sharpness", "Pr", "Pm", "Ps", "Pc", "Pcr"))
_MTL_MAPS = frozenset(("bump", "disp", "decal", "refl", "norm", "aniso", "anisor"))


def read_mtl(data: bytes) -> Document:
    """Check an MTL statement by statement: every material begins with ``newmtl``."""
    materials = 0
    for number, keyword, arguments in _statements(data, "MTL"):
        if keyword == "newmtl":
            if not arguments:
                raise CorruptImage(f"MTL line {number}: 'newmtl' needs a name")
            materials += 1
        elif materials == 0:
            raise CorruptImage(f"MTL line {number}: {keyword[:20]!r} before the first 'newmtl'")
        elif keyword in _MTL_COLOURS:
            if not arguments or arguments[0] not in {"spectral", "xyz"}:
                _numbers(arguments, 1, 3, line=number, keyword=keyword, kind="MTL")
        elif keyword in _MTL_SCALARS:
            _numbers(arguments, 1, 1, line=number, keyword=keyword, kind="MTL")
        elif keyword == "illum":
            if len(arguments) != 1 or not arguments[0].isdigit() or int(arguments[0]) > 10:  # noqa: PLR2004
                raise CorruptImage(f"MTL line {number}: 'illum' takes a model 0 to 10")
        elif not (keyword.startswith("map_") or keyword in _MTL_MAPS):
            raise CorruptImage(f"MTL line {number}: unknown statement {keyword[:20]!r}")
        elif not arguments:
            raise CorruptImage(f"MTL line {number}: {keyword!r} needs a file name")
    if materials == 0:
        raise CorruptImage("MTL defines no material")
    return Document(data=data, mime_type="model/mtl", source_format="MTL")


def _statements(data: bytes, kind: str) -> Iterator[tuple[int, str, list[str]]]:
    """Yield (line number, keyword, arguments) of each statement, joining continued lines."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        at = data[: exc.start].count(b"\n") + 1
        raise UnsupportedInput(
            f"{kind} line {at} is not ASCII; the Encapsulated {kind} IOD holds an ASCII "
            f"{kind} (PS3.3 A.85)"
        ) from None
    pending: list[str] = []
    first = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        statement = raw.split("#", 1)[0].rstrip()
        continued = statement.endswith("\\")
        pending.extend(statement.removesuffix("\\").split())
        first = first or number
        if continued:
            continue
        if pending:
            yield first, pending[0], pending[1:]
        pending, first = [], 0
    if pending:
        yield first, pending[0], pending[1:]


def _numbers(
    arguments: list[str], low: int, high: int, *, line: int, keyword: str, kind: str
) -> None:
    if not low <= len(arguments) <= high:
        wanted = str(low) if low == high else f"{low} to {high}"
        raise CorruptImage(f"{kind} line {line}: {keyword!r} takes {wanted} numbers")
    for argument in arguments:
        try:
            value = float(argument)
        except ValueError:
            raise CorruptImage(f"{kind} line {line}: {argument[:20]!r} is not a number") from None
        if not math.isfinite(value):
            raise CorruptImage(f"{kind} line {line}: {argument[:20]!r} is not a finite number")
