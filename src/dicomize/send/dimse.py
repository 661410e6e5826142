"""DIMSE services through pynetdicom's state machine: associations for C-FIND and commitment.

C-STORE of many files has its own, faster path (:mod:`dicomize.send.store`);
the worklist and PACS queries (C-FIND) and Storage Commitment (N-ACTION,
N-EVENT-REPORT) open their associations here.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING, Any

from dicomize.options import SendOptions
from dicomize.send.destination import DimseDestination
from dicomize.send.pdu import rejection_reason

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pynetdicom import AE
    from pynetdicom.association import Association
    from pynetdicom.events import Event
    from pynetdicom.pdu import A_ASSOCIATE_RJ

__all__ = ["c_find", "close_transport", "new_application_entity", "open_association"]


def new_application_entity(options: SendOptions, *sop_classes: str) -> AE:
    """Return our AE, with the options' title and timeouts, proposing `sop_classes`."""
    from pynetdicom import AE  # pynetdicom loads only when needed

    ae = AE(ae_title=options.calling_aet)
    ae.connection_timeout = options.connect_timeout
    ae.acse_timeout = options.acse_timeout
    ae.dimse_timeout = options.dimse_timeout
    ae.network_timeout = options.dimse_timeout
    for sop_class in sop_classes:
        ae.add_requested_context(sop_class)
    return ae


#: C-FIND statuses (PS3.4 C.4.1.1.4): Pending (FF00, FF01) carries a match; 0000 ends.
_PENDING = frozenset({0xFF00, 0xFF01})


def c_find(
    target: DimseDestination, identifier: Dataset, model: str, options: SendOptions, what: str
) -> list[Dataset]:
    """Send one C-FIND under information `model`; return every matching identifier.

    Raises
    ------
    dicomize.errors.QueryError
        Named after `what` (``"worklist"``, ``"PACS"``): the peer cannot be reached,
        refuses, fails the query or stops answering.
    """
    from dicomize.errors import QueryError

    assoc, problem, final = open_association(
        new_application_entity(options, model), target, options
    )
    if assoc is None:
        raise QueryError(f"{what} {target}: {problem}", reached=final)
    matches: list[Dataset] = []
    try:
        for status, found in assoc.send_c_find(identifier, model):
            code = int(status.Status) if status and "Status" in status else None
            if code is None:
                raise QueryError(
                    f"{what} {target}: no answer (timed out or aborted)", reached=False
                )
            if code in _PENDING and found is not None:
                matches.append(found)
            elif code not in _PENDING and code != 0:
                comment = str(status.get("ErrorComment", "")).strip()
                message = f"{what} {target}: the query failed with status 0x{code:04X} {comment}"
                raise QueryError(message.strip())
    except (RuntimeError, ValueError) as exc:
        raise QueryError(f"{what} {target}: {exc}", reached=False) from None
    finally:
        if assoc.is_established:
            assoc.release()
        close_transport(assoc)
    return matches


def open_association(
    ae: AE,
    target: DimseDestination,
    options: SendOptions,
    handlers: list[Any] | None = None,
) -> tuple[Association | None, str, bool]:
    """Associate with `target`; return (association or None, the problem, whether it is final).

    Shared by every DIMSE service dicomize uses (C-STORE, the worklist's C-FIND).
    """
    # Checked first with a plain socket: pynetdicom 3.0.4 leaves the socket of a refused
    # connection open (its _shutdown_socket skips close() when shutdown() fails).
    try:
        socket.create_connection(
            (target.host, target.port), timeout=options.connect_timeout
        ).close()
    except OSError as exc:
        return None, f"cannot connect to {target.host}:{target.port} ({exc.strerror or exc})", False
    tls = None
    if options.tls:
        context = ssl.create_default_context(cafile=options.ca_file)
        if options.cert_file:
            context.load_cert_chain(options.cert_file, options.key_file)
        tls = (context, target.host)
    rejections: list[A_ASSOCIATE_RJ] = []
    try:
        assoc = ae.associate(
            target.host,
            target.port,
            ae_title=target.called_aet,
            tls_args=tls,
            evt_handlers=[*(handlers or []), _rejection_recorder(rejections)],
        )
    except (OSError, ssl.SSLError) as exc:
        return None, f"cannot connect to {target.host}:{target.port} ({exc})", False
    if assoc.is_established:
        _no_delay(assoc)
        return assoc, "", False
    close_transport(assoc)
    problem, final = _refusal(assoc, rejections, f"{target.called_aet}@{target.host}:{target.port}")
    return None, problem, final


def _refusal(assoc: Association, rejections: list[A_ASSOCIATE_RJ], peer: str) -> tuple[str, bool]:
    """Say why `assoc` was not established, and whether trying again is pointless."""
    if rejections:
        # PS3.8 9.3.4: result 1 is a permanent rejection, 2 a transient one worth retrying.
        rejection = rejections[0]
        reason = rejection_reason(
            rejection.result or 0, rejection.source or 0, rejection.reason_diagnostic or 0
        )
        return f"association rejected by {peer} ({reason})", rejection.result == 1
    if assoc.is_rejected:
        return f"association rejected by {peer}", True
    if assoc.is_aborted:
        return f"{peer} closed the connection without accepting the association", False
    return f"no answer from {peer} in time", False


def _rejection_recorder(rejections: list[A_ASSOCIATE_RJ]) -> tuple[Any, Any]:
    """Return an event handler that keeps the peer's A-ASSOCIATE-RJ PDU.

    pynetdicom 3.0.4 reports an association as aborted, not rejected, when the
    peer closes the connection right after its A-ASSOCIATE-RJ and the closed
    transport reaches the state machine first (wlmscpfs does this about half the
    time); the PDU itself is always seen, so the rejection is taken from it.
    """
    from pynetdicom import evt
    from pynetdicom.pdu import A_ASSOCIATE_RJ

    def record(event: Event) -> None:
        if isinstance(event.pdu, A_ASSOCIATE_RJ):
            rejections.append(event.pdu)

    return evt.EVT_PDU_RECV, record


def close_transport(assoc: Association) -> None:
    """Close the socket pynetdicom may leave open after an abort or a rejection."""
    # pynetdicom 3.0.4 can leave the socket of an aborted or refused association open.
    transport = getattr(getattr(assoc, "dul", None), "socket", None)
    raw = getattr(transport, "socket", None)
    if raw is not None:
        raw.close()


def _no_delay(assoc: Association) -> None:
    # Small DIMSE messages otherwise wait on Nagle's algorithm and delayed ACKs (~40 ms each);
    # measured: 500 small files took 45 s to Orthanc without this.
    raw = getattr(getattr(getattr(assoc, "dul", None), "socket", None), "socket", None)
    if raw is not None:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
