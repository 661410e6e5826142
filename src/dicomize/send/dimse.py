"""DIMSE C-STORE with pynetdicom: one association for many files, every status checked.

Presentation contexts are proposed from the files' SOP classes and transfer
syntaxes as they are, each with an uncompressed fallback; when the peer
accepts only uncompressed for a compressed file, that file is decompressed in
memory for sending and the file on disk is left untouched. A lost or refused
connection is retried with backoff, continuing with the files not yet stored;
a rejected association is final.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomize.dicom.uids import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    VIDEO_SYNTAX_PREFIX,
)
from dicomize.options import SendOptions
from dicomize.report import SendResult, SendStatus
from dicomize.send._retry import pause_before_retry
from dicomize.send.destination import DimseDestination

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pynetdicom import AE
    from pynetdicom.association import Association
    from pynetdicom.events import Event
    from pynetdicom.pdu import A_ASSOCIATE_RJ

__all__ = ["c_find", "close_transport", "new_application_entity", "open_association", "send_dimse"]

logger = logging.getLogger(__name__)

_UNCOMPRESSED = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
_WARNINGS = frozenset({0x0001, 0xB000, 0xB006, 0xB007})
_MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context IDs are odd numbers 1-255


@dataclass(frozen=True, kw_only=True, slots=True)
class _File:
    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str


def send_dimse(
    files: list[Path], target: DimseDestination, options: SendOptions
) -> Iterator[SendResult]:
    """C-STORE every file to `target`; yield a result per file."""
    destination = str(target)
    pending: list[_File] = []
    for path in files:
        described = _describe(path)
        if isinstance(described, str):
            yield SendResult(
                input=str(path),
                output=destination,
                sop_instance_uid=None,
                status=SendStatus.FAILED,
                error=described,
            )
        else:
            pending.append(described)
    ae = _application_entity(pending, options)
    failures = 0
    while pending:
        assoc, problem, final = open_association(ae, target, options)
        if assoc is not None:
            try:
                while pending:
                    result = _store(assoc, pending[0], destination)
                    if result is None:
                        problem = "the association was lost during the transfer"
                        break
                    pending.pop(0)
                    failures = 0
                    yield result
            finally:
                if assoc.is_established:
                    assoc.release()
                close_transport(assoc)
            if not pending:
                return
        failures += 1
        if final or failures > options.retries:
            for item in pending:
                yield SendResult(
                    input=str(item.path),
                    output=destination,
                    sop_instance_uid=item.sop_instance,
                    status=SendStatus.FAILED,
                    error=problem,
                )
            return
        logger.info("%s; retrying", problem)
        pause_before_retry(options, failures)


def _describe(path: Path) -> _File | str:
    from pydicom import dcmread

    try:
        ds = dcmread(path, stop_before_pixels=True)
        return _File(
            path=path,
            sop_class=str(ds.SOPClassUID),
            sop_instance=str(ds.SOPInstanceUID),
            transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        )
    except Exception as exc:  # any unreadable file is reported, not fatal
        return f"{path}: not a readable DICOM file ({type(exc).__name__})"


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


def _application_entity(files: list[_File], options: SendOptions) -> AE:
    ae = new_application_entity(options)
    wanted: list[tuple[str, list[str]]] = []
    for sop_class in sorted({f.sop_class for f in files}):
        syntaxes = sorted(
            {f.transfer_syntax for f in files if f.sop_class == sop_class} - set(_UNCOMPRESSED)
        )
        wanted.extend((sop_class, [syntax]) for syntax in syntaxes)
        wanted.append((sop_class, list(_UNCOMPRESSED)))  # the fallback every peer accepts
    for sop_class, syntaxes in wanted[:_MAX_CONTEXTS]:
        ae.add_requested_context(sop_class, syntaxes)
    return ae


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
        return f"association rejected by {peer} ({_reason(rejection)})", rejection.result == 1
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


def _reason(pdu: A_ASSOCIATE_RJ) -> str:
    """Put the rejection's reason in words, with a hint for the common AE title mistakes."""
    try:
        reason = str(pdu.reason_str)
    except ValueError:  # a reason PS3.8 Table 9-21 does not define
        return f"result {pdu.result}, source {pdu.source}, reason {pdu.reason_diagnostic}"
    reason = reason[0].lower() + reason[1:]
    if "AE title" in reason:
        return f"{reason}: check the called and calling AE titles"
    return reason


def _store(assoc: Association, item: _File, destination: str) -> SendResult | None:
    """C-STORE one file; None when the association is gone (retry the file later)."""
    from pydicom import dcmread

    accepted = {
        (str(c.abstract_syntax), str(c.transfer_syntax[0])) for c in assoc.accepted_contexts
    }
    dataset: Dataset | str = str(item.path)
    if (item.sop_class, item.transfer_syntax) not in accepted:
        ds = dcmread(item.path)
        problem = _decompressed_for_peer(ds, item, accepted)
        if problem:
            return SendResult(
                input=str(item.path),
                output=destination,
                sop_instance_uid=item.sop_instance,
                status=SendStatus.FAILED,
                error=problem,
            )
        dataset = ds
    try:
        # A file sent as it is goes by path: pynetdicom streams it from disk, so a 4 GB
        # clip is not read into memory.
        status = assoc.send_c_store(dataset)
    except (RuntimeError, OSError):
        return None
    if not status or "Status" not in status:
        return None  # timeout or abort: no status came back
    return _outcome(
        item, destination, int(status.Status), str(status.get("ErrorComment", "")).strip()
    )


def _outcome(item: _File, destination: str, code: int, comment: str) -> SendResult:
    # PS3.4 Annex B.2.3: 0000 success, B000/B006/B007 warnings (stored), anything else failure.
    if code == 0x0000:
        return SendResult(
            input=str(item.path),
            output=destination,
            sop_instance_uid=item.sop_instance,
            status=SendStatus.STORED,
        )
    if code in _WARNINGS:
        warning = f"stored with warning status 0x{code:04X} {comment}".strip()
        return SendResult(
            input=str(item.path),
            output=destination,
            sop_instance_uid=item.sop_instance,
            status=SendStatus.STORED,
            error=warning,
        )
    failure = f"C-STORE failed with status 0x{code:04X} {comment}".strip()
    return SendResult(
        input=str(item.path),
        output=destination,
        sop_instance_uid=item.sop_instance,
        status=SendStatus.FAILED,
        error=failure,
    )


def _decompressed_for_peer(ds: Dataset, item: _File, accepted: set[tuple[str, str]]) -> str:
    """Decompress `ds` in memory for a peer that takes only uncompressed; return any problem."""
    if not any((item.sop_class, syntax) in accepted for syntax in _UNCOMPRESSED):
        return (
            f"the peer accepts neither {item.transfer_syntax} nor uncompressed "
            f"for SOP class {item.sop_class}"
        )
    from pydicom.uid import UID

    if item.transfer_syntax.startswith(VIDEO_SYNTAX_PREFIX):
        # MPEG-2, H.264 and HEVC (PS3.5 A.4.5-A.4.10): decoding a clip to frames would
        # multiply it a hundredfold and is never done silently.
        return (
            f"the peer does not accept {UID(item.transfer_syntax).name} for SOP class "
            f"{item.sop_class}; video is not decompressed for sending"
        )
    if not UID(item.transfer_syntax).is_compressed:
        return ""  # native: pynetdicom re-encodes it in the accepted uncompressed syntax
    try:
        # For this transfer only: the file on disk is untouched.
        ds.decompress(generate_instance_uid=False)
    except Exception as exc:  # a missing decoder plugin or a damaged frame
        return f"the peer accepts only uncompressed and decompressing failed: {exc}"
    return ""


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
