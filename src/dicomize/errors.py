"""The exceptions dicomize raises, in one tree.

Every error a user can cause derives from :class:`DicomizeError`, so callers
can catch that single class. Each exception carries the context that makes
its message useful (the input file, the attribute, the rule) as attributes,
and ``str(exc)`` is a one-line message fit for a terminal.

::

    DicomizeError
    ├── InputError              the picture or array cannot be used
    │   ├── UnsupportedInput    not a format or pixel layout dicomize converts
    │   ├── CorruptImage        truncated, damaged or undecodable data
    │   └── ImageTooLarge       more pixels than the configured limit
    ├── MetadataError           a metadata value breaks a DICOM rule
    ├── ManifestError           a batch manifest row is invalid (row number given)
    ├── QueryError              a worklist or PACS query gave no single answer
    ├── ConfigError             options, destinations or arguments that cannot work
    └── OutputError             the output cannot be written
        └── OutputExists        the target exists and overwriting was not asked for
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "CorruptImage",
    "DicomizeError",
    "ImageTooLarge",
    "InputError",
    "ManifestError",
    "MetadataError",
    "OutputError",
    "OutputExists",
    "QueryError",
    "UnsupportedInput",
]


class DicomizeError(Exception):
    """Base class of every error dicomize raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong, in one line. It names no command-line flag: API callers,
        the web page and the command line all show it.
    option : str or None
        What would change the outcome, by its name in the API, when one thing would
        (``overwrite``, ``transcode``): each front end words it its own way (the
        command line names its flag).
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        self.option = option
        super().__init__(message)


class InputError(DicomizeError):
    """The input picture or array cannot be converted.

    Parameters
    ----------
    message : str
        What is wrong, without the file name.
    source : str or os.PathLike or None
        The input file, or ``None`` for an in-memory array or buffer.
    """

    def __init__(
        self,
        message: str,
        source: str | os.PathLike[str] | None = None,
        *,
        option: str | None = None,
    ) -> None:
        self.message = message
        self.source = None if source is None else str(source)
        super().__init__(message, option=option)

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message

    def with_source(self, source: str | os.PathLike[str]) -> InputError:
        """Return a copy of this error that names `source` as the input."""
        return type(self)(self.message, source, option=self.option)


class UnsupportedInput(InputError):
    """The data is not a format or pixel layout that dicomize converts."""


class CorruptImage(InputError):
    """The picture is truncated, damaged or cannot be decoded."""


class ImageTooLarge(InputError):
    """The picture has more pixels than the configured limit (a decompression-bomb guard)."""


class MetadataError(DicomizeError):
    """A metadata value breaks a DICOM rule.

    Parameters
    ----------
    keyword : str
        The DICOM keyword of the attribute (``"PatientName"``).
    value : object
        The offending value as the user gave it.
    rule : str
        The rule it breaks, phrased for a person.
    option : str or None
        As for :class:`DicomizeError`: the option that gives the value, where one does.
    """

    def __init__(
        self, keyword: str, value: object, rule: str, *, option: str | None = None
    ) -> None:
        self.keyword = keyword
        self.value = value
        self.rule = rule
        # None: nothing was given, which the rule says (not "Keyword = None").
        named = keyword if value is None else f"{keyword} = {_quoted(value)}"
        super().__init__(f"{named}: {rule}", option=option)


#: How much of a value an error quotes: enough to recognise it, never a whole document.
_QUOTED = 80


def _quoted(value: object) -> str:
    """Quote `value` on one line, cut short: an error is one line (a sequence prints many)."""
    shown = repr(value)
    if "\n" in shown:  # a pydicom sequence or dataset prints one element a line
        shown = " ".join(shown.split())
    return shown if len(shown) <= _QUOTED else shown[: _QUOTED - 1] + "…"


class ManifestError(DicomizeError):
    """A batch manifest row is invalid; raised before any picture is converted.

    Parameters
    ----------
    manifest : str or os.PathLike
        The manifest file.
    row : int
        The row (CSV: the header is row 1) or line (JSON Lines) at fault.
    message : str
        What is wrong.
    """

    def __init__(
        self,
        manifest: str | os.PathLike[str],
        row: int,
        message: str,
        *,
        option: str | None = None,
    ) -> None:
        self.manifest, self.row = str(manifest), row
        super().__init__(f"{manifest}: row {row}: {message}", option=option)


class QueryError(DicomizeError):
    """A worklist or PACS query gave no single answer: none, several, or none at all.

    Parameters
    ----------
    message : str
        What happened, in one line.
    items : sequence
        What matched, when several did: :class:`dicomize.worklist.WorklistItem` or
        :class:`dicomize.pacs.StudyMatch` objects (each has ``summary()``); kept as
        the list :attr:`items`.
    reached : bool
        False when the peer could not be reached or stopped answering: asking
        again later may succeed, unlike a query that found no single item.
    """

    def __init__(self, message: str, items: Sequence[object] = (), *, reached: bool = True) -> None:
        self.items = list(items)
        self.reached = reached
        super().__init__(message)


class ConfigError(DicomizeError, ValueError):
    """Options, a destination or command-line arguments that cannot work.

    Raised when an options object is made (:class:`dicomize.ConvertOptions`,
    :class:`dicomize.SendOptions`) or a destination parsed, before any input
    is read. It is a :class:`ValueError` too, as for any invalid argument.
    """


class OutputError(DicomizeError):
    """The output file cannot be written.

    Parameters
    ----------
    message : str
        What went wrong.
    path : str or os.PathLike
        The output path.
    """

    def __init__(
        self, message: str, path: str | os.PathLike[str], *, option: str | None = None
    ) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}", option=option)


class OutputExists(OutputError):
    """The output exists and overwriting was not requested."""
