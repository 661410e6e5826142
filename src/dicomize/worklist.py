"""The patient, order and study from the Modality Worklist, not from typing (PS3.4 K).

:func:`query_worklist` asks a worklist SCP (C-FIND, Modality Worklist
Information Model) with the matching keys a user has (accession number, patient
ID, scheduled date, modality, station) and every return key the mapping needs
(conformance-more 3.3). :func:`find_worklist_item` insists on exactly one answer: a photo
filed under the wrong person is the worst error a converter can make, so none or
several is an error that lists what matched. :func:`worklist_metadata` maps the
item onto the object as PS3.17 J.2.2-J.2.3 and IHE RAD TF-2 Appendix A describe
(the table in ``docs/guides/worklist.md``): the values are checked like a user's, and a bad one
is refused by keyword, unless it is a Type 3 attribute that can be left out.

Names with accents or in other scripts are sent in the least character set they
need (PS3.5 6.1; PS3.4 K.4.1.1.3.1), and matched here ignoring case and accents as
well as by the SCP (see :class:`WorklistQuery`): PS3.4 C.2.2.2.1 leaves Person
Name matching to each SCP, and the peers tested differ (``docs/guides/worklist.md``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

# At run time, so type hints resolve (documentation, IDEs): this module is loaded only
# where a worklist is asked; a batch's or watch's lookup lives in worklist_lookup.
from pydicom.dataset import Dataset

from dicomize.dicom.uids import MODALITY_WORKLIST_INFORMATION_MODEL_FIND
from dicomize.errors import ConfigError, MetadataError, QueryError
from dicomize.options import SendOptions
from dicomize.send.destination import DimseDestination, parse_destination

__all__ = [
    "NAME_MATCHING",
    "WorklistItem",
    "WorklistQuery",
    "find_worklist_item",
    "query_worklist",
    "worklist_metadata",
]

logger = logging.getLogger(__name__)

_DATE = re.compile(r"^\d{8}$")
_RANGE = re.compile(r"^(\d{8})?-(\d{8})?$")
#: The fields of :class:`WorklistQuery` that are matching keys.
_KEYS = ("accession", "patient_id", "scheduled", "modality", "station", "patient_name")
#: How a Patient's Name key can be matched (see :class:`WorklistQuery`).
NAME_MATCHING = ("insensitive", "scp")
#: PS3.4 C.2.2.2.4: the wildcards of a matching key.
_WILDCARDS = frozenset("*?")
#: Latin letters whose stroke Unicode does not decompose as an accent (Søren, Łukasz,
#: Đorđe, and Turkish dotless i): the letter each stands for when accents are ignored.
_BARE_LETTERS = {"ø": "o", "ł": "l", "đ": "d", "\u0131": "i", "ħ": "h", "ŧ": "t"}


@dataclass(frozen=True, kw_only=True, slots=True)
class WorklistQuery:
    """What the user knows of the order: the matching keys (PS3.4 Table K.6-1).

    Parameters
    ----------
    accession : str or None
        Accession Number, from the label.
    patient_id : str or None
        Patient ID.
    patient_name : str or None
        Patient's Name, ``*`` and ``?`` as wildcards (``Doe*``), in any script.
        The whole name must match, as in DICOM: ``Müller`` alone finds only a
        patient named just that; ``Müller*`` finds ``Müller^Zoë``.
    scheduled : str or None
        Scheduled Procedure Step Start Date: ``today``, ``YYYYMMDD`` or a range
        ``YYYYMMDD-YYYYMMDD`` (either end may be left open).
    modality : str or None
        Scheduled modality (``XC``, ``ES``, ...).
    station : str or None
        Scheduled Station AE Title.
    name_matching : str
        How `patient_name` matches, one of :data:`NAME_MATCHING`:

        ``"insensitive"`` (the default)
            As the SCP matches it, and here too, ignoring case and the accents
            of Latin letters (``müller*``, ``MULLER*`` and ``Muller*`` find
            ``Müller^Zoë``; ``ø``, ``ł``, ``đ`` and the dotless i count as ``o``,
            ``l``, ``d``, ``i``; full-width and half-width forms as their plain ones).
            PS3.4 C.2.2.2.1 lets each SCP match names case-sensitively or not,
            and one that compares bytes (dcmtk's wlmscpfs) finds ``Müller`` only
            in the character set its item was stored in. So a second query asks
            for every item the other keys match, the name left open, and keeps
            those whose name matches, whole or any one component group
            (``山田*`` finds ``Yamada^Tarou=山田^太郎``). The cost: that query
            returns all the items the other keys match; with the name as the
            only key, the whole worklist. Give ``scheduled`` with a name when the
            worklist is large. ``ü`` does not match ``ue``, nor kana kanji.
        ``"scp"``
            One query, the name as typed, matched only as the SCP matches: on an
            SCP that matches case-sensitively, ``müller*`` does not find
            ``Müller^Zoë``.
    """

    accession: str | None = None
    patient_id: str | None = None
    scheduled: str | None = None
    modality: str | None = None
    station: str | None = None
    patient_name: str | None = None
    name_matching: str = "insensitive"

    def __post_init__(self) -> None:
        if not any(getattr(self, key) for key in _KEYS):
            raise ConfigError(
                "a worklist query needs a key: an accession number, a patient ID or name, "
                "a scheduled date, a modality or a station"
            )
        if self.name_matching not in NAME_MATCHING:
            raise ConfigError(
                f"name_matching is one of {', '.join(NAME_MATCHING)}, not {self.name_matching!r}"
            )
        if self.scheduled is not None:
            object.__setattr__(self, "scheduled", _date_key(self.scheduled))

    def identifier(self, *, name: bool = True) -> Dataset:
        """Return the C-FIND identifier: these matching keys and every return key needed.

        Specific Character Set (0008,0005) is present only when the keys need
        more than ASCII, and then names the least set that holds them (PS3.4
        K.4.1.1.3.1): ``ISO_IR 100`` for Latin-1 text, else ``ISO_IR 192``.
        `name` False leaves Patient's Name open (universal matching, C.2.2.2.3),
        for the query whose answers are matched here.

        >>> WorklistQuery(patient_name="Müller*").identifier().SpecificCharacterSet
        'ISO_IR 100'
        >>> WorklistQuery(patient_name="山田*").identifier().SpecificCharacterSet
        'ISO_IR 192'
        >>> "SpecificCharacterSet" in WorklistQuery(patient_name="Doe*").identifier()
        False
        """
        patient_name = self.patient_name if name else None
        step = Dataset()
        for keyword, value in (
            ("ScheduledStationAETitle", self.station),
            ("ScheduledProcedureStepStartDate", self.scheduled),
            ("ScheduledProcedureStepStartTime", None),
            ("Modality", self.modality),
            ("ScheduledPerformingPhysicianName", None),
            ("ScheduledProcedureStepDescription", None),
            ("ScheduledProcedureStepID", None),
            ("ScheduledStationName", None),
            ("ScheduledProcedureStepLocation", None),
        ):
            setattr(step, keyword, value or "")
        step.ScheduledProtocolCodeSequence = []
        ds = Dataset()
        for keyword, value in (
            ("AccessionNumber", self.accession),
            ("PatientID", self.patient_id),
            ("PatientName", patient_name),
            ("IssuerOfPatientID", None),
            ("PatientBirthDate", None),
            ("PatientSex", None),
            ("PatientWeight", None),
            ("PatientSize", None),
            ("StudyInstanceUID", None),
            ("ReferringPhysicianName", None),
            ("RequestingPhysician", None),
            ("RequestedProcedureID", None),
            ("RequestedProcedureDescription", None),
            ("AdmissionID", None),
        ):
            setattr(ds, keyword, value or "")
        ds.ReferencedStudySequence = []
        ds.RequestedProcedureCodeSequence = []
        ds.ScheduledProcedureStepSequence = [step]
        texts = (self.accession, self.patient_id, patient_name, self.station, self.modality)
        character_set = _character_set(text for text in texts if text)
        if character_set is not None:
            ds.SpecificCharacterSet = character_set  # K.4.1.1.3.1: only when needed
        return ds

    def matches_names_here(self) -> bool:
        """Say whether :func:`query_worklist` also matches the name here (a second query).

        Only a name with something to fold does: letters, or any character
        beyond ASCII; ``*`` or ``12*`` the SCP matches as well as anyone.
        """
        name = self.patient_name or ""
        return self.name_matching == "insensitive" and any(
            ch not in _WILDCARDS and (ch.isalpha() or not ch.isascii()) for ch in name
        )

    def name_matches(self, name: str) -> bool:
        """Say whether `name` matches this query's name, ignoring case and Latin accents.

        The whole name, or any one of its component groups (PS3.5 6.2.1.2:
        alphabetic, ideographic, phonetic), must match; trailing empty
        components (``^``) do not count.

        >>> query = WorklistQuery(patient_name="muller*")
        >>> query.name_matches("MÜLLER^ZOË"), query.name_matches("Mueller^Max")
        (True, False)
        >>> WorklistQuery(patient_name="山田*").name_matches("Yamada^Tarou=山田^太郎")
        True
        """
        pattern = _pattern(self.patient_name or "*")
        folded = _fold(name.strip())
        return any(
            pattern.fullmatch(_trim(part)) is not None for part in (folded, *folded.split("="))
        )


def _character_set(texts: Iterable[str]) -> str | None:
    """Name the least character set that holds `texts` (PS3.5 6.1.2.2; PS3.3 C.12.1.1.2).

    None for plain ASCII, the default repertoire (PS3.5 6.1.2.1). ``ISO_IR 100``
    (Latin-1) before ``ISO_IR 192`` (UTF-8): more SCPs accept it. Never the ISO
    2022 sets: dcmtk's wlmscpfs refuses a key with escape sequences (status 0xA900,
    "Invalid Character Repertoire for datatype PN"), while it and Orthanc both take
    UTF-8 (``tests/test_worklist.py``).

    >>> _character_set(["A778", "Zoë"]), _character_set(["山田"]), _character_set(["Doe"])
    ('ISO_IR 100', 'ISO_IR 192', None)
    """
    text = "".join(texts)
    if text.isascii():
        return None
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return "ISO_IR 192"
    return "ISO_IR 100"


@functools.cache
def _fold_character(ch: str) -> str:
    """Fold one character for matching: lower case, no accent on a Latin letter, plain width."""
    decomposed = unicodedata.normalize("NFKD", ch)
    if len(decomposed) == 1:
        plain = decomposed  # a compatibility form: full-width A is A, half-width ｶ is カ
    elif all(unicodedata.combining(mark) for mark in decomposed[1:]) and (
        "LATIN" in unicodedata.name(decomposed[0], "")
    ):
        plain = decomposed[0]  # é is e; but が stays が: its mark makes another kana
    else:
        plain = ch
    lowered = plain.lower()
    plain = lowered if len(lowered) == 1 else plain
    return _BARE_LETTERS.get(plain, plain)


def _fold(text: str) -> str:
    # One character for one: ``?`` still stands for one character after folding.
    return "".join(_fold_character(ch) for ch in text)


def _trim(name: str) -> str:
    # PS3.5 6.2.1.1: trailing empty components may be left out, so they do not count.
    return name.strip(" ").rstrip("^")


def _pattern(text: str) -> re.Pattern[str]:
    """Turn a matching key's wildcards (PS3.4 C.2.2.2.4) into a regular expression."""
    folded = _fold(text.strip())
    trimmed = folded if folded.endswith("*") else _trim(folded)
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in trimmed)
    return re.compile("".join(parts), re.DOTALL)


def _date_key(text: str) -> str:
    """Turn ``today``, a date or a range into a DA matching key (C.2.2.2.5)."""
    value = text.strip().lower().replace("-", "-")
    if value == "today":
        return dt.date.today().strftime("%Y%m%d")
    compact = value.replace(":", "")
    if _DATE.match(compact) or (_RANGE.match(compact) and compact != "-"):
        return compact
    raise ConfigError(f"scheduled takes today, YYYYMMDD or YYYYMMDD-YYYYMMDD, got {text!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class WorklistItem:
    """One scheduled procedure step, as the worklist SCP answered it."""

    dataset: Dataset

    def step(self) -> Dataset | None:
        """Return the Scheduled Procedure Step item, if the answer has one."""
        steps = self.dataset.get("ScheduledProcedureStepSequence") or []
        return steps[0] if steps else None

    def summary(self, *, names: bool = False) -> dict[str, str]:
        """Describe the item in a line's worth: when, accession, procedure (and the patient)."""
        step = self.step()
        out = {
            "date": str(step.get("ScheduledProcedureStepStartDate", "")) if step else "",
            "time": str(step.get("ScheduledProcedureStepStartTime", ""))[:6] if step else "",
            "accession": str(self.dataset.get("AccessionNumber", "")),
            "modality": str(step.get("Modality", "")) if step else "",
            "procedure": str(
                self.dataset.get("RequestedProcedureDescription", "")
                or (step.get("ScheduledProcedureStepDescription", "") if step else "")
            ),
        }
        if names:
            out["patient_id"] = str(self.dataset.get("PatientID", ""))
            out["patient_name"] = str(self.dataset.get("PatientName", ""))
        return out


def query_worklist(
    url: str, query: WorklistQuery, options: SendOptions | None = None
) -> list[WorklistItem]:
    """Ask the worklist at ``dicom://AET@host:port`` for the items matching `query`.

    Each answer is read in its own Specific Character Set, whatever the query's.
    A name is matched as :class:`WorklistQuery` describes: by default the SCP's
    answers to the name as typed come first, then the items it did not find
    whose name matches ignoring case and accents. Should the SCP refuse the
    name as typed (a character set it does not take), a warning says so and
    the name is matched here alone.

    Raises
    ------
    QueryError
        When the worklist cannot be reached, refuses the association or the query,
        or stops answering.
    ConfigError
        For an address that is not ``dicom://``.
    """
    options = options or SendOptions()
    target = parse_destination(url)
    if not isinstance(target, DimseDestination):
        raise ConfigError(f"a worklist is reached by DIMSE: dicom://AET@host:port, not {url}")
    from dicomize.send.dimse import c_find  # pynetdicom only for a query

    if not query.matches_names_here():
        found = c_find(
            target,
            query.identifier(),
            MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
            options,
            "worklist",
        )
        return [WorklistItem(dataset=identifier) for identifier in found]
    # The name left open: every item the other keys match, the name judged here. Asked
    # first, so that a worklist that cannot answer at all says so once.
    wider = c_find(
        target,
        query.identifier(name=False),
        MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
        options,
        "worklist",
    )
    try:
        found = c_find(
            target,
            query.identifier(),
            MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
            options,
            "worklist",
        )
    except QueryError as exc:
        if not exc.reached:
            raise
        logger.warning("%s; the name is matched here instead", exc)
        found = []
    seen = {_identity(identifier) for identifier in found}
    found += [
        identifier
        for identifier in wider
        if _identity(identifier) not in seen
        and query.name_matches(str(identifier.get("PatientName", "")))
    ]
    return [WorklistItem(dataset=identifier) for identifier in found]


def _identity(identifier: Dataset) -> str:
    """Say which item an answer is, whatever character set it came in."""
    values = identifier.to_json_dict(suppress_invalid_tags=True)
    values.pop("00080005", None)  # the same item, answered in another character set
    return json.dumps(values, sort_keys=True)


def find_worklist_item(
    url: str, query: WorklistQuery, options: SendOptions | None = None
) -> WorklistItem:
    """Return the one item matching `query`.

    Raises
    ------
    QueryError
        When none matches, or several do (then ``items`` holds them).
    """
    items = query_worklist(url, query, options)
    if not items:
        raise QueryError(f"worklist {url}: no scheduled procedure step matches {_keys(query)}")
    if len(items) > 1:
        raise QueryError(
            f"worklist {url}: {len(items)} scheduled procedure steps match {_keys(query)}; "
            "narrow the query",
            items,
        )
    return items[0]


def _keys(query: WorklistQuery) -> str:
    # By keyword only: the values may be patient data.
    given = [f.name for f in fields(query) if f.name in _KEYS and getattr(query, f.name)]
    return "the " + ", ".join(given)


#: Patient (C.7.1.1), Patient Study (C.7.2.2) and General Study (C.7.2.1) attributes the
#: object takes as the worklist gives them (PS3.17 J.2.2-J.2.3; IHE RAD TF-2 Table A.1-1),
#: with their Type in the object: Types 1 and 2 are refused when invalid, Type 3 dropped.
_COPIED: dict[str, int] = {
    "PatientName": 2,
    "PatientID": 2,
    "IssuerOfPatientID": 3,
    "IssuerOfPatientIDQualifiersSequence": 3,
    "OtherPatientIDsSequence": 3,
    "PatientBirthDate": 2,
    "PatientSex": 2,
    "PatientWeight": 3,
    "PatientSize": 3,
    "StudyInstanceUID": 1,
    "AccessionNumber": 2,
    "IssuerOfAccessionNumberSequence": 3,
    "ReferencedStudySequence": 3,
    "ReferringPhysicianName": 2,
}
#: Request Attributes Sequence item (Table 10-9): one per scheduled step fulfilled.
_REQUEST = (
    "RequestedProcedureID",
    "AccessionNumber",
    "StudyInstanceUID",
    "RequestedProcedureDescription",
    "RequestedProcedureCodeSequence",
)
_STEP_REQUEST = (
    "ScheduledProcedureStepID",
    "ScheduledProcedureStepDescription",
    "ScheduledProtocolCodeSequence",
)


def worklist_metadata(item: WorklistItem) -> tuple[dict[str, Any], list[str]]:
    """Map a worklist item onto the attributes of the objects made for it.

    The scheduled step's Modality comes along as a one-item Scheduled
    Procedure Step Sequence: not an attribute of the objects, but what the
    builders read to give Secondary Capture the order's Modality, where other
    IODs keep their own (:func:`dicomize.iods.modality_for`).

    Returns
    -------
    tuple
        ``({keyword: value}, notes)``: the notes name each Type 3 attribute left
        out because the worklist's value was invalid (by keyword, never by value).

    Raises
    ------
    MetadataError
        When a Type 1 or 2 value from the worklist breaks its VR's rules.
    """
    from dicomize.dicom.vr import validate_attribute

    ds = item.dataset
    out: dict[str, Any] = {}
    notes: list[str] = []
    candidates: dict[str, Any] = {
        keyword: _plain(ds[keyword].value) for keyword in _COPIED if _present(ds, keyword)
    }
    description = ds.get("RequestedProcedureDescription")
    if description:
        candidates["StudyDescription"] = str(description)
    if _present(ds, "RequestedProcedureCodeSequence"):
        candidates["ProcedureCodeSequence"] = _plain(ds.RequestedProcedureCodeSequence)
    request = _request_item(item)
    if request:
        candidates["RequestAttributesSequence"] = [request]
    for keyword, value in candidates.items():
        try:
            validate_attribute(keyword, value)
        except MetadataError as exc:
            if _COPIED.get(keyword, 3) < 3:  # noqa: PLR2004
                raise MetadataError(keyword, value, f"from the worklist: {exc.rule}") from None
            notes.append(f"the worklist's {keyword} is invalid ({exc.rule}); left out")
            continue
        out[keyword] = value
    ordered, note = _ordered_modality(item)
    if ordered:
        out["ScheduledProcedureStepSequence"] = [{"Modality": ordered}]
    notes += [note] if note else []
    return out, notes


def _ordered_modality(item: WorklistItem) -> tuple[str | None, str | None]:
    """Return the scheduled step's Modality, or why it cannot be used."""
    from dicomize.dicom.vr import validate_attribute

    step = item.step()
    modality = str(step.get("Modality") or "").strip() if step is not None else ""
    if not modality:
        return None, None
    try:
        return str(validate_attribute("Modality", modality)), None
    except MetadataError as exc:
        return None, f"the worklist's Modality is invalid ({exc.rule}); the IOD's own is used"


def _present(ds: Dataset, keyword: str) -> bool:
    value = ds.get(keyword)
    return value is not None and value not in ("", [])


def _request_item(item: WorklistItem) -> dict[str, Any]:
    ds, step = item.dataset, item.step()
    request = {k: _plain(ds[k].value) for k in _REQUEST if _present(ds, k)}
    if step is not None:
        request.update({k: _plain(step[k].value) for k in _STEP_REQUEST if _present(step, k)})
    return request


def _plain(value: object) -> object:
    """Turn a pydicom value into what dicomize's validation takes (text, lists, items)."""
    from pydicom.multival import MultiValue
    from pydicom.sequence import Sequence

    if isinstance(value, Sequence | list) and all(isinstance(i, Dataset) for i in value):
        # Worklist servers fill every attribute of a returned item, some empty: an empty
        # Type 1C one (Coding Scheme Version) would be "present though the condition is
        # not satisfied", so empty attributes inside items are left out.
        return [
            {e.keyword: _plain(e.value) for e in i if e.keyword and e.value not in ("", None, [])}
            for i in value
        ]
    if isinstance(value, MultiValue | list):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | Mapping) else str(value)
