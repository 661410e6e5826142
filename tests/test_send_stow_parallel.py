"""STOW-RS with several requests in flight, over real HTTP on a loopback port.

The server is :class:`peers.ScriptedStow`, which records how many requests it holds
at once, and what each request carried and was answered.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

import dicomize
from conftest import FULL_METADATA, gradient
from dicomize.options import SendOptions
from dicomize.report import SendResult
from dicomize.send.destination import StowDestination
from dicomize.send.stow import send_stow
from peers import ScriptedStow

FAST = SendOptions(retries=1, backoff=0.05, connect_timeout=3, http_timeout=30)


def instances(request: dict[str, Any]) -> list[str]:
    """The SOP Instance UIDs of a request's parts, in order, read from its multipart body."""
    boundary = request["headers"]["Content-Type"].rpartition("boundary=")[2].encode()
    parts = request["body"].split(b"--" + boundary)[1:-1]  # before the first: nothing
    return [
        str(
            pydicom.dcmread(
                io.BytesIO(part.split(b"\r\n\r\n", 1)[1][:-2]), stop_before_pixels=True
            ).SOPInstanceUID
        )
        for part in parts
    ]


@pytest.fixture
def many(tmp_path: Path) -> list[Path]:
    """300 small instances, each its own SOP Instance UID.

    The one dicomize wrote is ``source.dcm``, judged by the suite's conformance
    check; the copies differ from it only by their UIDs and have no ``.dcm``
    suffix, so that check does not run 300 times over the same object.
    """
    source = tmp_path / "source.dcm"
    dicomize.write(dicomize.convert(gradient(8, 8, 1), FULL_METADATA), source)
    dataset = pydicom.dcmread(source)
    folder = tmp_path / "many"
    folder.mkdir()
    paths = []
    for number in range(300):
        uid = pydicom.uid.generate_uid()
        dataset.SOPInstanceUID = uid
        dataset.file_meta.MediaStorageSOPInstanceUID = uid
        path = folder / f"instance-{number:03}"
        pydicom.dcmwrite(path, dataset)
        paths.append(path)
    return paths


def uid_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_requests_overlap_up_to_associations_and_take_a_fraction_of_the_serial_time(
    many: list[Path],
) -> None:
    files, delay = many[:16], 0.5  # 8 batches of 2: 4 s one after another
    server = ScriptedStow([], delay=delay)
    options = SendOptions(batch_size=2, associations=4, retries=0, http_timeout=30)
    try:
        started = time.monotonic()
        results = list(send_stow(files, StowDestination(url=server.url), options))
        took = time.monotonic() - started
    finally:
        server.stop()
    assert sorted(r.input for r in results) == sorted(map(str, files))
    assert {r.status for r in results} == {"stored"}
    assert len(server.requests) == 8
    assert 1 < server.most_held <= 4
    # Four at a time: about 1 s; half the serial time leaves room for a loaded machine.
    assert took < 8 * delay / 2, took


def test_a_batch_answered_500_is_sent_again_and_every_file_once_stored(
    many: list[Path],
) -> None:
    files = many[:12]  # 6 batches of 2; whichever arrives first is answered 500
    server = ScriptedStow([(500, None)], delay=0.1)
    options = SendOptions(batch_size=2, associations=4, retries=1, backoff=0.05)
    try:
        results = list(send_stow(files, StowDestination(url=server.url), options))
    finally:
        server.stop()
    assert sorted(r.input for r in results) == sorted(map(str, files))
    assert {r.status for r in results} == {"stored"}
    assert {r.sop_instance_uid for r in results} == {uid_of(p) for p in files}

    statuses = [request["status"] for request in server.requests]
    assert sorted(statuses) == [200] * 6 + [500]
    stored = [instances(r) for r in server.requests if r["status"] == 200]
    refused = [instances(r) for r in server.requests if r["status"] == 500]
    # Each file's body was stored by exactly one request; the refused batch came again whole.
    assert Counter(uid for batch in stored for uid in batch) == Counter(map(uid_of, files))
    assert refused[0] in stored


def test_files_are_taken_from_the_iterable_a_few_batches_at_a_time(many: list[Path]) -> None:
    taken = 0

    def lazily() -> Iterator[Path]:
        nonlocal taken
        for path in many:
            taken += 1
            yield path

    server = ScriptedStow([])
    options = SendOptions(batch_size=5, associations=2, retries=0)
    results: list[SendResult] = []
    ahead = []  # files taken but not yet reported, each time a result comes
    try:
        for result in send_stow(lazily(), StowDestination(url=server.url), options):
            results.append(result)
            ahead.append(taken - len(results))
    finally:
        server.stop()
    assert sorted(r.input for r in results) == sorted(map(str, many))
    assert {r.status for r in results} == {"stored"}
    # Two requests in flight and one batch ready behind each: never more than 4 batches
    # (and the one being taken) between the iterable and the results, out of 60.
    assert max(ahead) <= (2 * 2 + 1) * 5, max(ahead)
    assert len(server.requests) == 60


def test_closing_early_sends_no_more_and_leaves_no_thread(many: list[Path]) -> None:
    server = ScriptedStow([], delay=0.2)
    before = threading.active_count()
    options = SendOptions(batch_size=2, associations=4, retries=0)
    results = send_stow(iter(many), StowDestination(url=server.url), options)
    try:
        first = next(results)
        results.close()  # waits for the requests in flight
        sent = len(server.requests)
        assert server.holding == 0  # every request posted was answered before close returned
        assert not [t for t in threading.enumerate() if t.name.startswith("dicomize-stow")]
    finally:
        server.stop()
    assert first.status == "stored"
    # At most four in flight and four queued were ever taken; the queued ones never went.
    assert 1 <= sent <= 8
    assert len(server.requests) == sent
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)  # the server's own request threads end after their answers
    assert threading.active_count() <= before


def test_a_file_gone_since_it_was_listed_fails_its_batch_only(many: list[Path]) -> None:
    files = many[:6]
    files[4].unlink()
    server = ScriptedStow([])
    options = SendOptions(batch_size=2, associations=3, retries=2, backoff=0.05)
    try:
        results = list(send_stow(files, StowDestination(url=server.url), options))
    finally:
        server.stop()
    by_input = {r.input: r for r in results}
    assert sorted(by_input) == sorted(map(str, files))
    assert [by_input[str(p)].status for p in files] == ["stored"] * 4 + ["failed"] * 2
    assert "cannot read" in str(by_input[str(files[5])].error)
    assert len(server.requests) == 2  # not retried: reading it again would not help
