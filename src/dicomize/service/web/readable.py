"""Names and dates as people read and type them, and as DICOM holds them.

The page shows ``Müller^Zoë`` as ``Müller, Zoë`` and ``20261204`` ``093000`` as
``4 Dec 2026 09:30``, and takes dates as people type them. A date with dots or
slashes is read **day first** (``04/12/2026`` is 4 December): the page serves
European clinics, where that is how dates are written, and it always shows back
the date it read (``4 Dec 2026``), so a date typed the other way round is seen
before it is used. Month names are spelt out for the same reason. A birth date
is read the same way, but eight digits alone are refused: ``04121980`` could be
4 December 1980, or a year first typed wrong, and a birth date is no place to guess.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = [
    "DateNotUnderstood",
    "birth_date",
    "parse_date",
    "person_name",
    "readable_date",
    "searched_name",
    "typed_name",
    "typed_sex",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})([./])(\d{1,2})\2(\d{4})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
#: A range as people type it: ``A - B`` (spaced: ISO dates hold hyphens), ``A to B``, a dash.
_RANGE = re.compile(r"^(.+?)\s*(?:\s-\s|\u2013|\u2014|\.\.|\bto\b|\buntil\b)\s*(.+)$")
#: A range as DICOM writes it (C.2.2.2.5), either end open.
_DICOM_RANGE = re.compile(r"^(\d{8})?-(\d{8})?$")
_EXAMPLES = "4.12.2026, 04/12/2026 (day first), 2026-12-04, 20261204, today or yesterday"
_BIRTH_EXAMPLE = "Type the birth date as 4.12.1980 (day first)"
#: Older than anyone known to have lived: likely a year typed wrong, said but not refused.
_OLDEST = 120
#: Patient Sex (C.7.1.1) as people type it.
_SEXES = {"f": "F", "female": "F", "m": "M", "male": "M", "o": "O", "other": "O"}


class DateNotUnderstood(ValueError):
    """A date the page cannot read; the message says how to type one."""


def parse_date(text: str, *, today: dt.date | None = None, ranges: bool = False) -> str:
    """Return the DICOM date (``YYYYMMDD``) a person typed, or a range if `ranges`.

    Parameters
    ----------
    text : str
        ``2026-12-04``, ``4.12.2026``, ``04/12/2026`` (day first), ``20261204``,
        ``today``, ``yesterday`` or ``tomorrow``; with `ranges`, two of them
        joined by `` - ``, ``to`` or an en dash, or a DICOM range ``YYYYMMDD-YYYYMMDD``.
    today : datetime.date, optional
        What ``today`` means (the local date when not given).
    ranges : bool
        Accept a range (a worklist search does; a birth date does not).

    Returns
    -------
    str
        ``YYYYMMDD``, or ``YYYYMMDD-YYYYMMDD`` for a range.

    Raises
    ------
    DateNotUnderstood
        For text that is not one of these, or not a day of the calendar.

    Examples
    --------
    >>> day = dt.date(2026, 12, 4)
    >>> [parse_date(t, today=day) for t in ("2026-12-04", "4.12.2026", "04/12/2026", "20261204")]
    ['20261204', '20261204', '20261204', '20261204']
    >>> parse_date("Yesterday", today=day)
    '20261203'
    >>> parse_date("1.12.2026 - today", today=day, ranges=True)
    '20261201-20261204'
    >>> parse_date("20261201-", ranges=True)
    '20261201-'
    >>> parse_date("31.4.2026")
    Traceback (most recent call last):
    ...
    dicomize.service.web.readable.DateNotUnderstood: 31.4.2026 is not a day of the calendar
    """
    value = " ".join(text.split()).lower()
    today = today or dt.date.today()
    if ranges:
        compact = _DICOM_RANGE.match(value)
        if compact and any(compact.groups()):
            return "-".join(_one(part, today) if part else "" for part in compact.groups())
        spread = _RANGE.match(value)
        if spread:
            first, last = (_one(part, today) for part in spread.groups())
            if first > last:
                raise DateNotUnderstood(f"{text.strip()} ends before it starts")
            return f"{first}-{last}"
    return _one(value, today)


def birth_date(text: str, *, today: dt.date | None = None) -> tuple[str, str]:
    """Return the DICOM date of a typed birth date, and what to check about it.

    Read as :func:`parse_date` reads a date, except that a day after `today` is
    refused, and so are eight digits that could be read day first
    (``04121980``); a birth date over 120 years ago is taken, with a warning.

    Returns
    -------
    tuple of str
        ``YYYYMMDD``, and a warning to show with it (empty when none).

    Raises
    ------
    DateNotUnderstood
        For text that is not a date, not a day of the calendar, or in the future.

    Examples
    --------
    >>> day = dt.date(2026, 12, 4)
    >>> birth_date("4.12.1980", today=day), birth_date("19800101", today=day)
    (('19801204', ''), ('19800101', ''))
    >>> birth_date("4.12.1890", today=day)
    ('18901204', '136 years ago: check the year')
    >>> birth_date("4.12.2030", today=day)
    Traceback (most recent call last):
    ...
    dicomize.service.web.readable.DateNotUnderstood: 4 Dec 2030 is in the future: a birth date cannot be
    >>> birth_date("04121980", today=day)
    Traceback (most recent call last):
    ...
    dicomize.service.web.readable.DateNotUnderstood: 04121980 could be read day first or year first: type the birth date with dots, as 4.12.1980 (day first)
    >>> birth_date("1980", today=day)
    Traceback (most recent call last):
    ...
    dicomize.service.web.readable.DateNotUnderstood: Type the birth date as 4.12.1980 (day first)
    """  # noqa: E501  (doctest output is one line)
    value = " ".join(text.split()).lower()
    today = today or dt.date.today()
    if _COMPACT.match(value) and not _year_first(value):
        raise DateNotUnderstood(
            f"{value} could be read day first or year first: type the birth date with dots, "
            "as 4.12.1980 (day first)"
        )
    born = _one(value, today, examples=_BIRTH_EXAMPLE)
    day = dt.date(int(born[:4]), int(born[4:6]), int(born[6:]))
    if day > today:
        raise DateNotUnderstood(f"{readable_date(born)} is in the future: a birth date cannot be")
    age = today.year - day.year - ((today.month, today.day) < (day.month, day.day))
    return born, f"{age} years ago: check the year" if age > _OLDEST else ""


def _year_first(digits: str) -> bool:
    """Tell whether eight digits are a date only year first (``19800101``, never ``04121980``)."""

    def valid(year: str, month: str, day: str) -> bool:
        try:
            dt.date(int(year), int(month), int(day))
        except ValueError:
            return False
        return True

    day_first = valid(digits[4:], digits[2:4], digits[:2])
    return not day_first and valid(digits[:4], digits[4:6], digits[6:])


def _one(value: str, today: dt.date, *, examples: str = f"Type the date as {_EXAMPLES}") -> str:
    if value in _WORDS:
        return (today + dt.timedelta(days=_WORDS[value])).strftime("%Y%m%d")
    if found := _ISO.match(value):
        year, month, day = found.groups()
    elif found := _DAY_FIRST.match(value):
        day, _, month, year = found.groups()
    elif found := _COMPACT.match(value):
        year, month, day = found.groups()
    else:
        raise DateNotUnderstood(examples)
    try:
        return dt.date(int(year), int(month), int(day)).strftime("%Y%m%d")
    except ValueError:
        raise DateNotUnderstood(f"{value} is not a day of the calendar") from None


def readable_date(date: str, time: str = "") -> str:
    """Return a DICOM date (and time) as people read them; anything else as it came.

    >>> readable_date("20261204", "093000")
    '4 Dec 2026 09:30'
    >>> readable_date("20261204"), readable_date("20261201-20261204"), readable_date("")
    ('4 Dec 2026', '1 Dec 2026 to 4 Dec 2026', '')
    """
    date, time = date.strip(), time.strip()
    if "-" in date:
        return " to ".join(readable_date(part) for part in date.split("-", 1))
    found = _COMPACT.match(date)
    if found is None:
        return " ".join(part for part in (date, time) if part)
    year, month, day = (int(part) for part in found.groups())
    if not 1 <= month <= len(_MONTHS):
        return date
    shown = f"{day} {_MONTHS[month - 1]} {year}"
    clock = time.replace(":", "")
    if len(clock) >= 4 and clock[:4].isdigit():  # noqa: PLR2004  (HHMM)
        shown += f" {clock[:2]}:{clock[2:4]}"
    return shown


def person_name(value: object) -> str:
    """Return a Person Name (PS3.5 6.2) as people read it: ``Family, Given Middle``.

    The first non-empty component group is shown; an ideographic or phonetic one
    follows in brackets.

    >>> person_name("Müller^Zoë")
    'Müller, Zoë'
    >>> person_name("Doe^Jane^Q^Dr^PhD")
    'Doe, Dr Jane Q, PhD'
    >>> person_name("Yamada^Tarou=山田^太郎"), person_name("Cher"), person_name("")
    ('Yamada, Tarou (山田 太郎)', 'Cher', '')
    """
    groups = [group for group in str(value or "").split("=") if group.strip("^ ")]
    if not groups:
        return ""
    shown = _group(groups[0])
    others = [" ".join(part for part in g.split("^") if part) for g in groups[1:]]
    return shown + "".join(f" ({other})" for other in others)


def _group(group: str) -> str:
    family, given, middle, prefix, suffix = [*group.split("^"), "", "", "", ""][:5]
    first = " ".join(part for part in (prefix, given, middle) if part)
    shown = ", ".join(part for part in (family, first) if part)
    return f"{shown}, {suffix}" if suffix else shown


def typed_name(text: str) -> str:
    """Return a name as people type it as a Person Name: ``Family, Given`` is ``Family^Given``.

    >>> typed_name("Müller, Zoë"), typed_name("Doe^Jane"), typed_name(" Cher ")
    ('Müller^Zoë', 'Doe^Jane', 'Cher')
    """
    text = " ".join(text.split())
    if "^" in text or "," not in text:
        return text
    family, given = text.split(",", 1)
    return f"{family.strip()}^{given.strip()}"


def searched_name(text: str) -> str:
    """Return a name typed to search a worklist as the start of a Person Name to match.

    A comma or the first space ends the family name, and the given name is a
    start; a name alone is the start of a family name. A family name of several
    words is typed with its comma (``van der Berg,``).

    >>> searched_name("Müller Zoë"), searched_name("Müller, Z"), searched_name("Müller")
    ('Müller^Zoë*', 'Müller^Z*', 'Müller*')
    >>> searched_name("van der Berg,"), searched_name("Doe^J*"), searched_name(" ")
    ('van der Berg*', 'Doe^J*', '')
    """
    text = " ".join(text.split())
    if " " in text and "," not in text and "^" not in text:
        text = text.replace(" ", ", ", 1)
    name = typed_name(text).rstrip("^")
    return name if not name or name.endswith("*") else name + "*"


def typed_sex(text: str) -> str:
    """Return Patient Sex as people type it as DICOM holds it (``F``, ``M`` or ``O``).

    Anything else comes back as it was typed, for the attribute's check to refuse.

    >>> typed_sex("female"), typed_sex(" Male "), typed_sex("o"), typed_sex("x")
    ('F', 'M', 'O', 'x')
    """
    return _SEXES.get(text.strip().lower(), text.strip())
