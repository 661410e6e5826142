"""The result record shared by ``batch`` and ``send`` reports (one JSON line per input).

Kept free of heavy imports: the command line loads it before any conversion.
"""

from __future__ import annotations

import dataclasses
import json

__all__ = ["BatchResult"]


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """What happened to one input (one line of the JSON Lines report)."""

    input: str
    output: str | None
    sop_instance_uid: str | None
    status: str  # "converted", "skipped" or "failed"
    error: str | None = None

    def to_json(self) -> str:
        """Return the result as one JSON line."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)
