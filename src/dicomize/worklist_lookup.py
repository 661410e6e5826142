"""The worklist a batch or a hot folder resolves each input against, by the input's keys.

Kept apart from :mod:`dicomize.worklist`, which loads pydicom: a batch and ``watch``
hold a :class:`WorklistLookup` from their start, and load the worklist's machinery only
when an input asks it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from dicomize.options import SendOptions

__all__ = ["WorklistLookup"]


@dataclass(frozen=True, kw_only=True, slots=True)
class WorklistLookup:
    """A worklist to resolve each input of a batch against, by its own keys.

    A manifest row's ``accession`` (or ``patient_id``) column picks its item; the
    other keys are the same for every row. Picklable: batch workers look up
    their own rows, each key once per process.
    """

    url: str
    scheduled: str | None = None
    modality: str | None = None
    station: str | None = None
    options: SendOptions = field(default_factory=SendOptions)

    def metadata_for(self, accession: str | None, patient_id: str | None) -> dict[str, Any]:
        """Return the attributes of the one item matching this input's keys.

        Raises
        ------
        QueryError, MetadataError, ConfigError
            As :func:`~dicomize.worklist.find_worklist_item` and
            :func:`~dicomize.worklist.worklist_metadata`.
        """
        return _cached(self, accession, patient_id)


#: How long an answer is reused. A batch asks once per key and process, yet a
#: long-running ``watch`` neither keeps patients' data in memory past their jobs nor
#: misses a correction made on the worklist since.
_ANSWER_KEPT = 60.0
_answers: dict[tuple[WorklistLookup, str | None, str | None], tuple[float, dict[str, Any]]] = {}
_answers_lock = threading.Lock()


def _cached(
    lookup: WorklistLookup, accession: str | None, patient_id: str | None
) -> dict[str, Any]:
    now = time.monotonic()
    key = (lookup, accession, patient_id)
    with _answers_lock:  # threads of one process (Dask's) share the answers
        for old in [k for k, (when, _) in _answers.items() if now - when > _ANSWER_KEPT]:
            del _answers[old]
        if key in _answers:
            return _answers[key][1]
    found = _asked(lookup, accession, patient_id)
    with _answers_lock:
        _answers[key] = (now, found)
    return found


def _asked(lookup: WorklistLookup, accession: str | None, patient_id: str | None) -> dict[str, Any]:
    # pydicom and pynetdicom load here, when the first input asks, not with the batch.
    from dicomize.worklist import WorklistQuery, find_worklist_item, worklist_metadata

    query = WorklistQuery(
        accession=accession,
        patient_id=patient_id,
        scheduled=lookup.scheduled,
        modality=lookup.modality,
        station=lookup.station,
    )
    found, _ = worklist_metadata(find_worklist_item(lookup.url, query, lookup.options))
    return found
