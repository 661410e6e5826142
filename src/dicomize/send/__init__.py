"""Deliver DICOM files to a PACS: DIMSE C-STORE (``dicom://``) or DICOMweb STOW-RS (``https://``).

Every file is reported as stored or not stored, in the same JSON Lines shape
as ``dicomize batch``; a source file is deleted only when asked and only after
the peer took responsibility for it.

* :mod:`~dicomize.send.destination`: where to (``parse_destination``);
* :mod:`~dicomize.send.dimse`, :mod:`~dicomize.send.stow`: the two protocols;
* :mod:`~dicomize.send.commit`: Storage Commitment after C-STORE;
* :mod:`~dicomize.send._retry`: the backoff both follow.

How to connect is a :class:`dicomize.SendOptions`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from dicomize.errors import ConfigError
from dicomize.files import walk_files
from dicomize.options import SendOptions
from dicomize.report import SendResult, SendStatus
from dicomize.send.destination import Destination, DimseDestination, parse_destination

__all__ = ["send_files"]


def send_files(
    paths: Iterable[str | os.PathLike[str]],
    destination: str | Destination,
    options: SendOptions | None = None,
) -> Iterator[SendResult]:
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
    files = [path for _, path in walk_files(paths)]
    if isinstance(target, DimseDestination):
        from dicomize.send.dimse import send_dimse  # pynetdicom when needed

        results = send_dimse(files, target, options)
    else:
        from dicomize.send.stow import send_stow  # httpx when needed

        results = send_stow(files, target, options)
    if options.commit:
        if not isinstance(target, DimseDestination):
            raise ConfigError(
                "Storage Commitment is a DIMSE service: send to dicom://AET@host:port"
            )
        results = _committed(list(results), target, options)
    # Nothing is deleted before the PACS has taken responsibility for it: stored, and, when
    # commitment was asked for, committed.
    kept = SendStatus.COMMITTED if options.commit else SendStatus.STORED
    for result in results:
        if options.delete_after_store and result.status == kept:
            Path(result.input).unlink(missing_ok=True)
        yield result


def _committed(
    results: list[SendResult], target: DimseDestination, options: SendOptions
) -> Iterator[SendResult]:
    """Ask for commitment of what was stored; mark each stored result committed or not."""
    from pydicom import dcmread

    from dicomize.send.commit import request_commitment

    stored = [r for r in results if r.status == SendStatus.STORED and r.sop_instance_uid]
    classes = {
        r.sop_instance_uid: str(dcmread(r.input, stop_before_pixels=True).SOPClassUID)
        for r in stored
    }
    outcome = request_commitment(
        [(classes[uid], uid) for uid in classes if uid is not None], target, options
    )
    for result in results:
        if result.status != SendStatus.STORED or result.sop_instance_uid not in outcome:
            yield result
            continue
        why = outcome[result.sop_instance_uid]
        status = SendStatus.COMMITTED if why is None else SendStatus.NOT_COMMITTED
        yield replace(result, status=status, error=why)
