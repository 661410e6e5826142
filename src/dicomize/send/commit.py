"""Storage Commitment (Push Model, PS3.4 Annex J): the PACS takes responsibility, in writing.

After C-STORE, :meth:`Committer.request` sends one N-ACTION (Action Type 1,
"Request Storage Commitment", to the well-known instance 1.2.840.10008.1.20.1.1)
naming up to ``commit_batch`` stored instances under a new Transaction UID, then
waits for the N-EVENT-REPORT that answers it; a long send asks a batch at a time
while its files go on, over one listener. J.3.3.1.2 lets the PACS report on the same
association or on a new one that it opens to us (Orthanc always does the
latter), so a listener runs for the wait when ``commit_listen`` names an address.
Each instance comes back committed, or not committed with the PACS's Failure
Reason (PS3.3 C.14.1.1), or not committed because no report came in time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dicomize.dicom.uids import (
    STORAGE_COMMITMENT_PUSH_MODEL,
    STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE,
)
from dicomize.options import SendOptions
from dicomize.send.destination import DimseDestination

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["Committer"]

_REQUEST = 1  # Action Type ID (J.3.2.1)
_FAILURE_REASONS = {
    0x0110: "processing failure",
    0x0112: "no such object instance",
    0x0213: "resource limitation",
    0x0122: "referenced SOP class not supported",
    0x0119: "class/instance conflict",
    0x0131: "duplicate transaction UID",
}


class Committer:
    """Storage Commitment requests of one send, sharing one listener for the reports.

    Use as a context manager: the listener (``commit_listen``) runs from entry to
    exit, so a send that asks for commitment a batch at a time opens it once.
    """

    def __init__(self, target: DimseDestination, options: SendOptions) -> None:
        self.target, self.options = target, options
        self._waiting: dict[str, tuple[threading.Event, dict[str, str | None]]] = {}
        self._lock = threading.Lock()
        self._listener: Any = None

    def __enter__(self) -> Committer:
        from pynetdicom import evt

        self._handlers = [(evt.EVT_N_EVENT_REPORT, self._on_report)]
        self._listener = _listen(self.options, self._handlers)
        return self

    def __exit__(self, *_: object) -> None:
        if self._listener is not None:
            self._listener.shutdown()
            self._listener = None

    def _on_report(self, event: Any) -> tuple[int, None]:  # noqa: ANN401  (a pynetdicom Event)
        ds = event.event_information
        with self._lock:
            waiting = self._waiting.get(str(ds.get("TransactionUID", ""))) if ds else None
        if waiting is not None:
            done, outcome = waiting
            _record(ds, outcome)
            done.set()
        return 0x0000, None  # pynetdicom wants (status, dataset), not a bare status

    def request(self, instances: Iterable[tuple[str, str]]) -> dict[str, str | None]:
        """Ask for commitment of `instances` ((SOP Class UID, SOP Instance UID) pairs).

        Returns
        -------
        dict
            SOP Instance UID → None when committed, else why not (one line).
        """
        from pydicom.dataset import Dataset
        from pydicom.uid import generate_uid

        from dicomize.send.dimse import (
            close_transport,
            new_application_entity,
            open_association,
        )

        options = self.options
        pairs = list({uid: cls for cls, uid in instances}.items())  # each once (J.3.2.1.1.3)
        outcome: dict[str, str | None] = {uid: "no commitment report came" for uid, _ in pairs}
        if not pairs:
            return outcome
        transaction = generate_uid()
        done = threading.Event()
        with self._lock:
            self._waiting[transaction] = (done, outcome)
        ae = new_application_entity(options, STORAGE_COMMITMENT_PUSH_MODEL)
        try:
            assoc, problem, _ = open_association(ae, self.target, options, self._handlers)
            if assoc is None:
                return dict.fromkeys(outcome, f"commitment not requested: {problem}")
            try:
                request = Dataset()
                request.TransactionUID = transaction
                request.ReferencedSOPSequence = [_reference(cls, uid) for uid, cls in pairs]
                status, _ = assoc.send_n_action(
                    request,
                    _REQUEST,
                    STORAGE_COMMITMENT_PUSH_MODEL,
                    STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE,
                )
                code = int(status.Status) if status and "Status" in status else None
                if code != 0:
                    why = "no answer" if code is None else f"status 0x{code:04X}"
                    return dict.fromkeys(
                        outcome, f"the PACS refused the commitment request ({why})"
                    )
                # J.3.3.1.2: the report may come on this association; wait here a moment.
                done.wait(min(options.commit_timeout, 2.0))
            finally:
                if assoc.is_established:
                    assoc.release()
                close_transport(assoc)
            if not done.is_set():
                done.wait(options.commit_timeout)
        finally:
            with self._lock:
                del self._waiting[transaction]
        if not done.is_set():
            seconds = f"{options.commit_timeout:g}"
            return dict.fromkeys(outcome, f"no commitment report within {seconds} s")
        return outcome


def _listen(options: SendOptions, handlers: list[Any]) -> Any:  # noqa: ANN401
    """Start the listener a PACS reports to on a new association (J.3.3.1.3), if asked."""
    if options.commit_listen is None:
        return None
    from pynetdicom import AE

    host, _, port = options.commit_listen.rpartition(":")
    ae = AE(ae_title=options.calling_aet)
    ae.network_timeout = options.dimse_timeout
    # The PACS proposes the SCP role for the report (J.3.3.1.2, Role Selection).
    ae.add_supported_context(STORAGE_COMMITMENT_PUSH_MODEL, scu_role=True, scp_role=True)
    return ae.start_server((host, int(port)), block=False, evt_handlers=handlers)


def _reference(sop_class: str, sop_instance: str) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


def _record(ds: Dataset, outcome: dict[str, str | None]) -> None:
    """Fill `outcome` from an N-EVENT-REPORT's Referenced and Failed SOP Sequences (J.3.3)."""
    for item in ds.get("ReferencedSOPSequence", []):
        uid = str(item.get("ReferencedSOPInstanceUID", ""))
        if uid in outcome:
            outcome[uid] = None
    for item in ds.get("FailedSOPSequence", []):
        uid = str(item.get("ReferencedSOPInstanceUID", ""))
        if uid in outcome:
            code = int(item.get("FailureReason", 0x0110))
            reason = _FAILURE_REASONS.get(code, "failure")
            outcome[uid] = f"the PACS did not commit: {reason} (0x{code:04X})"
