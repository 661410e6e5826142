"""Deliver DICOM files to a PACS: DIMSE C-STORE (``dicom://``) or DICOMweb STOW-RS (``https://``).

Every file is reported as stored or not stored, in the same JSON Lines shape
as ``dicomize batch``; a source file is deleted only when asked and only after
the peer took responsibility for it.

* :mod:`~dicomize.send.destination`: where to (``parse_destination``);
* :mod:`~dicomize.send.store` (over :mod:`~dicomize.send.scu`), :mod:`~dicomize.send.stow`:
  the two protocols, ``options.associations`` at once;
* :mod:`~dicomize.send.commit`: Storage Commitment after C-STORE, a batch at a time;
* :mod:`~dicomize.send.dimse`: pynetdicom's associations for C-FIND and commitment;
* :mod:`~dicomize.send._retry`: the backoff both follow.

How to connect is a :class:`dicomize.SendOptions`.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dicomize.errors import ConfigError
from dicomize.files import walk_files
from dicomize.options import SendOptions
from dicomize.report import SendResult, SendStatus
from dicomize.send.destination import Destination, DimseDestination, parse_destination

if TYPE_CHECKING:
    from dicomize.send.commit import Committer
    from dicomize.send.store import Delivered

__all__ = ["send_files"]


def send_files(
    paths: Iterable[str | os.PathLike[str]],
    destination: str | Destination,
    options: SendOptions | None = None,
) -> Generator[SendResult, None, None]:
    """Send DICOM files; yield one result per file, stored or not, with the reason.

    Parameters
    ----------
    paths : iterable
        Files, and folders whose files (hidden ones passed over) are sent.
    destination : str or DimseDestination or StowDestination
        Where to send; a string is parsed with
        :func:`~dicomize.send.destination.parse_destination`.
    options : SendOptions or None
        Connection, authentication and retry settings.

    Yields
    ------
    SendResult
        ``status`` is stored or failed; ``output`` names the destination.

    Raises
    ------
    dicomize.errors.ConfigError
        When `destination` is not a valid address.
    """
    options = options or SendOptions()
    target = parse_destination(destination) if isinstance(destination, str) else destination
    if options.commit and not isinstance(target, DimseDestination):
        raise ConfigError("Storage Commitment is a DIMSE service: send to dicom://AET@host:port")
    # Walked as they are sent: a million files are never listed at once.
    files = (path for _, path in walk_files(paths))
    results: Generator[SendResult, None, None]
    if isinstance(target, DimseDestination):
        from dicomize.send.store import send_dimse  # the C-STORE path loads only here

        delivered = send_dimse(files, target, options)
        if options.commit:
            results = _committed(delivered, target, options)
        else:
            results = (d.result for d in delivered)
    else:
        from dicomize.send.stow import send_stow  # httpx when needed

        results = send_stow(files, target, options)
    # Nothing is deleted before the PACS has taken responsibility for it: stored, and, when
    # commitment was asked for, committed.
    kept = SendStatus.COMMITTED if options.commit else SendStatus.STORED
    try:
        for result in results:
            if options.delete_after_store and result.status == kept:
                Path(result.input).unlink(missing_ok=True)
            yield result
    finally:
        results.close()  # a consumer that stops early stops the senders now


def _committed(
    delivered: Iterator[Delivered], target: DimseDestination, options: SendOptions
) -> Generator[SendResult, None, None]:
    """Ask for commitment a batch at a time; mark each stored result committed or not."""
    from dicomize.send.commit import Committer

    batch: list[Delivered] = []
    with Committer(target, options) as committer:
        for item in delivered:
            if item.result.status == SendStatus.STORED and item.sop_class:
                batch.append(item)
                if len(batch) >= options.commit_batch:
                    yield from _settled(committer, batch)
                    batch = []
            else:
                yield item.result
        yield from _settled(committer, batch)


def _settled(committer: Committer, batch: list[Delivered]) -> Iterator[SendResult]:
    outcome = committer.request(
        (item.sop_class, item.result.sop_instance_uid)
        for item in batch
        if item.sop_class and item.result.sop_instance_uid
    )
    for item in batch:
        result = item.result
        if result.sop_instance_uid not in outcome:
            yield result
            continue
        why = outcome[result.sop_instance_uid]
        status = SendStatus.COMMITTED if why is None else SendStatus.NOT_COMMITTED
        yield replace(result, status=status, error=why)
