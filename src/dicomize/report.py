"""The records of ``batch`` and ``send`` reports: one per input, one JSON line each.

Both have the same shape (``input``, ``output``, ``sop_instance_uid``,
``status``, ``error``), so a report can be read the same way whichever
command wrote it; their statuses are enumerations, not free strings.
Kept free of heavy imports: the command line loads it before any conversion.

>>> import json
>>> result = BatchResult(
...     input="a.png", output="a.dcm", sop_instance_uid="2.25.1", status=BatchStatus.CONVERTED
... )
>>> json.loads(result.to_json())["status"]
'converted'
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

__all__ = ["BatchResult", "BatchStatus", "SendResult", "SendStatus"]


class BatchStatus(enum.StrEnum):
    """What became of one input of a batch."""

    CONVERTED = "converted"
    SKIPPED = "skipped"
    """Its output was there already, complete, from an earlier run."""
    FAILED = "failed"


class SendStatus(enum.StrEnum):
    """What became of one file sent to a PACS."""

    STORED = "stored"
    """The peer took responsibility for it (success or warning status)."""
    COMMITTED = "committed"
    """Stored, and the peer committed to keeping it (Storage Commitment, PS3.4 Annex J)."""
    NOT_COMMITTED = "not committed"
    """Stored, but the peer did not commit to it: the error says why. Never deleted."""
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Record:
    def to_json(self) -> str:
        """Return the record as one JSON line."""
        import json  # the CLI loads this module before any report is asked for

        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchResult(_Record):
    """What happened to one input of a batch (one line of its JSON Lines report)."""

    input: str
    #: The output file, None when the input failed.
    output: str | None
    sop_instance_uid: str | None
    status: BatchStatus
    error: str | None = None
    #: What was done to the content on the way (a clip transcoded, and why).
    notes: tuple[str, ...] = ()
    #: The option that would change a failure's outcome (``DicomizeError.option``), if any.
    option: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SendResult(_Record):
    """What happened to one file sent (one line of ``send --report``)."""

    input: str
    #: The destination, ``dicom://AET@host:port`` or the DICOMweb root.
    output: str
    sop_instance_uid: str | None
    status: SendStatus
    error: str | None = None
