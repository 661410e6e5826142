"""C-STORE many files over several associations at once, each file reported once.

A reader thread walks the files and reads each one's File Meta Information
(:func:`~dicomize.send.scu.describe`) into a bounded queue, so a million files
cost the memory of a few hundred; ``options.associations`` sender threads each
hold one :class:`~dicomize.send.scu.StoreAssociation` and take files from it.
Presentation contexts are proposed from the SOP classes and transfer syntaxes
read so far, each class with an uncompressed fallback; a file of a pair not yet
proposed makes its sender associate again. A file the peer takes only
uncompressed is decompressed in memory for that transfer; the file on disk is
never changed.

When an association is lost, the file it was sending goes back to the queue for
any sender (a peer that stored it before the loss stores it again under the same
SOP Instance UID, which PS3.4 B.2.2 leaves to the peer, and Orthanc keeps once);
a sender that cannot associate again after ``options.retries`` tries with
backoff stops, and the others carry on. A file is given up after as many tries.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dicomize.dicom.uids import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    VIDEO_SYNTAX_PREFIX,
)
from dicomize.options import SendOptions
from dicomize.report import SendResult, SendStatus
from dicomize.send._retry import retry_delay
from dicomize.send.destination import DimseDestination
from dicomize.send.scu import AssociationLost, Refused, StoreAssociation, StoredFile, describe

__all__ = ["Delivered", "send_dimse"]

logger = logging.getLogger(__name__)

_UNCOMPRESSED = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
_WARNINGS = frozenset({0x0001, 0xB000, 0xB006, 0xB007})
_MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context IDs are odd numbers 1-255
#: Files read ahead per association: enough to propose every context a mixed folder needs
#: at the first association, few enough that memory does not grow with the send.
_AHEAD = 256
_POLL = 0.05


@dataclass(frozen=True, slots=True)
class Delivered:
    """One file's result, with the SOP Class UID a commitment request names (None: unread)."""

    result: SendResult
    sop_class: str | None


@dataclass(slots=True)
class _Work:
    file: StoredFile
    tries: int = 0


@dataclass(slots=True)
class _Shared:
    """What the reader and the senders of one send share, under `lock`."""

    target: DimseDestination
    options: SendOptions
    work: queue.Queue[_Work]
    results: queue.Queue[Delivered | None]
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    primed: threading.Event = field(default_factory=threading.Event)
    #: (SOP class, transfer syntax) pairs read so far, in the order first seen.
    pairs: dict[tuple[str, str], None] = field(default_factory=dict)
    again: collections.deque[_Work] = field(default_factory=collections.deque)
    #: Files read and not yet reported.
    pending: int = 0
    read_all: bool = False
    senders: int = 0
    #: Why the last sender to give up gave up.
    problem: str = ""
    #: What ended the reading of the files early (a folder that cannot be walked).
    fault: BaseException | None = None

    def put(self, delivered: Delivered | None) -> None:
        """Queue a result; waits while the consumer is behind, gives up when told to stop."""
        while not self.stop.is_set():
            try:
                self.results.put(delivered, timeout=_POLL)
            except queue.Full:
                continue
            return

    def report(self, delivered: Delivered) -> None:
        """Report a file read earlier: one fewer pending."""
        with self.lock:
            self.pending -= 1
        self.put(delivered)

    def finished(self) -> bool:
        """Tell whether every file has been read and reported."""
        with self.lock:
            return self.read_all and self.pending == 0 and not self.again

    def take(self) -> _Work | None:
        """Return the next file to send; None when every file has been reported (or on stop)."""
        while not self.stop.is_set():
            with self.lock:
                if self.again:
                    return self.again.popleft()
                finished = self.read_all and self.pending == 0
            if finished:
                return None
            try:
                return self.work.get(timeout=_POLL)
            except queue.Empty:
                continue
        return None


def send_dimse(
    files: Iterable[Path], target: DimseDestination, options: SendOptions
) -> Iterator[Delivered]:
    """C-STORE every file to `target` over ``options.associations`` associations.

    Yields
    ------
    Delivered
        One per file, in the order they finish.
    """
    senders = options.associations
    shared = _Shared(
        target=target,
        options=options,
        work=queue.Queue(maxsize=_AHEAD * senders),
        results=queue.Queue(maxsize=_AHEAD * senders),
        senders=senders,
    )
    threads = [threading.Thread(target=_read, args=(files, shared), daemon=True)]
    threads += [
        threading.Thread(target=_Sender(shared, number).run, daemon=True)
        for number in range(senders)
    ]
    for thread in threads:
        thread.start()
    try:
        finished = 0
        while finished < senders:
            delivered = shared.results.get()
            if delivered is None:
                finished += 1
            else:
                yield delivered
    finally:
        # Also when the consumer stops early: senders finish the file they are sending,
        # release, and leave.
        shared.stop.set()
        for thread in threads:
            thread.join()
    if shared.fault is not None:
        raise shared.fault


def _read(files: Iterable[Path], shared: _Shared) -> None:
    destination = str(shared.target)
    try:
        _read_all(files, shared, destination)
    except BaseException as exc:  # walking the folders failed: the consumer raises it
        shared.fault = exc
    finally:
        with shared.lock:
            shared.read_all = True
        shared.primed.set()


def _read_all(files: Iterable[Path], shared: _Shared, destination: str) -> None:
    for path in files:
        if shared.stop.is_set():
            return
        described = describe(path)
        if isinstance(described, str):
            failed = SendResult(
                input=str(path),
                output=destination,
                sop_instance_uid=None,
                status=SendStatus.FAILED,
                error=described,
            )
            shared.put(Delivered(failed, None))
            continue
        with shared.lock:
            shared.pairs.setdefault((described.sop_class, described.transfer_syntax), None)
            shared.pending += 1
        while not shared.stop.is_set():
            try:
                shared.work.put(_Work(described), timeout=_POLL)
                break
            except queue.Full:
                continue
        if shared.work.full():
            shared.primed.set()  # the senders' first proposal sees a full window


class _Sender:
    """One association's loop: associate, take a file, store it, until none is left.

    A file is taken only once the association is up: a peer that serves one
    association at a time (dcmtk's storescp without --fork) keeps the other
    senders waiting for their A-ASSOCIATE-AC, and they must not hold files then.
    """

    def __init__(self, shared: _Shared, number: int) -> None:
        self.shared, self.number = shared, number
        self.assoc: StoreAssociation | None = None
        self.work: _Work | None = None
        self.failures = 0
        self.problem = ""

    def run(self) -> None:
        shared = self.shared
        shared.primed.wait()
        with shared.lock:
            # Three files need no fourth association: a watched folder's round of one file
            # opens one.
            idle = shared.read_all and self.number >= max(shared.pending, 1)
        try:
            while not idle and not shared.stop.is_set() and self._step():
                pass
        except Exception as exc:  # a fault of ours: the file fails, never a thread traceback
            logger.debug("sender failed", exc_info=True)
            self.problem = f"internal error while sending: {type(exc).__name__}: {exc}"
            if self.work is not None:
                shared.report(_failed(self.work.file, str(shared.target), self.problem))
                self.work = None
        finally:
            if self.work is not None:
                _again(shared, self.work, tried=False)
            if self.assoc is not None:
                self.assoc.release()
            _leave(shared, self.problem)

    def _step(self) -> bool:
        """Do the next thing; False when this sender stops."""
        if self.assoc is None:
            return self._associate()
        if self.work is None and (work := self.shared.take()) is not None:
            self.work = work
        if self.work is None:
            return False
        item = self.work.file
        if (item.sop_class, item.transfer_syntax) not in self.assoc.proposed:
            self.assoc.release()  # a class or syntax read since: propose again, with it
            self.assoc = None
            return True
        try:
            delivered = _store(self.assoc, item, str(self.shared.target))
        except AssociationLost as exc:
            self.assoc.close()
            self.assoc = None
            return self._lost(str(exc))
        self.failures, self.work = 0, None
        self.shared.report(delivered)
        return True

    def _associate(self) -> bool:
        shared, options, work = self.shared, self.shared.options, self.work
        needed = (work.file.sop_class, work.file.transfer_syntax) if work else None
        try:
            self.assoc = StoreAssociation(shared.target, options, _proposals(shared, needed))
        except AssociationLost as exc:
            self.problem = str(exc)
            self.failures += 1
            if work is not None:
                _again(shared, work, tried=False)
                self.work = None
            final = isinstance(exc, Refused) and exc.final
            if final or self.failures > options.retries or shared.finished():
                return False
            logger.info("%s; retrying", self.problem)
            shared.stop.wait(retry_delay(options, self.failures))
        return True

    def _lost(self, problem: str) -> bool:
        """Put the file of a lost association back, or give it up; False to stop this sender."""
        shared, work = self.shared, self.work
        assert work is not None  # noqa: S101  (only called while sending one)
        self.problem, self.work = problem, None
        self.failures += 1
        if work.tries >= shared.options.retries:
            shared.report(_failed(work.file, str(shared.target), problem))
        else:
            _again(shared, work, tried=True)
        if self.failures > shared.options.retries:
            return False
        logger.info("%s; retrying", problem)
        return True


def _again(shared: _Shared, work: _Work, *, tried: bool) -> None:
    """Put a file back for any sender; `tried` when it was on the wire."""
    if tried:
        work.tries += 1
    with shared.lock:
        shared.again.append(work)


def _leave(shared: _Shared, problem: str) -> None:
    """Stop a sender; the last one reports every file left as not stored, with why.

    The reason is the last any sender met: the last to leave may be one that had
    nothing to do.
    """
    with shared.lock:
        shared.senders -= 1
        last = shared.senders == 0
        shared.problem = problem or shared.problem
        problem = shared.problem
    if last and not shared.stop.is_set():
        while (work := shared.take()) is not None:
            shared.report(_failed(work.file, str(shared.target), problem))
    shared.put(None)


def _proposals(
    shared: _Shared, needed: tuple[str, str] | None
) -> list[tuple[str, tuple[str, ...]]]:
    """Presentation contexts: each pair read so far as it is, each class with a fallback.

    `needed` (the file that asked for a new association) comes first, so it is
    proposed whatever the limit leaves out.
    """
    with shared.lock:
        pairs = [pair for pair in shared.pairs if pair != needed]
    if needed is not None:
        pairs.insert(0, needed)
    syntaxes: dict[str, list[str]] = {}
    for sop_class, syntax in pairs:
        syntaxes.setdefault(sop_class, []).append(syntax)
    proposals: list[tuple[str, tuple[str, ...]]] = []
    for sop_class, own in syntaxes.items():
        proposals += [(sop_class, (syntax,)) for syntax in own]
        proposals.append((sop_class, _UNCOMPRESSED))  # the fallback every peer accepts
    return proposals[:_MAX_CONTEXTS]


def _store(assoc: StoreAssociation, item: StoredFile, destination: str) -> Delivered:
    """C-STORE one file; raises AssociationLost when no answer came."""
    chosen = assoc.context_for(item)
    if chosen is None:
        why = (
            f"the peer accepts neither {item.transfer_syntax} nor uncompressed "
            f"for SOP class {item.sop_class}"
        )
        return _failed(item, destination, why)
    context, syntax = chosen
    data = None
    if syntax != item.transfer_syntax:
        converted = _converted(item, syntax)
        if isinstance(converted, str):
            return _failed(item, destination, converted)
        data = converted
    try:
        answer = assoc.store(item, context, data)
    except FileNotFoundError:
        return _failed(item, destination, f"{item.path} was removed before it was sent")
    except AssociationLost:
        raise
    except OSError as exc:  # opening it: nothing went on the wire
        return _failed(item, destination, f"{item.path} cannot be read ({exc.strerror or exc})")
    return _outcome(item, destination, answer)


def _converted(item: StoredFile, syntax: str) -> bytes | str:
    """Encode `item`'s data set in `syntax` (uncompressed) for this transfer; or say why not."""
    from pydicom import dcmread
    from pydicom.uid import UID
    from pynetdicom.dsutils import encode

    if item.transfer_syntax.startswith(VIDEO_SYNTAX_PREFIX):
        # MPEG-2, H.264 and HEVC (PS3.5 A.4.5-A.4.10): decoding a clip to frames would
        # multiply it a hundredfold and is never done silently.
        return (
            f"the peer does not accept {UID(item.transfer_syntax).name} for SOP class "
            f"{item.sop_class}; video is not decompressed for sending"
        )
    try:
        ds = dcmread(item.path)
        if UID(item.transfer_syntax).is_compressed:
            ds.decompress(generate_instance_uid=False)
        target = UID(syntax)
        data = encode(ds, target.is_implicit_VR, target.is_little_endian, False)
    except Exception as exc:  # a missing decoder plugin or a damaged frame
        return f"the peer accepts only uncompressed and decompressing failed: {exc}"
    if data is None:
        return "the peer accepts only uncompressed and the data set could not be encoded so"
    return data


def _outcome(item: StoredFile, destination: str, answer: dict[int, int | str]) -> Delivered:
    # PS3.4 Annex B.2.3: 0000 success, B000/B006/B007 warnings (stored), anything else failure.
    status_field = answer.get(0x0900)  # Status (PS3.7 C)
    code = status_field if isinstance(status_field, int) else 0xFFFF
    comment = str(answer.get(0x0902, "")).strip()  # Error Comment
    status, error = SendStatus.STORED, None
    if code in _WARNINGS:
        error = f"stored with warning status 0x{code:04X} {comment}".strip()
    elif code != 0x0000:
        status, error = SendStatus.FAILED, f"C-STORE failed with status 0x{code:04X} {comment}"
    result = SendResult(
        input=str(item.path),
        output=destination,
        sop_instance_uid=item.sop_instance,
        status=status,
        error=error.strip() if error else None,
    )
    return Delivered(result, item.sop_class)


def _failed(item: StoredFile, destination: str, why: str) -> Delivered:
    result = SendResult(
        input=str(item.path),
        output=destination,
        sop_instance_uid=item.sop_instance,
        status=SendStatus.FAILED,
        error=why,
    )
    return Delivered(result, item.sop_class)
