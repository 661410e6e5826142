"""What the page says about a file, in the page's words.

The worker writes its reasons for the journal and the command line: they name
the upload's path in the state folder and suggest command-line flags. The page
names the file as the person named it, leaves the paths and flags out, and says
what to do on the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = [
    "FIELD_LABELS",
    "KIND_NOUNS",
    "left_out",
    "mended_by_settings",
    "not_sent",
    "plain_error",
]

#: The page's label of each attribute it lets people set.
FIELD_LABELS = {
    "PatientID": "Patient ID",
    "PatientName": "Name",
    "PatientBirthDate": "Birth date",
    "PatientSex": "Sex",
    "AccessionNumber": "Accession number",
    "StudyDescription": "Study description",
    "SeriesDescription": "Series description",
    "Laterality": "Laterality",
    "ImageLaterality": "Laterality",
    "BodyPartExamined": "Body part",
}
#: A file of each kind (:data:`dicomize.inputs.KINDS`), as a sentence names it.
KIND_NOUNS = {
    "picture": "a picture",
    "video": "a video clip",
    "document": "a PDF document",
    "model": "a 3D model",
}
#: A hint meant for the command line: ``(use --multiframe)``, ``(allow it with --allow-extra)``.
_FLAG_HINT = re.compile(r"\s*\([^()]*--[a-z][a-z-]*[^()]*\)")
_FLAG = re.compile(r"--[a-z][a-z-]*")
#: A path: two folders or more, as the worker's messages hold the upload's.
_PATH = re.compile(r"(?:/[^\s/:'\"()]+){2,}")
#: A path quoted whole, as an OSError gives it: spaces and all.
_QUOTED_PATH = re.compile(r"""(['"])/[^'"]*\1""")
#: A library's own names: ``PngImagePlugin.MAX_TEXT_CHUNK``, ``zlib.error``, ``ValueError:``.
_INTERNALS = (
    (
        re.compile(r"decompressed data too large for \w+\.MAX_TEXT_CHUNK"),
        "it holds a text block too large to read",
    ),
    (re.compile(r"\s*\b(?:for|by|in|of)\s+[A-Za-z_]\w*\.[A-Z][A-Z0-9_]+\b"), ""),
    (re.compile(r"\b[A-Za-z_]\w*\.[A-Z][A-Z0-9_]+\b"), "a limit of the reader"),
    (re.compile(r"\b(?:\w+\.)*\w*(?:Error|Exception|Warning): "), ""),
    (re.compile(r"\[Errno \d+\]\s*"), ""),
)
#: The converter's refusal of an attribute its IOD does not define.
_OUTSIDE = re.compile(r"(\w+) = .*?: is not part of the (.+?) IOD")
#: An attribute's refusal ("Keyword = value: rule", or "Keyword: rule" when none was
#: given): the rule is for the person, the keyword and value for the log.
_ATTRIBUTE = re.compile(r"^(?:[^:]*: )?[A-Z][a-z]+(?:[A-Z][A-Za-z0-9]*)*(?: = [^:]*)?: ")
#: The worker's words that mean something to its operator only, and the page's for them.
_REWORDED = (
    (re.compile(r"identity not resolved: no Patient ID.*"), "the patient has no Patient ID"),
    (re.compile(r"identity not resolved: "), "the patient was not found: "),
    (re.compile(r"internal error: .*"), "something went wrong inside the converter"),
    (re.compile(r"; it would make the object a Standard Extended SOP Class"), ""),
    (re.compile(r" \([^()]*PS3\.\d+[^)]*\)"), ""),
)


def plain_error(
    error: str, *, shown: str, internal: Sequence[str], stage: str, private: Sequence[str] = ()
) -> str:
    """Return the worker's `error` about one file as the page says it.

    Parameters
    ----------
    error : str
        The reason the worker recorded.
    shown : str
        The file's name as the person gave it.
    internal : sequence of str
        The names the worker knows the file by (its upload path, its job name),
        each replaced by `shown`.
    stage : str
        ``convert`` (it failed in conversion), ``send`` (the PACS never took it)
        or ``retry`` (the PACS did not take it yet; it is tried again).
    private : sequence of str
        The service's own folders (its state: spool, uploads): any path in them is
        "a working file", whatever its name holds (spaces too).

    Examples
    --------
    >>> plain_error(
    ...     "/srv/state/uploads/v1/ab12-heel.jpg: JPEG segment 0xFFE0 is truncated",
    ...     shown="heel.jpg", internal=["/srv/state/uploads/v1/ab12-heel.jpg"], stage="convert")
    'heel.jpg could not be converted: JPEG segment 0xFFE0 is truncated. Remove it, and add an intact copy of the file.'
    >>> plain_error(
    ...     "cannot read the header of PNG: decompressed data too large for "
    ...     "PngImagePlugin.MAX_TEXT_CHUNK", shown="b.png", internal=[], stage="convert")
    'b.png could not be converted: cannot read the header of PNG: it holds a text block too large to read. Remove it, and add an intact copy of the file.'
    >>> plain_error(
    ...     "[Errno 28] No space left on device: '/my state/spool/1.2.dcm'",
    ...     shown="c.jpg", internal=[], stage="convert", private=["/my state"])
    'c.jpg could not be converted: No space left on device: a working file. Remove it, and add an intact copy of the file.'
    >>> plain_error(
    ...     "v1/0/a.pdf: identity not resolved: no Patient ID (give a sidecar or --patient-id)",
    ...     shown="a.pdf", internal=["v1/0/a.pdf"], stage="convert")
    'a.pdf could not be converted: the patient has no Patient ID. Remove it, and add an intact copy of the file.'
    >>> plain_error(
    ...     "e.png: AcquisitionDeviceTypeCodeSequence = [(0008,0100) Code Value SH: '409898007']: "
    ...     "is not part of the Secondary Capture Image IOD (PS3.3); it would make the object a "
    ...     "Standard Extended SOP Class", shown="e.png", internal=["e.png"], stage="convert")
    "e.png could not be converted: AcquisitionDeviceTypeCodeSequence has no place in an object of this kind (Secondary Capture Image). Choose the series' IOD, or remove it."
    """  # noqa: E501  (doctest output is one line)
    cause = error
    for name in sorted(internal, key=len, reverse=True):
        if name:
            cause = cause.replace(f"{name}: ", "").replace(name, shown)
    for folder in sorted(private, key=len, reverse=True):
        if folder:
            escaped = re.escape(folder.rstrip("/"))
            cause = re.sub(rf"""(['"]?){escaped}(?:/[^'"\s]*)?\1""", "a working file", cause)
    cause = _QUOTED_PATH.sub("a working file", cause)
    for pattern, words in _INTERNALS:
        cause = pattern.sub(words, cause)
    cause = _FLAG_HINT.sub("", cause)
    # What the series' IOD has no place for is mended by choosing another IOD: the page
    # converts a failed file again when its series' settings change.
    settings = stage == "convert" and bool(_OUTSIDE.search(cause))
    cause = _OUTSIDE.sub(_outside_words, cause)
    # What the series' kind of object needs and the file does not say is mended by choosing
    # another kind, or by the station's settings: the file is not damaged.
    needs = stage == "convert" and not settings and bool(_ATTRIBUTE.match(cause))
    cause = _ATTRIBUTE.sub("", cause) if needs else cause
    for pattern, words in _REWORDED:
        cause = pattern.sub(words, cause)
    cause = _PATH.sub("a working file", cause)
    # A flag left in the middle of a sentence: the clause holding it is for the command line.
    clauses = [clause for clause in re.split(r"(?<=[;:])\s+", cause) if not _FLAG.search(clause)]
    cause = " ".join(clauses).strip().rstrip(";:.") or "its content was not understood"
    if stage == "retry":
        return f"{shown} could not be sent yet: {cause}. It is tried again by itself."
    if stage == "send":
        return (
            f"{shown} could not be sent: {cause}. Remove it, and add it again once the "
            "PACS answers."
        )
    if settings:
        return f"{shown} could not be converted: {cause}. Choose the series' IOD, or remove it."
    if needs:
        return (
            f"{shown} could not be converted: {cause}. Change the series' settings (its kind "
            "of object, laterality, body part), or ask whoever set up this station to add "
            "what it needs; or remove it."
        )
    return (
        f"{shown} could not be converted: {cause}. Remove it, and add an intact copy of the file."
    )


def mended_by_settings(error: str) -> bool:
    """Tell whether a conversion failed for what a series' settings decide, not the file.

    >>> mended_by_settings("e.png: Modality = 'OT': VL Photographic Image requires XC")
    True
    >>> mended_by_settings("broken.jpg: JPEG has no marker where one is required")
    False
    """
    return bool(_OUTSIDE.search(error) or _ATTRIBUTE.match(error))


def _outside_words(found: re.Match[str]) -> str:
    keyword, iod = found.groups()
    return f"{FIELD_LABELS.get(keyword, keyword)} has no place in an object of this kind ({iod})"


def left_out(keywords: Iterable[str], kind: str) -> str:
    """Say which series settings a file's object does not record, and why.

    >>> left_out(["Laterality"], "document")
    'Laterality is not recorded on a PDF document, so it was left out.'
    >>> left_out(["Laterality", "BodyPartExamined"], "model")
    'Laterality and body part are not recorded on a 3D model, so they were left out.'
    >>> left_out([], "picture")
    ''
    """
    labels = [FIELD_LABELS.get(keyword, keyword) for keyword in keywords]
    if not labels:
        return ""
    labels = [labels[0], *(label[0].lower() + label[1:] for label in labels[1:])]
    named = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    verb, pronoun = ("is", "it was") if len(labels) == 1 else ("are", "they were")
    noun = KIND_NOUNS.get(kind, "this kind of object")
    return f"{named} {verb} not recorded on {noun}, so {pronoun} left out."


def not_sent(failed: Sequence[tuple[str, str]]) -> str:
    """Say which files of a visit were not sent, and what to do: the visit is not done.

    Each file is its name as the person gave it, and where it stopped, as
    :func:`plain_error`'s `stage`: ``convert`` or ``send``.

    >>> not_sent([("wound-3.jpg", "convert")])
    '1 file was NOT sent: wound-3.jpg — remove it, and add an intact copy if it is needed.'
    >>> not_sent([("a.jpg", "send"), ("b.pdf", "send")])
    '2 files were NOT sent: a.jpg, b.pdf — remove them, and add them again once the PACS answers.'
    >>> not_sent([("a.jpg", "convert"), ("b.pdf", "send")])
    '2 files were NOT sent: a.jpg, b.pdf — see below what to do with each.'
    """
    names = ", ".join(name for name, _ in failed)
    one = len(failed) == 1
    said = f"1 file was NOT sent: {names}" if one else f"{len(failed)} files were NOT sent: {names}"
    them = "it" if one else "them"
    stages = {stage for _, stage in failed}
    if stages == {"convert"}:
        again = "an intact copy if it is needed" if one else "intact copies of those needed"
        return f"{said} — remove {them}, and add {again}."
    if stages == {"send"}:
        return f"{said} — remove {them}, and add {them} again once the PACS answers."
    return f"{said} — see below what to do with each."
