"""Validation and normalisation of user-supplied attribute values.

The limits are those of PS3.5 Table 6.2-1 as dciodvfy applies them: string
lengths are counted in bytes of the UTF-8 encoding (dicomize writes
``ISO_IR 192`` whenever text is not ASCII), a PN's 64-byte limit applies to the
whole value, and dates must be real Gregorian dates.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence

from dicomize.dicom.dictionary import lookup
from dicomize.dicom.terms import ENUMERATED
from dicomize.dicom.uids import is_valid_uid
from dicomize.errors import MetadataError

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Final, TypeAlias

    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

__all__ = [
    "TEXT_VRS",
    "Value",
    "datetime_of",
    "is_pydicom",
    "utc_offset",
    "utc_zone",
    "validate_attribute",
]

#: A normalised value: one string or number, a list of them for multi-valued attributes,
#: or the items of a sequence (copied from a reference file).
Value: TypeAlias = (
    "str | int | float | list[str] | list[int] | list[float] | DicomSequence | list[Dataset]"
)

#: VRs whose values use the Specific Character Set (PS3.5 6.1.2.3).
TEXT_VRS: Final = frozenset({"SH", "LO", "ST", "LT", "PN", "UC", "UT"})

# Single-valued text VRs in which a backslash is an ordinary character (PS3.5 6.2).
_UNSPLIT_VRS: Final = frozenset({"ST", "LT", "UT", "UR"})
_BINARY_VRS: Final = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "SQ"})
_MAX_BYTES: Final = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "ST": 1024, "LT": 10240}

# Attributes dicomize derives itself: from the pixels (group 0028), the IOD, the
# text (Specific Character Set) or the file format (group 0002).
_DERIVED_GROUPS: Final = frozenset({0x0002, 0x0028, 0x7FE0})
_DERIVED: Final = frozenset({"SOPClassUID", "SpecificCharacterSet", "NumberOfFrames"})
# Group 0028 attributes that state facts about content or its history, not about the
# pixel encoding: a user may know that a PNG was once a JPEG (C.7.6.1.1.5).
_USER_0028: Final = frozenset(
    {
        "BurnedInAnnotation",
        "RecognizableVisualFeatures",
        "QualityControlImage",
        "LossyImageCompression",
        "LossyImageCompressionMethod",
        "LossyImageCompressionRatio",
    }
)

# Keywords that must not be empty because dicomize writes them as Type 1.
_NOT_EMPTY: Final = frozenset({"ConversionType", "ImageType"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # LT/ST/UT allow TAB LF FF CR
_CS = re.compile(r"^[A-Z0-9 _]*$")
_AS = re.compile(r"^\d{3}[DWMY]$")
_IS = re.compile(r"^[+-]?\d+$")
_DS = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DA = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_TM = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$")
_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$")
_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})$")
_ORIENTATION_LETTERS = frozenset("APRLHF")
_INT_RANGES: Final = {
    "US": (0, 2**16 - 1),
    "SS": (-(2**15), 2**15 - 1),
    "UL": (0, 2**32 - 1),
    "SL": (-(2**31), 2**31 - 1),
    "IS": (-(2**31 - 1), 2**31 - 1),
}


def _sequence(value: object) -> Value | None:
    """Return a sequence's items, or None when `value` is not a list of items."""
    if _datasets(value):
        return value  # type: ignore[return-value]  # datasets copied from a reference file
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        # Items as {keyword: value} (JSON metadata, --concept-name): each value is checked.
        return [_item(item) for item in value]
    return None


def is_pydicom(value: object, kind: str) -> bool:
    """Tell whether `value` is a pydicom ``"dataset.Dataset"`` or ``"sequence.Sequence"``.

    An object of pydicom's exists only once pydicom is loaded, so text and numbers
    are told apart from datasets without loading it.
    """
    module, name = kind.split(".")
    loaded = sys.modules.get(f"pydicom.{module}")
    return loaded is not None and isinstance(value, getattr(loaded, name))


def _datasets(value: object) -> bool:
    """Tell whether `value` holds pydicom datasets (items copied from a reference file)."""
    return (isinstance(value, list) or is_pydicom(value, "sequence.Sequence")) and all(
        is_pydicom(item, "dataset.Dataset")
        for item in value  # type: ignore[attr-defined]
    )


def _item(values: Mapping[str, object]) -> Dataset:
    from pydicom.dataset import Dataset  # sequences only

    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, validate_attribute(keyword, value))
    return item


def validate_attribute(keyword: str, value: object) -> Value:
    """Check one user-supplied attribute and return its normalised DICOM value.

    Parameters
    ----------
    keyword : str
        A DICOM keyword from the PS3.6 dictionary.
    value : object
        A string (multiple values separated by backslashes), a number, a
        ``datetime.date``/``time``/``datetime`` for DA/TM/DT, or a list of those.

    Returns
    -------
    Value
        The value as it will be written: dates as ``YYYYMMDD``, times as
        ``HHMMSS``, CS upper-cased, surrounding spaces removed.

    Raises
    ------
    MetadataError
        Naming the keyword, the value and the rule it breaks.

    Examples
    --------
    >>> validate_attribute("PatientBirthDate", "1980-01-31")
    '19800131'
    >>> validate_attribute("PatientSex", "f")
    'F'
    >>> validate_attribute("StudyDate", "2023-13-45")
    Traceback (most recent call last):
    ...
    dicomize.errors.MetadataError: StudyDate = '2023-13-45': not a calendar date (month 13, day 45)
    """
    entry = lookup(keyword)
    if entry is None:
        raise MetadataError(keyword, value, "not a DICOM keyword (PS3.6 data dictionary)")
    tag, vr, multiplicity = entry
    group = tag >> 16
    if keyword in _DERIVED or (group in _DERIVED_GROUPS and keyword not in _USER_0028):
        raise MetadataError(
            keyword, value, "derived by dicomize from the pixels and the IOD; it cannot be set"
        )
    if group % 2:
        raise MetadataError(keyword, value, "private attributes cannot be set")
    sequence = _sequence(value) if vr == "SQ" else None
    if sequence is not None:
        return sequence
    if vr in _BINARY_VRS or " or " in vr:
        raise MetadataError(keyword, value, f"VR {vr} values cannot be given as text")

    items = _split(value, vr)
    _check_multiplicity(keyword, value, items, multiplicity)
    check = _CHECKS.get(vr, _check_text)
    normalised = [check(keyword, vr, item) for item in items]

    if keyword in ENUMERATED:
        allowed = ENUMERATED[keyword]
        for item in normalised:
            if item != "" and item not in allowed:
                raise MetadataError(
                    keyword,
                    value,
                    f"must be one of {', '.join(sorted(allowed))}"
                    + (" (leave empty when unknown)" if keyword == "PatientSex" else ""),
                )
    if keyword in _NOT_EMPTY and all(item in ("", None) for item in normalised):
        raise MetadataError(keyword, value, "must not be empty")
    rule = _KEYWORD_RULES.get(keyword)
    if rule is not None:
        rule(value, normalised)

    if len(normalised) == 1:
        return normalised[0]  # type: ignore[return-value]  # each check returns a Value item
    return normalised  # type: ignore[return-value]


def _split(value: object, vr: str) -> list[object]:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str) and vr not in _UNSPLIT_VRS and "\\" in value:
        return list(value.split("\\"))
    return [value]


def _check_multiplicity(keyword: str, value: object, items: Sequence[object], vm: str) -> None:
    if len(items) == 1 and items[0] in ("", None):
        return  # an empty value is always allowed (Type 2 "unknown")
    low_text, _, high_text = vm.partition("-")
    low = int(low_text)
    high = low if not high_text else (math.inf if high_text.endswith("n") else int(high_text))
    if not low <= len(items) <= high:
        raise MetadataError(keyword, value, f"takes {vm} value(s), got {len(items)}")


def _as_text(keyword: str, vr: str, item: object) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, int | float) and not isinstance(item, bool) and vr in {"IS", "DS"}:
        return str(item)
    raise MetadataError(keyword, item, f"expected text for VR {vr}, got {type(item).__name__}")


def _check_length(keyword: str, vr: str, text: str, original: object) -> None:
    limit = _MAX_BYTES.get(vr)
    size = len(text.encode("utf-8"))
    if limit is not None and size > limit:
        raise MetadataError(
            keyword, original, f"{size} bytes in UTF-8; VR {vr} allows at most {limit}"
        )


def _check_text(keyword: str, vr: str, item: object) -> str:
    text = _as_text(keyword, vr, item)
    if vr in _UNSPLIT_VRS:
        text = text.rstrip(" ")
        if _TEXT_CONTROL.search(text):
            raise MetadataError(keyword, item, f"control characters are not allowed in VR {vr}")
    else:
        text = text.strip(" ")
        if _CONTROL.search(text):
            raise MetadataError(
                keyword, item, "control characters (such as newlines) are not allowed"
            )
        if "\\" in text:
            raise MetadataError(
                keyword, item, "a backslash separates values and cannot be used in one"
            )
    _check_length(keyword, vr, text, item)
    return text


def _check_ae(keyword: str, vr: str, item: object) -> str:
    text = _check_text(keyword, vr, item)
    if not text.isascii():
        raise MetadataError(keyword, item, "AE titles use ASCII characters only")
    return text


def _check_pn(keyword: str, vr: str, item: object) -> str:
    text = _check_text(keyword, vr, item)
    groups = text.split("=")
    if len(groups) > 3:  # noqa: PLR2004  (alphabetic=ideographic=phonetic)
        raise MetadataError(keyword, item, "a person name has at most 3 component groups ('=')")
    if any(group.count("^") > 4 for group in groups):  # noqa: PLR2004
        raise MetadataError(
            keyword,
            item,
            "a person name has at most 5 components: Family^Given^Middle^Prefix^Suffix",
        )
    # A name without '^' is the retired ACR-NEMA form; a trailing '^' keeps the same
    # meaning (PS3.5 6.2: trailing empty components may be omitted) in the current form.
    # A name with component groups ('=', PS3.5 6.2.1.2) is kept as given: "Wang=王" is
    # how a worklist holds it, and rewriting it would no longer match the order.
    if len(groups) == 1 and groups[0] and "^" not in groups[0]:
        text = groups[0] + "^" + text[len(groups[0]) :]
        _check_length(keyword, vr, text, item)
    return text


def _check_cs(keyword: str, vr: str, item: object) -> str:
    text = _as_text(keyword, vr, item).strip(" ").upper()
    if not _CS.match(text):
        raise MetadataError(keyword, item, "VR CS allows only A-Z, 0-9, space and underscore")
    _check_length(keyword, vr, text, item)
    return text


def _check_da(keyword: str, vr: str, item: object) -> str:
    if isinstance(item, dt.datetime):
        item = item.date()
    if isinstance(item, dt.date):
        return _date_text(keyword, item, item)
    text = _as_text(keyword, vr, item).strip(" ")
    if text == "":
        return text
    match = _DA.match(text)
    if not match:
        raise MetadataError(keyword, item, "a date is YYYYMMDD (or YYYY-MM-DD)")
    year, month, day = (int(part) for part in match.groups())
    try:
        date = dt.date(year, month, day)
    except ValueError:
        raise MetadataError(
            keyword, item, f"not a calendar date (month {month}, day {day})"
        ) from None
    return _date_text(keyword, date, item)


def _date_text(keyword: str, date: dt.date, original: object) -> str:
    # dciodvfy rejects years that do not start with 1 or 2.
    if not 1000 <= date.year <= 2999:  # noqa: PLR2004
        raise MetadataError(keyword, original, "the year must be between 1000 and 2999")
    return date.strftime("%Y%m%d")


def _check_tm(keyword: str, vr: str, item: object) -> str:
    if isinstance(item, dt.datetime):
        item = item.time()
    if isinstance(item, dt.time):
        return item.strftime("%H%M%S") + (f".{item.microsecond:06d}" if item.microsecond else "")
    text = _as_text(keyword, vr, item).strip(" ")
    if text == "":
        return text
    match = _TM.match(text)
    if not match:
        raise MetadataError(keyword, item, "a time is HHMMSS.FFFFFF (or HH:MM:SS)")
    hours, minutes, seconds, fraction = match.groups()
    if int(hours) > 23 or int(minutes or 0) > 59 or int(seconds or 0) > 60:  # noqa: PLR2004
        raise MetadataError(keyword, item, "hours 00-23, minutes 00-59, seconds 00-60")
    return hours + (minutes or "") + (seconds or "") + (f".{fraction}" if fraction else "")


def utc_offset(moment: dt.datetime) -> str:
    """Return the UTC offset of `moment` as DICOM writes it, ``+HHMM`` (``+0000`` when naive).

    >>> utc_offset(dt.datetime(2026, 1, 1, tzinfo=dt.timezone(-dt.timedelta(hours=5, minutes=30))))
    '-0530'
    """
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def utc_zone(offset: str) -> dt.timezone | None:
    """Return the zone a DICOM UTC offset ``&ZZXX`` names, or None when `offset` is not one.

    >>> utc_zone("-0530").utcoffset(None)
    datetime.timedelta(days=-1, seconds=66600)
    >>> utc_zone("") is None
    True
    """
    match = _OFFSET.match(offset.strip())
    if match is None or match[0] == "-0000" or int(match[2]) > 14 or int(match[3]) > 59:  # noqa: PLR2004
        return None
    sign, hours, minutes = match.groups()
    span = dt.timedelta(hours=int(hours), minutes=int(minutes))
    return dt.timezone(-span if sign == "-" else span)


def datetime_of(text: str) -> dt.datetime | None:
    """Return the moment a DT value to the second names (aware when it has an offset), or None.

    >>> datetime_of("20240315142233.5+0200").isoformat()
    '2024-03-15T14:22:33.500000+02:00'
    >>> datetime_of("202403") is None  # a month names no moment
    True
    """
    match = _DT.match(text.strip())
    if match is None or match[6] is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "").ljust(6, "0")),
        )
    except ValueError:
        return None
    return moment.replace(tzinfo=utc_zone(offset)) if offset else moment


def _check_dt(keyword: str, vr: str, item: object) -> str:
    if isinstance(item, dt.datetime):
        _date_text(keyword, item.date(), item)  # the years dciodvfy accepts
        text = item.strftime("%Y%m%d%H%M%S") + (
            f".{item.microsecond:06d}" if item.microsecond else ""
        )
        if item.utcoffset() is not None:
            offset = utc_offset(item)
            if utc_zone(offset) is None:  # beyond -1459..+1459: no DICOM offset names it
                raise MetadataError(
                    keyword, item, "the UTC offset is +HHMM or -HHMM (at most 14 hours)"
                )
            text += offset
        return text
    text = _as_text(keyword, vr, item).strip(" ")
    if text == "":
        return text
    match = _DT.match(text)
    if not match:
        raise MetadataError(keyword, item, "a date-time is YYYYMMDDHHMMSS.FFFFFF&ZZXX")
    year, month, day, hour, minute, second, _, offset = match.groups()
    try:
        dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            min(int(second or 0), 59),
        )
    except ValueError:
        raise MetadataError(keyword, item, "not a valid date and time") from None
    if not 1000 <= int(year) <= 2999:  # noqa: PLR2004
        raise MetadataError(keyword, item, "the year must be between 1000 and 2999")
    if offset is not None and utc_zone(offset) is None:
        raise MetadataError(keyword, item, "the UTC offset is +HHMM or -HHMM (UTC is +0000)")
    return text


def _check_int(keyword: str, vr: str, item: object) -> str | int:
    if isinstance(item, bool):
        raise MetadataError(keyword, item, f"expected an integer for VR {vr}")
    if isinstance(item, int):
        number = item
    else:
        text = _as_text(keyword, vr, item).strip(" ")
        if text == "" and vr == "IS":
            return text
        if not _IS.match(text):
            raise MetadataError(keyword, item, f"VR {vr} takes an integer")
        number = int(text)
    low, high = _INT_RANGES[vr]
    if not low <= number <= high:
        raise MetadataError(keyword, item, f"VR {vr} allows {low} to {high}")
    return str(number) if vr == "IS" else number


def _check_ds(keyword: str, vr: str, item: object) -> str:
    if isinstance(item, float | int) and not isinstance(item, bool):
        if not math.isfinite(item):
            raise MetadataError(keyword, item, "VR DS takes a finite number")
        text = f"{item:.10g}"
    else:
        text = _as_text(keyword, vr, item).strip(" ")
        if text == "":
            return text
    if not _DS.match(text) or not math.isfinite(float(text)):
        raise MetadataError(keyword, item, "VR DS takes a decimal number")
    if len(text) > 16:  # noqa: PLR2004
        raise MetadataError(keyword, item, "VR DS allows at most 16 characters")
    return text


def _check_float(keyword: str, vr: str, item: object) -> float:
    try:
        number = float(item)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MetadataError(keyword, item, f"VR {vr} takes a number") from None
    if not math.isfinite(number):
        raise MetadataError(keyword, item, f"VR {vr} takes a finite number")
    return number


def _check_as(keyword: str, vr: str, item: object) -> str:
    text = _as_text(keyword, vr, item).strip(" ").upper()
    if text and not _AS.match(text):
        raise MetadataError(keyword, item, "an age is nnnD, nnnW, nnnM or nnnY (e.g. 045Y)")
    return text


def _check_ui(keyword: str, vr: str, item: object) -> str:
    text = _as_text(keyword, vr, item).strip(" ")
    if not is_valid_uid(text):
        raise MetadataError(
            keyword,
            item,
            "not a valid UID (digits and dots, no leading zeros, at most 64 characters, "
            "root 0, 1 or 2 and not the example root 2.999)",
        )
    return text


def _check_utc_offset(original: object, values: Sequence[object]) -> None:
    # Table C.12-1: "&ZZXX"; dicomize reads the object's times in it.
    if values[0] and utc_zone(str(values[0])) is None:
        raise MetadataError(
            "TimezoneOffsetFromUTC", original, "a UTC offset is +HHMM or -HHMM (UTC is +0000)"
        )


def _check_image_type(original: object, values: Sequence[object]) -> None:
    if len(values) < 2:  # noqa: PLR2004  (dciodvfy: VM 2-n)
        raise MetadataError(
            "ImageType", original, "needs at least 2 values, e.g. DERIVED\\SECONDARY"
        )
    if values[0] not in {"ORIGINAL", "DERIVED"} or values[1] not in {"PRIMARY", "SECONDARY"}:
        raise MetadataError(
            "ImageType", original, "value 1 is ORIGINAL or DERIVED, value 2 PRIMARY or SECONDARY"
        )


def _check_patient_orientation(original: object, values: Sequence[object]) -> None:
    if values == [""]:
        return
    rule = "two directions (row\\column) from A P R L H F, such as A\\F, and not equal"
    if len(values) != 2 or values[0] == values[1]:  # noqa: PLR2004
        raise MetadataError("PatientOrientation", original, rule)
    for direction in values:
        if not (
            isinstance(direction, str)
            and 1 <= len(direction) <= 3  # noqa: PLR2004
            and set(direction) <= _ORIENTATION_LETTERS
        ):
            raise MetadataError("PatientOrientation", original, rule)


_Check = Callable[[str, str, object], object]
_CHECKS: Final[dict[str, _Check]] = {
    "AE": _check_ae,
    "AS": _check_as,
    "CS": _check_cs,
    "DA": _check_da,
    "DS": _check_ds,
    "DT": _check_dt,
    "IS": _check_int,
    "PN": _check_pn,
    "TM": _check_tm,
    "UI": _check_ui,
    "US": _check_int,
    "SS": _check_int,
    "UL": _check_int,
    "SL": _check_int,
    "FL": _check_float,
    "FD": _check_float,
}
#: Rules of one attribute beyond its VR, on the normalised values.
_KEYWORD_RULES: Final[dict[str, Callable[[object, Sequence[object]], None]]] = {
    "ImageType": _check_image_type,
    "PatientOrientation": _check_patient_orientation,
    "TimezoneOffsetFromUTC": _check_utc_offset,
}
