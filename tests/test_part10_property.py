"""Property: dicomize's Part 10 encoder writes what pydicom's dcmwrite writes, for any dataset.

The objects are made of real dictionary attributes with their own VR, over every VR of
PS3.5 Table 6.2-1; values of every shape (empty, one, several, odd and even lengths, long
enough for a 4-byte length); ASCII text with no Specific Character Set, or UTF-8 text
under ``ISO_IR 192``; sequences nested three deep, with empty sequences and empty items.
pydicom checks each value as it takes it (a warning fails the test), so every value is one
a conforming file may hold. The few shapes the encoder leaves to pydicom are tested below.
"""

from __future__ import annotations

import datetime as dt
import string
import warnings
from collections import defaultdict
from typing import Any

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import config
from pydicom._dicom_dict import DicomDictionary
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from dicomize.dicom.part10 import (
    _REMEMBERED_TAGS,
    Element,
    Part10Object,
    _encode,
    _Fallback,
)
from dicomize.dicom.uids import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    SECONDARY_CAPTURE_IMAGE_STORAGE,
)
from dicomize.dicom.vr import TEXT_VRS
from test_part10 import _dcmwrite_bytes, _part10_bytes

#: Every VR of PS3.5 Table 6.2-1.
VRS = (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF",
    "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN",
    "UR", "US", "UT", "UV",
)  # fmt: skip
SOP_CLASS, SOP_INSTANCE = 0x00080016, 0x00080018
#: Attributes the object's other parts decide: the character set (from the text), the SOP
#: UIDs (drawn to agree with the meta or not, below), and the meta group.
DECIDED = {0x00080005, SOP_CLASS, SOP_INSTANCE}
#: The Command Set (PS3.7 E.1), the meta, and the item delimitation tags (PS3.5 7.5).
NOT_IN_DATASET = {0x0000, 0x0002, 0xFFFE}


def _tags_by_vr() -> dict[str, list[int]]:
    tags: dict[str, list[int]] = defaultdict(list)
    for tag, (vr, *_) in DicomDictionary.items():
        group = tag >> 16
        if vr in VRS and group not in NOT_IN_DATASET and tag & 0xFFFF and tag not in DECIDED:
            tags[vr].append(tag)
    return {vr: sorted(tags[vr]) for vr in VRS}


TAGS = _tags_by_vr()
#: Tags whose text the encoder keeps from object to object, per VR: drawn often too.
REMEMBERED = {vr: sorted(set(tags) & _REMEMBERED_TAGS) for vr, tags in TAGS.items()}
LONG = 0x10000  # past what a 2-byte length holds
META: list[Element] = [
    (0x00020002, "UI", SECONDARY_CAPTURE_IMAGE_STORAGE, False),
    (0x00020003, "UI", "1.2.826.0.1.3680043.2.1143.1", False),
    (0x00020010, "UI", EXPLICIT_VR_LITTLE_ENDIAN, False),
    (0x00020012, "UI", IMPLEMENTATION_CLASS_UID, False),
    (0x00020013, "SH", IMPLEMENTATION_VERSION_NAME, False),
]

# Text: printable ASCII, and for the VRs that Specific Character Set affects (PS3.5
# 6.1.2.3) under ISO_IR 192, any character UTF-8 encodes but controls and surrogates.
ASCII = string.ascii_letters + string.digits + " !\"#$%&'()*+,-./:;<>?@[]_`{|}~^=\\"
UNICODE = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
#: Characters no value may hold: the value delimiter, and a PN's delimiters in a component.
NOT_IN_VALUE = "\\"
NOT_IN_NAME = "\\^="


def _text(utf8: bool, *, max_size: int, exclude: str = NOT_IN_VALUE) -> st.SearchStrategy[str]:
    ascii_chars = st.sampled_from([c for c in ASCII if c not in exclude])
    chars = st.one_of(ascii_chars, UNICODE.filter(lambda c: c not in exclude))
    return st.text(chars if utf8 else ascii_chars, max_size=max_size)


def _long_text(unit: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Text past 64 KiB: a drawn piece repeated (hypothesis draws no such lengths itself)."""
    return st.tuples(unit.filter(bool), st.integers(LONG, LONG + 9)).map(
        lambda drawn: (drawn[0] * (drawn[1] // len(drawn[0]) + 1))[: drawn[1]]
    )


def _ds() -> st.SearchStrategy[Any]:
    digits = st.text(string.digits, min_size=1, max_size=5)
    text = st.builds(
        lambda pad, sign, whole, fraction, exponent, tail: (
            f"{pad}{sign}{whole}{fraction}{exponent}{tail}"
        ),
        st.sampled_from(["", " "]),
        st.sampled_from(["", "-", "+"]),
        digits,
        st.sampled_from(["", "."]) | digits.map(lambda d: "." + d),
        st.sampled_from(["", "e5", "E-3", "e+12"]),
        st.sampled_from(["", " ", "  "]),
    ).filter(lambda ds: len(ds) <= 16)
    floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: len(repr(f)) <= 16)
    return st.one_of(text, floats, st.integers(-(10**9), 10**9), st.just(" "))


def _is() -> st.SearchStrategy[Any]:
    number = st.integers(-(2**31), 2**31 - 1)
    text = st.builds(
        lambda pad, n, zeros, tail: f"{pad}{'-' if n < 0 else ''}{zeros}{abs(n)}{tail}",
        st.sampled_from(["", " ", "+"]),
        number,
        st.sampled_from(["", "0", "00"]),
        st.sampled_from(["", " "]),
    ).filter(lambda s: len(s) <= 12 and not s.startswith("+-"))
    return st.one_of(text, number, number.map(float))


def _date() -> st.SearchStrategy[str]:
    return st.dates(dt.date(1000, 1, 1), dt.date(2999, 12, 31)).map(
        lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}"
    )


def _time() -> st.SearchStrategy[str]:
    return st.builds(
        lambda t, cut, fraction: (
            f"{t.hour:02d}{t.minute:02d}{t.second:02d}"[:cut]
            + (f".{t.microsecond:06d}"[: fraction + 1] if cut == 6 and fraction else "")
        ),
        st.times(),
        st.sampled_from([2, 4, 6]),
        st.integers(0, 6),
    )


def _datetime() -> st.SearchStrategy[str]:
    return st.builds(
        lambda date, time, cut, offset: (date + time)[:cut] + offset,
        _date(),
        _time().filter(lambda t: len(t) >= 6),
        st.sampled_from([4, 6, 8, 10, 12, 14, 21]),
        st.sampled_from(["", "+0100", "-0530", "+0000"]),
    )


def _uid() -> st.SearchStrategy[str]:
    component = st.one_of(st.just("0"), st.integers(1, 10**12).map(str))
    return (
        st.lists(component, min_size=2, max_size=10)
        .map(".".join)
        .filter(lambda uid: len(uid) <= 64)
    )


def _person_name(utf8: bool) -> st.SearchStrategy[str]:
    component = _text(utf8, max_size=6, exclude=NOT_IN_NAME)
    group = st.lists(component, min_size=1, max_size=5).map("^".join)
    # Trailing empty components and groups too: PS3.5 6.2.1.1 lets them go, pydicom drops
    # the groups.
    return (
        st.lists(group, min_size=1, max_size=3)
        .map("=".join)
        .filter(lambda name: all(len(group) <= 64 for group in name.split("=")))
    )


UR_CHARS = string.ascii_letters + string.digits + "_:/?#[]@!$&'()*+,;=%-.~"


def _one_text(vr: str, utf8: bool) -> st.SearchStrategy[Any]:  # noqa: PLR0911
    """One value of a string VR, as text (or the number pydicom takes for DS and IS)."""
    charset = utf8 and vr in TEXT_VRS
    match vr:
        case "AE":
            return st.text(st.sampled_from(ASCII.replace("\\", "")), max_size=16)
        case "AS":
            return st.builds(
                lambda n, unit: f"{n:03d}{unit}", st.integers(0, 999), st.sampled_from("DWMY")
            )
        case "CS":
            return st.text(
                st.sampled_from(string.ascii_uppercase + string.digits + " _"), max_size=16
            )
        case "DA":
            return _date()
        case "DS":
            return _ds()
        case "DT":
            return _datetime()
        case "IS":
            return _is()
        case "PN":
            return _person_name(charset)
        case "TM":
            return _time()
        case "UI":
            return _uid()
        case "UR":
            return st.builds(
                str.__add__,
                st.text(st.sampled_from(UR_CHARS), max_size=30),
                st.sampled_from(["", " "]),
            )
    limits = {"SH": 16, "LO": 64, "UC": 40, "ST": 200, "LT": 300, "UT": 300}
    # ST, LT and UT hold one value, in which a backslash is text (PS3.5 6.2), as are the
    # controls they allow.
    single = vr in {"ST", "LT", "UT"}
    text = _text(charset, max_size=limits[vr], exclude="" if single else NOT_IN_VALUE)
    if single:
        text = st.lists(st.one_of(text, st.sampled_from("\r\n\t\f")), max_size=4).map("".join)
    return text


SINGLE_VALUED = {"LT", "ST", "UT", "UR"}


@st.composite
def _string_value(draw: st.DrawFn, vr: str, utf8: bool) -> Any:
    one = _one_text(vr, utf8)
    if vr in {"UC", "UT", "UR"} and draw(st.integers(0, 9)) == 0:
        # A UR holds no space but trailing padding: the piece repeated has none.
        return draw(_long_text(one.filter(lambda text: text.strip() and " " not in text)))
    shape = draw(st.sampled_from(["empty", "one", "one", "list", "joined"]))
    if shape == "empty":
        empty: list[Any] = ["", None] if vr in SINGLE_VALUED else ["", None, []]
        return draw(st.sampled_from(empty))
    if shape == "one" or vr in SINGLE_VALUED:
        return draw(one)
    values = draw(st.lists(one, min_size=0 if shape == "list" else 2, max_size=4))
    if shape == "list" or not all(isinstance(value, str) for value in values):
        return values
    return "\\".join(values)  # several values in one string, as a user writes them


#: Each VR's value is whole units of this many bytes. UN of odd length is left out: pydicom
#: writes it odd, with no padding, where PS3.5 7.1.1 requires an even Value Length; dicomize
#: pads it (test_an_odd_un_value_is_padded_as_dcmwrite_does_not below). An odd OB is in.
BINARY_UNIT = {"OB": 1, "UN": 2, "OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
NUMBERS = {
    "US": st.integers(0, 0xFFFF),
    "SS": st.integers(-0x8000, 0x7FFF),
    "UL": st.integers(0, 0xFFFFFFFF),
    "SL": st.integers(-0x80000000, 0x7FFFFFFF),
    "SV": st.integers(-(2**63), 2**63 - 1),
    "UV": st.integers(0, 2**64 - 1),
    "FL": st.floats(width=32),
    "FD": st.floats(),
}
#: VRs whose values, however many, have a 4-byte length (PS3.5 7.1.2): long lists of them.
LONG_NUMBERS = {"SV", "UV"}


@st.composite
def _binary(draw: st.DrawFn, vr: str) -> bytes:
    unit = BINARY_UNIT[vr]
    if draw(st.integers(0, 7)) == 0:  # past 64 KiB
        piece = draw(st.binary(min_size=1, max_size=16))
        size = draw(st.integers(LONG, LONG + 17)) // unit * unit
        return (piece * (size // len(piece) + 1))[:size]
    data = draw(st.binary(max_size=40))
    return data[: len(data) // unit * unit]


@st.composite
def _number_value(draw: st.DrawFn, vr: str) -> Any:
    number = NUMBERS[vr]
    if vr in LONG_NUMBERS and draw(st.integers(0, 7)) == 0:
        return draw(st.lists(number, min_size=1, max_size=3)) * (LONG // 8 + 1)
    return draw(st.one_of(number, st.lists(number, max_size=5), st.none()))


@st.composite
def _at_value(draw: st.DrawFn) -> Any:
    tag = st.one_of(
        st.integers(0, 0xFFFFFFFF),
        st.sampled_from(TAGS["US"][:50]).map(lambda t: keyword_for_tag(t) or t),
    )
    return draw(st.one_of(tag, st.lists(tag, max_size=4), st.none()))


@st.composite
def _elements(draw: st.DrawFn, utf8: bool, depth: int, max_size: int) -> list[tuple[int, str, Any]]:
    """Sorted elements of distinct tags; sequences only while `depth` allows."""
    vrs = VRS if depth else tuple(vr for vr in VRS if vr != "SQ")
    chosen = draw(st.lists(st.sampled_from(vrs), max_size=max_size))
    if depth and draw(st.booleans()):
        chosen.append("SQ")  # so that sequences nest, often, as deep as allowed
    drawn: dict[int, tuple[int, str, Any]] = {}
    for vr in chosen:
        tags = TAGS[vr]
        if draw(st.booleans()) and REMEMBERED[vr]:
            tags = REMEMBERED[vr]
        tag = draw(st.sampled_from(tags))
        drawn[tag] = (tag, vr, draw(_value(vr, utf8, depth)))
    return [drawn[tag] for tag in sorted(drawn)]


def _value(vr: str, utf8: bool, depth: int) -> st.SearchStrategy[Any]:
    if vr == "SQ":
        return _sequence(utf8, depth)
    if vr == "AT":
        return _at_value()
    if vr in BINARY_UNIT:
        return st.one_of(_binary(vr), st.sampled_from([b"", None]))
    if vr in NUMBERS:
        return _number_value(vr)
    return _string_value(vr, utf8)


@st.composite
def _sequence(draw: st.DrawFn, utf8: bool, depth: int) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from([[], None]))  # an empty sequence (Type 2)
    items = []
    for elements in draw(st.lists(_elements(utf8, depth - 1, max_size=3), max_size=3)):
        item = Dataset()  # may stay empty: an empty item
        for tag, vr, value in elements:
            item[tag] = DataElement(tag, vr, value, validation_mode=config.WARN)
        items.append(item)
    return items


@st.composite
def objects(draw: st.DrawFn) -> Part10Object:
    """A Part10Object as dicomize's builders lay one out: sorted elements, meta first."""
    utf8 = draw(st.booleans())
    elements = draw(_elements(utf8, 3, max_size=10))
    if utf8:
        # Text that needs it, as dicomize sets ISO_IR 192 only for such text.
        vr = draw(st.sampled_from(sorted(TEXT_VRS)))
        tag = draw(st.sampled_from(TAGS[vr]))
        text = draw(_one_text(vr, utf8).filter(lambda text: not text.isascii()))
        elements = [element for element in elements if element[0] != tag] + [(tag, vr, text)]
        elements.append((0x00080005, "CS", "ISO_IR 192"))
    body: list[Element] = [(tag, vr, value, False) for tag, vr, value in elements]
    # The SOP UIDs: absent, or the meta's (as dicomize writes them), or changed after.
    sop = draw(st.sampled_from(["none", "same", "same", "same", "changed"]))
    if sop != "none":
        body.append((SOP_CLASS, "UI", META[0][2], False))
        uid = META[1][2] if sop == "same" else "1.2.826.0.1.3680043.2.1143.2"
        body.append((SOP_INSTANCE, "UI", uid, False))
    body.sort(key=lambda element: element[0])
    return Part10Object(meta=list(META), body=body, charset="ISO_IR 192" if utf8 else "")


def _first_difference(written: bytes, expected: bytes) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(written, expected, strict=False)) if a != b),
        min(len(written), len(expected)),
    )
    near = slice(max(at - 16, 0), at + 32)
    return f"first difference at byte {at}: {written[near]!r} != {expected[near]!r}"


@settings(max_examples=300, deadline=None)
@given(objects())
def test_the_encoder_writes_what_dcmwrite_writes(obj: Part10Object) -> None:
    expected = _dcmwrite_bytes(obj.to_dataset())
    written = _part10_bytes(obj)
    assert written == expected, _first_difference(written, expected)
    # Again, with the text the first write remembered, and from a pydicom Dataset (whose
    # values are pydicom's: DSfloat, IS, PersonName, MultiValue, Sequence).
    assert _part10_bytes(obj) == expected
    from_dataset = _part10_bytes(obj.to_dataset())
    assert from_dataset == expected, _first_difference(from_dataset, expected)


def _one(tag: int, vr: str, value: Any) -> Part10Object:
    return Part10Object(meta=list(META), body=[(tag, vr, value, False)])


def test_the_property_draws_every_vr() -> None:
    assert all(TAGS[vr] for vr in VRS)
    assert {vr for vr, tags in REMEMBERED.items() if tags} >= {"CS", "LO", "IS"}


@pytest.mark.parametrize(
    "elements",
    [
        # An ambiguous VR needs the rest of the dataset to resolve (PS3.5 A.1 c: Pixel
        # Representation; Waveform Bits Allocated): dcmwrite writes such a dataset.
        [("PixelRepresentation", "US", 1), ("SmallestImagePixelValue", "US or SS", -5)],
        [("WaveformBitsAllocated", "US", 16), ("ChannelMinimumValue", "OB or OW", b"\0\1")],
        # A value past what a 2-byte length holds: pydicom writes it as UN (PS3.5 6.2.2),
        # and says so.
        [("SimpleFrameList", "UL", [7] * (LONG // 4))],
        # Meta that dcmwrite completes: the SOP Instance UID changed after the meta was made
        # (PS3.10 7.1: the Media Storage SOP Instance UID is the dataset's).
        [("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.2.1143.3")],
    ],
    ids=["US or SS", "OB or OW", "too long for its VR", "new SOP Instance UID"],
)
def test_what_the_encoder_leaves_to_dcmwrite_is_written_by_it(
    elements: list[tuple[str, str, Any]],
) -> None:
    body: list[Element] = [
        (pydicom.datadict.tag_for_keyword(keyword), vr, value, False)  # type: ignore[misc]
        for keyword, vr, value in elements
    ]
    obj = Part10Object(meta=list(META), body=sorted(body, key=lambda element: element[0]))
    with pytest.raises(_Fallback):
        list(_encode(obj))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The value for the data element", UserWarning)
        assert _part10_bytes(obj) == _dcmwrite_bytes(obj.to_dataset())


@pytest.mark.parametrize("dropped", [0x00020001, 0x00020012, 0x00020013])
def test_meta_that_lacks_an_element_is_completed_as_dcmwrite_completes_it(dropped: int) -> None:
    meta = [element for element in META if element[0] != dropped]
    if dropped == 0x00020001:  # the version, present but empty
        meta.insert(0, (dropped, "OB", b"", False))
    obj = Part10Object(meta=meta, body=[])
    assert _part10_bytes(obj) == _dcmwrite_bytes(obj.to_dataset())


def test_meta_without_a_sop_class_is_refused_as_dcmwrite_refuses_it() -> None:
    obj = Part10Object(meta=META[1:], body=[])  # nor a SOP Class UID in the dataset
    with pytest.raises(AttributeError, match="Media Storage SOP Class UID"):
        _part10_bytes(obj)


@pytest.mark.parametrize(
    ("tag", "vr", "value", "error"),
    [
        (0x00080070, "XX", "x", "unknown Value Representation 'XX'"),
        (0x00000100, "US", 1, "Command Set elements"),  # Command Field, of a DIMSE message
        (0x00020016, "AE", "HERE", "File Meta Information"),  # the meta's, not the dataset's
    ],
)
def test_what_dcmwrite_refuses_the_encoder_refuses(
    tag: int, vr: str, value: Any, error: str
) -> None:
    obj = _one(tag, vr, value)
    with pytest.raises((NotImplementedError, ValueError), match=error):
        _part10_bytes(obj)
    with pytest.raises((NotImplementedError, ValueError), match=error):
        _dcmwrite_bytes(obj.to_dataset())


def test_an_odd_un_value_is_padded_as_dcmwrite_does_not() -> None:
    # PS3.5 7.1.1: a Value Length is even; 6.2 (OB, UN): an odd value takes a trailing 00H.
    # pydicom's write_UN writes the value as it is, odd; dicomize writes what dcmwrite writes
    # for the value padded.
    tag = pydicom.datadict.tag_for_keyword("SelectorUNValue")
    assert tag is not None
    written = _part10_bytes(_one(tag, "UN", b"odd"))
    assert written.endswith(b"UN\0\0\4\0\0\0odd\0")
    assert written == _dcmwrite_bytes(_one(tag, "UN", b"odd\0").to_dataset())
    assert _dcmwrite_bytes(_one(tag, "UN", b"odd").to_dataset()).endswith(b"\3\0\0\0odd")
