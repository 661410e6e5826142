"""C-STORE over one association driven in the calling thread, files sent as they are on disk.

pynetdicom's :class:`~pynetdicom.association.Association` hands every PDU
between three threads through polling loops; for a stream of stored files that
cost about 2.5 ms of each object's 3 (``bench/RESULTS.md``, issue 27). For
C-STORE alone dicomize drives the association here, with the PDUs of
:mod:`dicomize.send.pdu`: a file's data set goes from the disk to the socket as
it is, cut into P-DATA-TF PDUs no longer than the peer receives (PS3.8 9.3.5,
PS3.7 Annex F). The socket acknowledges at once before each read
(``TCP_QUICKACK``): a peer that leaves Nagle's algorithm on (Orthanc, dcmtk
without ``TCP_NODELAY=1``) writes its answer in two pieces and holds the second
until our delayed acknowledgement of the first, 40 ms an object. C-FIND and
Storage Commitment keep pynetdicom's full state machine
(:mod:`dicomize.send.dimse`).

Only the requestor's side of the protocol is needed: propose, send, read each
answer, release or abort. Anything else the peer sends (an A-ABORT, an
A-RELEASE-RQ, a malformed PDU, silence past the DIMSE timeout) loses the
association, which the caller reports and retries.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

from dicomize.dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from dicomize.options import SendOptions
from dicomize.send.destination import DimseDestination
from dicomize.send.pdu import (
    associate_request,
    command_fields,
    parse_accept,
    read_meta,
    rejection_reason,
    store_request,
)

__all__ = [
    "AssociationLost",
    "Refused",
    "StoreAssociation",
    "StoredFile",
    "describe",
]

#: PDU types (PS3.8 9.3.1).
_AC, _RJ, _P_DATA, _RELEASE_RQ, _RELEASE_RP, _ABORT = 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
_HEADER = struct.Struct(">BxI")
#: A P-DATA-TF PDU of one PDV (PS3.8 9.3.5.1, E.2): PDU type, length; item length, context,
#: message control header.
_PDV = struct.Struct(">BxIIBB")
_COMMAND_LAST, _DATA, _DATA_LAST = 0x03, 0x00, 0x02
#: The PDU we take from a peer: C-STORE-RSPs are a few hundred bytes.
_MAX_RECEIVE = 1 << 16
#: The most we send in one PDU when the peer sets no limit (Maximum Length 0, PS3.8 D.1).
_MAX_SEND = 1 << 20
#: Bytes read from a file per system call; the PDUs of one read go out in one sendmsg.
_CHUNK = 1 << 22
_IOV_MAX = 1024
#: Enough for any File Meta Information but a pathological one, which gets a second read.
_HEAD = 1 << 13
_UNCOMPRESSED = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)


class AssociationLost(Exception):
    """The peer, the network or the clock ended the association; the message is why."""


class Refused(AssociationLost):
    """The peer rejected the association; `final` when PS3.8 says retrying is pointless."""

    def __init__(self, message: str, *, final: bool) -> None:
        super().__init__(message)
        self.final = final


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredFile:
    """A Part 10 file about to be sent: what its File Meta Information says, and where it ends."""

    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    #: Where the data set starts (after the preamble and group 0002).
    offset: int
    size: int


def describe(path: Path) -> StoredFile | str:
    """Read `path`'s File Meta Information (PS3.10 7.1); say why in one line if it cannot be."""
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEAD)
            size = os.fstat(stream.fileno()).st_size
            try:
                meta = read_meta(head)
            except ValueError:
                if len(head) < _HEAD:
                    raise
                meta = read_meta(head + stream.read(1 << 20))
            # The file is sent next, after the few read before it: start reading it now.
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    except (ValueError, UnicodeDecodeError) as exc:
        return f"{path}: not a DICOM file with File Meta Information ({exc})"
    return StoredFile(
        path=path,
        sop_class=meta.sop_class,
        sop_instance=meta.sop_instance,
        transfer_syntax=meta.transfer_syntax,
        offset=meta.offset,
        size=size - meta.offset,
    )


class StoreAssociation:
    """An established association that C-STOREs :class:`StoredFile` objects one after another.

    Parameters
    ----------
    target : DimseDestination
        The peer.
    options : SendOptions
        AE title, timeouts, TLS.
    proposals : iterable of (str, tuple of str)
        Presentation contexts to propose: an abstract syntax and its transfer syntaxes.

    Raises
    ------
    Refused
        The peer rejected the association (`final` when permanent).
    AssociationLost
        No connection, no answer in time, or an answer that is not an A-ASSOCIATE-AC.
    """

    def __init__(
        self,
        target: DimseDestination,
        options: SendOptions,
        proposals: Iterable[tuple[str, tuple[str, ...]]],
    ) -> None:
        self.peer = f"{target.called_aet}@{target.host}:{target.port}"
        self.proposed: set[tuple[str, str]] = set()
        #: (abstract syntax, transfer syntax) accepted → presentation context ID.
        self.accepted: dict[tuple[str, str], int] = {}
        self._message_id = 0
        self._timeout = options.dimse_timeout
        self._sock = _connect(target, options)
        try:
            self._negotiate(target, options, list(proposals))
        except BaseException:
            self._sock.close()
            raise
        self._fragment = self._fragment_size()

    # -- association ---------------------------------------------------------------------------

    def _negotiate(
        self,
        target: DimseDestination,
        options: SendOptions,
        proposals: list[tuple[str, tuple[str, ...]]],
    ) -> None:
        contexts = [
            (2 * number + 1, abstract, syntaxes)  # odd IDs, 1-255 (PS3.8 9.3.2.2)
            for number, (abstract, syntaxes) in enumerate(proposals)
        ]
        for _, abstract, syntaxes in contexts:
            self.proposed.update((abstract, syntax) for syntax in syntaxes)
        request = associate_request(target.called_aet, options.calling_aet, contexts, _MAX_RECEIVE)
        self._sock.settimeout(options.acse_timeout)
        silence = f"no answer from {self.peer} in time"
        try:
            self._send(request)
            kind, body = self._read_pdu(silence)
        except AssociationLost as exc:
            if str(exc) == silence:
                raise
            # Closed or reset before any answer: not a rejection, worth another try.
            raise AssociationLost(
                f"{self.peer} closed the connection without accepting the association"
            ) from None
        if kind == _RJ and len(body) >= 10:  # noqa: PLR2004
            result, source, diagnostic = body[7], body[8], body[9]
            # PS3.8 9.3.4: result 1 is permanent, 2 transient and worth retrying.
            reason = rejection_reason(result, source, diagnostic)
            raise Refused(f"association rejected by {self.peer} ({reason})", final=result == 1)
        if kind != _AC:
            raise AssociationLost(f"{self.peer} closed the connection without accepting")
        try:
            accepted = parse_accept(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AssociationLost(f"{self.peer} sent a malformed A-ASSOCIATE-AC ({exc})") from None
        by_id = {context_id: abstract for context_id, abstract, _ in contexts}
        for context_id, syntax in accepted.contexts.items():
            if context_id in by_id and syntax:
                self.accepted[(by_id[context_id], syntax)] = context_id
        self.peer_max = accepted.max_length
        self._sock.settimeout(self._timeout)

    def _fragment_size(self) -> int:
        # The peer's Maximum Length bounds a P-DATA-TF's variable field (PS3.8 D.1): the PDV
        # item's 4-byte length, its context ID and its message control header come off it.
        limit = self.peer_max if 0 < self.peer_max <= _MAX_SEND else _MAX_SEND
        return max(limit - 6, 2)

    def release(self) -> None:
        """Release the association (A-RELEASE, PS3.8 7.2) and close; never raises."""
        try:
            self._send(b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00")
            self._read_pdu("no release answer")
        except (AssociationLost, OSError):
            pass
        finally:
            self.close()

    def abort(self) -> None:
        """Abort the association (A-ABORT, source: service user) and close; never raises."""
        try:
            self._send(b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00")
        except (AssociationLost, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    # -- C-STORE -------------------------------------------------------------------------------

    def context_for(self, item: StoredFile) -> tuple[int, str] | None:
        """Return the context ID and transfer syntax `item` goes in, or None.

        Its own transfer syntax first (sent as it is on disk), else an accepted
        uncompressed one (converted in memory for this transfer).
        """
        for syntax in (item.transfer_syntax, *_UNCOMPRESSED):
            context = self.accepted.get((item.sop_class, syntax))
            if context is not None:
                return context, syntax
        return None

    def store(
        self, item: StoredFile, context: int, data: bytes | None = None
    ) -> dict[int, int | str]:
        """C-STORE `item` on presentation context `context`; return the C-STORE-RSP's fields.

        `data` replaces the file's data set when it had to be converted for the peer.

        Raises
        ------
        OSError
            When the file cannot be opened; nothing was sent, the association stands.
        AssociationLost
            When no answer came: the caller retries the file on a new association.
        """
        stream = None if data is not None else item.path.open("rb")  # before any byte goes
        try:
            self._message_id = self._message_id % 0xFFFF + 1
            command = store_request(item.sop_class, item.sop_instance, self._message_id)
            header = _PDV.pack(_P_DATA, len(command) + 6, len(command) + 2, context, _COMMAND_LAST)
            self._sendmsg([header, command])
            if stream is None:
                self._send_data(memoryview(data or b""), context, last=True)
            else:
                self._send_file(stream, item, context)
        finally:
            if stream is not None:
                stream.close()
        return self._answer(self._message_id)

    def _send_file(self, stream: BufferedReader, item: StoredFile, context: int) -> None:
        # PDUs of one read go out in one sendmsg; the read buffer is reused, so a 4 GB clip
        # costs one buffer of memory.
        chunk = min(_CHUNK, self._fragment * (_IOV_MAX // 2))
        buffer = bytearray(min(chunk, max(item.size, 1)))
        view = memoryview(buffer)
        left = item.size
        try:
            stream.seek(item.offset)
            while True:
                count = stream.readinto(view[: min(len(buffer), left)]) if left else 0
                if left and not count:
                    break
                left -= count
                self._send_data(view[:count], context, last=not left)
                if not left:
                    return
            problem = "it became shorter while it was sent"
        except OSError as exc:
            problem = f"reading it failed while it was sent ({exc.strerror or exc})"
        # Part of a message is on the wire: only an abort ends it (PS3.8 9.3.5).
        self.abort()
        raise AssociationLost(f"{item.path}: {problem}")

    def _send_data(self, data: memoryview, context: int, *, last: bool) -> None:
        pieces: list[bytes | memoryview] = []
        step = self._fragment
        for start in range(0, max(len(data), 1), step):
            piece = data[start : start + step]
            flag = _DATA_LAST if last and start + step >= len(data) else _DATA
            pieces += [_PDV.pack(_P_DATA, len(piece) + 6, len(piece) + 2, context, flag), piece]
        self._sendmsg(pieces)

    def _answer(self, message_id: int) -> dict[int, int | str]:
        """Read the C-STORE-RSP to `message_id`: its command's fields (PS3.7 9.3.1.2)."""
        command = bytearray()
        while True:
            kind, body = self._read_pdu(f"no answer from {self.peer} within {self._timeout:g} s")
            if kind != _P_DATA:
                raise AssociationLost(_lost(kind, self.peer))
            done = False
            position = 0
            while position + 6 <= len(body):
                (length,) = struct.unpack_from(">I", body, position)
                header = body[position + 5]
                if header & 0x01:  # a command fragment (PS3.8 E.2)
                    command += body[position + 6 : position + 4 + length]
                    done = done or bool(header & 0x02)
                position += 4 + length
            if done:
                break
        try:
            fields = command_fields(bytes(command))
        except (ValueError, UnicodeDecodeError) as exc:
            raise AssociationLost(f"{self.peer} sent an undecodable answer ({exc})") from None
        if fields.get(0x0120) != message_id:  # Message ID Being Responded To
            raise AssociationLost(f"{self.peer} answered another message than ours")
        return fields

    # -- bytes ---------------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise AssociationLost(f"the connection to {self.peer} was lost ({exc})") from None

    def _sendmsg(self, pieces: list[bytes | memoryview]) -> None:
        try:
            if isinstance(self._sock, ssl.SSLSocket):  # TLS has no scatter-gather send
                for piece in pieces:
                    self._sock.sendall(piece)
                return
            while pieces:
                sent = self._sock.sendmsg(pieces)
                while pieces and sent >= len(pieces[0]):
                    sent -= len(pieces.pop(0))
                if sent:
                    pieces[0] = memoryview(pieces[0])[sent:]
        except OSError as exc:
            raise AssociationLost(f"the connection to {self.peer} was lost ({exc})") from None

    def _read_pdu(self, silence: str) -> tuple[int, bytes]:
        header = self._read(6, silence)
        kind, length = _HEADER.unpack(header)
        if (length > _MAX_RECEIVE and kind != _P_DATA) or length > 4 * _MAX_SEND:
            raise AssociationLost(f"{self.peer} sent a PDU of {length} bytes")
        body = self._read(length, silence)
        return kind, header + body if kind in {_AC, _RJ} else body

    def _read(self, count: int, silence: str) -> bytes:
        buffer = bytearray(count)
        view = memoryview(buffer)
        got = 0
        while got < count:
            # Before every read: a peer that writes an answer in two pieces with Nagle's
            # algorithm on sends the second only when the first is acknowledged.
            _acknowledge_now(self._sock)
            try:
                read = self._sock.recv_into(view[got:])
            except TimeoutError:
                raise AssociationLost(silence) from None
            except OSError as exc:
                raise AssociationLost(f"the connection to {self.peer} was lost ({exc})") from None
            if not read:
                raise AssociationLost(f"{self.peer} closed the connection")
            got += read
        return bytes(buffer)


def _connect(target: DimseDestination, options: SendOptions) -> socket.socket:
    try:
        sock = socket.create_connection((target.host, target.port), timeout=options.connect_timeout)
    except OSError as exc:
        raise AssociationLost(
            f"cannot connect to {target.host}:{target.port} ({exc.strerror or exc})"
        ) from None
    # Small DIMSE messages otherwise wait on Nagle's algorithm and delayed acknowledgements.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not options.tls:
        return sock
    context = ssl.create_default_context(cafile=options.ca_file)
    if options.cert_file:
        context.load_cert_chain(options.cert_file, options.key_file)
    try:
        return context.wrap_socket(sock, server_hostname=target.host)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise AssociationLost(f"cannot connect to {target.host}:{target.port} ({exc})") from None


def _acknowledge_now(sock: socket.socket) -> None:
    # Linux leaves quick-ack mode on its own, so it is asked for after every read.
    quick = getattr(socket, "TCP_QUICKACK", None)
    if quick is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quick, 1)


def _lost(kind: int, peer: str) -> str:
    if kind == _ABORT:
        return f"{peer} aborted the association"
    if kind == _RELEASE_RQ:
        return f"{peer} released the association during the transfer"
    return f"{peer} sent an unexpected PDU (type 0x{kind:02X})"
