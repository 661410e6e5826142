"""DICOMweb STOW-RS (PS3.18 10.5) with httpx: multipart batches, per-instance results.

Batches are taken from the files as they come, never all listed at once, and up
to ``associations`` requests are in flight at once, each from a worker thread
over one shared client; a few more batches wait ready behind them, so memory
stays the same however many files there are. Results come per file as each
batch is answered, not in the order of the files.

The response's Referenced SOP Sequence (0008,1199) says what was stored and the
Failed SOP Sequence (0008,1198) what was not, with a Failure Reason (0008,1197).
Connection errors and 5xx answers are retried with backoff; other 4xx answers
are final for that batch. TLS certificates are verified unless a CA file says
whom to trust. Credentials go in headers only; they are never logged.
"""

from __future__ import annotations

import logging
import secrets
import ssl
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomize.options import SendOptions
from dicomize.report import SendResult, SendStatus
from dicomize.send._retry import pause_before_retry
from dicomize.send.destination import StowDestination

if TYPE_CHECKING:
    import httpx

__all__ = ["client_settings", "send_stow"]

logger = logging.getLogger(__name__)

_REFERENCED, _FAILED = "00081199", "00081198"
_SOP_INSTANCE, _REASON = "00081155", "00081197"


def send_stow(
    files: Iterable[Path], target: StowDestination, options: SendOptions
) -> Generator[SendResult, None, None]:
    """POST the files to ``{root}/studies`` in batches, several at once; yield a result per file.

    Parameters
    ----------
    files : iterable of Path
        DICOM files; read lazily, a batch at a time, so a generator over any
        number of files is never held in memory.
    target : StowDestination
        The DICOMweb service root.
    options : SendOptions
        ``batch_size`` instances per request, ``associations`` requests at once,
        and the connection, authentication and retry settings.

    Yields
    ------
    SendResult
        One per file, a batch's results together as soon as it is answered;
        batches may finish in any order.

    Notes
    -----
    Closing the generator early sends no further batch: those already posted
    are finished (their results are not yielded) and the worker threads end
    before :meth:`close` returns.
    """
    import httpx

    workers = options.associations
    # One queued batch behind each request keeps every worker busy while this
    # generator waits on its consumer or on a slow iterable of files.
    most_pending = 2 * workers
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    batches = _batches(files, options.batch_size)
    with (
        httpx.Client(**client_settings(options), limits=limits) as client,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dicomize-stow") as pool,
    ):
        pending: set[Future[list[SendResult]]] = set()
        try:
            for batch in batches:
                pending.add(pool.submit(_send_batch, client, batch, target, options))
                block = len(pending) >= most_pending
                done, pending = wait(
                    pending, timeout=None if block else 0, return_when=FIRST_COMPLETED
                )
                for future in done:
                    yield from future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
        finally:
            # Closed early or failed: batches not yet started are never sent; leaving the
            # `with` waits for those in flight, so no thread outlives this generator.
            for future in pending:
                future.cancel()


def _batches(files: Iterable[Path], size: int) -> Iterator[list[Path]]:
    iterator = iter(files)
    while batch := list(islice(iterator, size)):
        yield batch


def client_settings(options: SendOptions) -> dict[str, Any]:
    """Return the httpx client settings of every DICOMweb request (STOW-RS, QIDO-RS).

    Credentials go in headers only; verification stays on, a CA file only says
    whom to trust.
    """
    import httpx

    headers = {"Accept": "application/dicom+json"}
    auth = None
    if options.token:
        headers["Authorization"] = f"Bearer {options.token}"
    elif options.basic:
        auth = httpx.BasicAuth(*options.basic)
    return {
        "headers": headers,
        "auth": auth,
        "verify": ssl.create_default_context(cafile=options.ca_file),
        "timeout": httpx.Timeout(options.http_timeout, connect=options.connect_timeout),
    }


def _send_batch(
    client: httpx.Client,
    files: list[Path],
    target: StowDestination,
    options: SendOptions,
) -> list[SendResult]:
    """Post one batch, retried as the module says; return its results, one per file.

    Runs in a worker thread: reading the SOP Instance UIDs and streaming the
    files happen here, not in the thread that yields the results.
    """
    import httpx

    uids: dict[Path, str | None] = {path: _sop_instance(path) for path in files}
    boundary = f"dicomize-{secrets.token_hex(12)}"
    problem = ""
    try:
        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            # Known in advance, so the body streams from the files without chunked encoding,
            # which not every server takes: a 4 GB clip is never held in memory.
            "Content-Length": str(_multipart_length(files, boundary)),
        }
        for attempt in range(options.retries + 1):
            if attempt:
                pause_before_retry(options, attempt)
            try:
                response = client.post(
                    f"{target.url}/studies", content=_multipart(files, boundary), headers=headers
                )
            except httpx.HTTPError as exc:
                problem = f"cannot reach {target.url} ({type(exc).__name__}: {exc})"
                continue
            if response.status_code >= 500:  # noqa: PLR2004
                problem = f"HTTP {response.status_code} {response.reason_phrase} from {target.url}"
                continue
            return list(_results(response, files, uids, target.url))
    except OSError as exc:
        # A file gone or unreadable since it was listed: trying again reads it no better.
        # Raised here it would end the whole send and drop the other batches' results.
        problem = f"cannot read a file of the batch ({exc})"
    return [
        SendResult(
            input=str(path),
            output=target.url,
            sop_instance_uid=uids[path],
            status=SendStatus.FAILED,
            error=problem,
        )
        for path in files
    ]


def _results(
    response: httpx.Response,
    files: list[Path],
    uids: dict[Path, str | None],
    url: str,
) -> Iterator[SendResult]:
    stored, failed = _parse(response)
    for path in files:
        uid = uids[path]
        if uid is not None and uid in stored:
            yield SendResult(
                input=str(path), output=url, sop_instance_uid=uid, status=SendStatus.STORED
            )
        elif uid is not None and uid in failed:
            yield SendResult(
                input=str(path),
                output=url,
                sop_instance_uid=uid,
                status=SendStatus.FAILED,
                error=f"refused by the server, failure reason {failed[uid]}",
            )
        elif 200 <= response.status_code < 300 and not stored and not failed:  # noqa: PLR2004
            # A 2xx with no body listing is success for every part (PS3.18 10.5.3).
            yield SendResult(
                input=str(path), output=url, sop_instance_uid=uid, status=SendStatus.STORED
            )
        else:
            reason = f"HTTP {response.status_code} {response.reason_phrase}"
            if response.status_code < 300:  # noqa: PLR2004
                reason += ", and the response does not list this instance"
            yield SendResult(
                input=str(path),
                output=url,
                sop_instance_uid=uid,
                status=SendStatus.FAILED,
                error=reason,
            )


def _parse(response: httpx.Response) -> tuple[set[str], dict[str, str]]:
    try:
        document = response.json()
    except ValueError:
        return set(), {}
    if isinstance(document, list):  # some servers wrap the dataset in a list
        document = document[0] if document else {}
    if not isinstance(document, dict):
        return set(), {}
    stored = {_value(item, _SOP_INSTANCE) for item in _items(document, _REFERENCED)}
    failed = {
        _value(item, _SOP_INSTANCE): _value(item, _REASON) for item in _items(document, _FAILED)
    }
    return {uid for uid in stored if uid}, {uid: reason for uid, reason in failed.items() if uid}


def _items(document: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    value = document.get(tag, {}).get("Value", [])
    return [item for item in value if isinstance(item, dict)]


def _value(item: dict[str, Any], tag: str) -> str:
    values = item.get(tag, {}).get("Value", [])
    if not values:
        return ""
    value = values[0]
    return f"0x{value:04X}" if isinstance(value, int) and tag == _REASON else str(value)


def _sop_instance(path: Path) -> str | None:
    """Return the file's SOP Instance UID from its File Meta Information, or None.

    Read as the DIMSE sender reads it (a few hundred bytes, no pydicom): the
    server refuses a part without one, and the result says so.
    """
    from dicomize.send.scu import describe

    described = describe(path)
    return None if isinstance(described, str) else described.sop_instance


def _part_head(boundary: str) -> bytes:
    return f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()


def _multipart_length(files: list[Path], boundary: str) -> int:
    head, tail = len(_part_head(boundary)), len(f"--{boundary}--\r\n")
    return sum(head + path.stat().st_size + 2 for path in files) + tail


def _multipart(files: list[Path], boundary: str) -> Iterator[bytes]:
    """Yield the multipart body (PS3.18 8.6.1.2), each file read a piece at a time."""
    for path in files:
        yield _part_head(boundary)
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 22):
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()
