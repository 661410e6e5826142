"""A visit as the page keeps it: the patient, the series, and the attributes of each file.

A visit is one study (the worker derives its Study Instance UID from the visit);
its series are numbered by their place on the page. A series holds one kind of
content, since a series has one Modality (PS3.3 A.1.2.3) and pictures, clips,
documents and models each have IODs of their own: a file of another kind goes
to a series of its kind, made when there is none.

The visit is a plain dict (it is stored as JSON in the journal)::

    {"patient": {...}, "summary": {...}, "series": [{...}, ...],
     "names": {"<job id>": "the file's name as given"}}

A file removed on the page has no job left. A visit saved before that also has
``"removed": [<job id>, ...]``: its removed files' jobs, kept as failed.

A series once sent is marked ``"sent": true``: the PACS has its objects under its
Series Instance UID, so it keeps its kind and settings for the life of the visit,
after retention has forgotten its files too.
"""

from __future__ import annotations

from typing import Any

from dicomize.iods import IODS, chosen, outside

__all__ = [
    "KIND_HEADINGS",
    "LATERALITIES",
    "SERIES_FIELDS",
    "copy_series",
    "iod_choices",
    "job_metadata",
    "job_options",
    "left_out_of",
    "new_series",
    "place",
    "series_kind",
    "settings_in_words",
]

#: What the page sets per series, by the keyword each is written as.
#: Laterality is Image Laterality (C.7.6.1.1.2), as the command line writes it: the
#: series' own Laterality (C.7.3.1) holds R or L only, and a picture of both feet is B.
SERIES_FIELDS = ("SeriesDescription", "ImageLaterality", "BodyPartExamined")
#: Image Laterality's values, as the page offers them. None is the default: the side is
#: then unknown, and the object says so (an empty Laterality); U says the part is unpaired.
LATERALITIES = (
    ("", "not given"),
    ("R", "right"),
    ("L", "left"),
    ("B", "both"),
    ("U", "not paired"),
)
#: The heading of a series of each kind, and the description of one the page makes.
KIND_HEADINGS = {
    "picture": "Pictures",
    "video": "Clips",
    "document": "Documents",
    "model": "3D models",
}


def new_series(kind: str | None = None, description: str = "") -> dict[str, Any]:
    """Return a series with nothing set (of `kind`, when the page makes it for one)."""
    return {
        "SeriesDescription": description,
        "ImageLaterality": "",
        "BodyPartExamined": "",
        "iod": _first_iod(kind or "picture"),
        "kind": kind,
    }


def copy_series(series: dict[str, Any]) -> dict[str, Any]:
    """Return a new series with the settings of `series`: for a file moved to a series of its own.

    >>> copy_series({**new_series(), "ImageLaterality": "L", "BodyPartExamined": "FOOT"})
    {'SeriesDescription': '', 'ImageLaterality': 'L', 'BodyPartExamined': 'FOOT', 'iod': 'sc', 'kind': None}
    """  # noqa: E501  (doctest output is one line)
    return {**new_series(series.get("kind")), **{k: series[k] for k in (*SERIES_FIELDS, "iod")}}


def settings_in_words(series: dict[str, Any]) -> str:
    """Say which settings a file of `series` gets, as the page names them; "" for none.

    Those its objects have no place for (:func:`left_out_of`) are not named.

    >>> settings_in_words({**new_series(), "ImageLaterality": "B", "BodyPartExamined": "FOOT"})
    'laterality both and body part FOOT'
    >>> settings_in_words({**new_series("document", "Consent"), "BodyPartExamined": "FOOT"})
    'series description "Consent"'
    >>> settings_in_words(new_series())
    ''
    """
    kind = series_kind(series)
    dropped = set(left_out_of(series, kind, series["iod"]))
    sides = dict(LATERALITIES)
    words = {
        "SeriesDescription": lambda value: f'series description "{value}"',
        "ImageLaterality": lambda value: f"laterality {sides.get(value, value)}",
        "BodyPartExamined": lambda value: f"body part {value}",
    }
    named = [
        words[keyword](series[keyword])
        for keyword in SERIES_FIELDS
        if series.get(keyword) and keyword not in dropped
    ]
    return ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else "".join(named)


def series_kind(series: dict[str, Any]) -> str:
    """Return the kind a series holds (pictures until a file says otherwise)."""
    return str(series.get("kind") or "picture")


def _first_iod(kind: str) -> str:
    """Return the IOD a series of `kind` starts with: its kind's default, else SC."""
    own = chosen(kind)
    return (own or chosen("picture"))[0].name


def iod_choices(kind: str) -> tuple[tuple[str, str], ...]:
    """Return the ``iod`` values a series of `kind` may take, with their names.

    Documents and models have one IOD each, chosen by their format.

    >>> [value for value, _ in iod_choices("picture")][:2]
    ['sc', 'vl-photo']
    >>> iod_choices("video")[0]
    ('video-photo', 'Video Photographic Image')
    >>> iod_choices("document")
    ()
    """
    return tuple((iod.name, iod.title) for iod in chosen(kind))


def _sop_classes(kind: str, iod: str) -> tuple[str, ...]:
    if kind in ("document", "model"):
        # PDF, STL, OBJ and MTL define the same series attributes; the format picks one.
        return tuple(uid for row in IODS.values() if row.kind == kind for uid in row.sop_classes)
    return IODS[iod].sop_classes


def left_out_of(settings: dict[str, Any], kind: str, iod: str) -> list[str]:
    """Return the series settings that an object of `kind` has no place for.

    >>> left_out_of({"ImageLaterality": "L", "BodyPartExamined": "FOOT"}, "document", "sc")
    ['BodyPartExamined']
    """
    given = [keyword for keyword in SERIES_FIELDS if settings.get(keyword)]
    return outside(given, _sop_classes(kind, iod))


def job_metadata(visit: dict[str, Any], index: int) -> dict[str, Any]:
    """Return the attributes of a file of series `index`: the patient's and the series'.

    A setting the file's IOD does not define is left out rather than failing the
    file (it would make the object a Standard Extended SOP Class, PS3.4 B.1.3).
    """
    settings = visit["series"][index]
    kind = series_kind(settings)
    dropped = set(left_out_of(settings, kind, settings["iod"]))
    values = {
        keyword: settings[keyword]
        for keyword in SERIES_FIELDS
        if settings.get(keyword) and keyword not in dropped
    }
    return {**visit["patient"], **values, "SeriesNumber": str(index + 1)}


def job_options(visit: dict[str, Any], index: int) -> dict[str, Any]:
    """Return the conversion options of a file of series `index`."""
    return {"iod": visit["series"][index]["iod"]}


def place(visit: dict[str, Any], index: int, kind: str, occupied: set[int]) -> tuple[int, bool]:
    """Return the series a file of `kind` dropped on series `index` goes to.

    It stays there when that series is empty or holds `kind`; otherwise it goes
    to the last series holding `kind`, or to a new one the page makes (and
    appends to `visit`). `occupied` holds the series with files; the chosen one
    joins it, and so do the series that were sent, which hold their kind with no
    file left on the page.

    Returns
    -------
    tuple
        The series' index, and whether it was made for this file.

    Examples
    --------
    >>> visit = {"series": [new_series()]}
    >>> place(visit, 0, "document", set()), place(visit, 0, "picture", {0})
    ((0, False), (1, True))
    >>> visit["series"][1]["SeriesDescription"], place(visit, 1, "document", {0, 1})
    ('Pictures', (0, False))
    >>> visit["series"][1]["sent"] = True  # its files forgotten: still a series of pictures
    >>> place(visit, 1, "document", {0})
    (0, False)
    """
    series = visit["series"]
    occupied.update(other for other, settings in enumerate(series) if settings.get("sent"))
    picked = series[index]
    if index not in occupied or series_kind(picked) == kind:
        if picked.get("kind") != kind:  # an empty series takes the kind of its first file
            picked["kind"] = kind
            if picked["iod"] not in dict(iod_choices(kind)):
                picked["iod"] = _first_iod(kind)
        occupied.add(index)
        return index, False
    for other in reversed(range(len(series))):
        if other in occupied and series_kind(series[other]) == kind:
            return other, False
    series.append(new_series(kind, KIND_HEADINGS[kind]))
    occupied.add(len(series) - 1)
    return len(series) - 1, True
