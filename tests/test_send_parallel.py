"""Several associations at once (issue 27): every file stored once, reported once, nothing held.

Against a real Orthanc that dies and comes back in the middle of a send, dcmtk's
storescp serving one association at a time, and storescp with the smallest PDU
it allows; the C-STORE-RQ we write by hand against pynetdicom's encoding.
"""

from __future__ import annotations

import io
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.filereader import read_file_meta_info

import dicomize
from conftest import FULL_METADATA, gradient
from dicomize.options import SendOptions
from dicomize.send import pdu, send_files
from dicomize.send.scu import StoredFile, describe
from peers import Orthanc, StoreScp

#: Room for a PACS that restarts: 0.2 + 0.4 + ... + 6.4 s of backoff, 12.6 s in all.
PATIENT = SendOptions(retries=6, backoff=0.2, connect_timeout=3, acse_timeout=5, dimse_timeout=10)


def _objects(folder: Path, count: int, *, syntax: str = "explicit", suffix: str = "") -> list[Path]:
    """`count` small objects with their own SOP Instance UIDs (not *.dcm unless asked: the
    suite's after-test check would validate every one)."""
    folder.mkdir(parents=True, exist_ok=True)
    options = dicomize.ConvertOptions(transfer_syntax=syntax)
    dataset = dicomize.convert(gradient(), FULL_METADATA, options=options)
    paths = []
    for index in range(count):
        dataset.SOPInstanceUID = pydicom.uid.generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        paths.append(folder / f"o{index:04d}{suffix}")
        dicomize.write(dataset, paths[-1])
    return paths


def _uids_in(orthanc: Orthanc) -> list[str]:
    return [
        orthanc.get(f"/instances/{i}/simplified-tags")["SOPInstanceUID"]
        for i in orthanc.get("/instances")
    ]


def test_a_pacs_that_dies_and_restarts_mid_send_ends_with_every_object_once(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    paths = _objects(tmp_path / "out", 600)
    restarted = threading.Event()
    held_at_crash = []

    def restart_midway() -> None:
        while orthanc.get("/statistics")["CountInstances"] < 30:
            time.sleep(0.01)
        orthanc.crash()  # SIGKILL: the four associations are cut in the middle of a file
        orthanc.start()  # same ports, same storage
        held_at_crash.append(orthanc.get("/statistics")["CountInstances"])
        restarted.set()

    restarter = threading.Thread(target=restart_midway)
    restarter.start()
    url = f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}"
    results = list(send_files([tmp_path / "out"], url, replace(PATIENT, associations=4)))
    restarter.join(timeout=60)
    assert restarted.is_set()
    # The send spanned the restart: Orthanc held fewer than all when it died, and the rest
    # were stored after it came back.
    assert held_at_crash[0] < len(paths)
    # The report: each file exactly once, every one stored.
    assert sorted(r.input for r in results) == sorted(map(str, paths))
    assert [r.status for r in results if r.status != "stored"] == []
    # Orthanc, through its REST API: each object exactly once, none missing, none extra.
    sent = sorted(str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths)
    assert sorted(_uids_in(orthanc)) == sent
    assert orthanc.get("/statistics")["CountInstances"] == len(paths)


def test_a_peer_serving_one_association_at_a_time_does_not_stall_the_others(
    tmp_path: Path,
) -> None:
    # dcmtk's storescp without --fork: three of four associations wait for their
    # A-ASSOCIATE-AC until the first is released; they must not hold files meanwhile.
    paths = _objects(tmp_path / "out", 40)
    server = StoreScp(tmp_path / "received", "SERIAL")
    try:
        started = time.monotonic()
        url = f"dicom://SERIAL@127.0.0.1:{server.port}"
        results = list(send_files(paths, url, replace(PATIENT, associations=4)))
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert sorted(r.status for r in results) == ["stored"] * 40
    assert len(list((tmp_path / "received").iterdir())) == 40
    assert elapsed < PATIENT.acse_timeout  # no sender waited out its ACSE timeout


def test_a_syntax_first_seen_past_the_read_ahead_gets_its_own_context(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    # One association reads 256 files ahead: 300 uncompressed files, then a JPEG-LS one it
    # had not proposed. It associates again, and the file goes as it is, not decompressed.
    folder = tmp_path / "out"
    _objects(folder, 300)
    (late,) = _objects(tmp_path / "late", 1, syntax="jpeg-ls-lossless")
    late = late.rename(folder / "zz-late")
    url = f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}"
    results = list(send_files([folder], url, replace(PATIENT, associations=1)))
    assert [r.status for r in results] == ["stored"] * 301
    uid = str(pydicom.dcmread(late, stop_before_pixels=True).SOPInstanceUID)
    kept = orthanc.get(f"/instances/{orthanc.instance_for(uid)}/metadata/TransferSyntax")
    assert kept == b"1.2.840.10008.1.2.4.80"  # JPEG-LS Lossless, as it was on disk


def test_the_smallest_pdu_a_peer_allows_still_carries_the_file_bit_for_bit(
    tmp_path: Path,
) -> None:
    # storescp -pdu 4096 (its minimum), writing what it receives as it was received (+B):
    # a 92 KB data set crosses in 23 P-DATA-TF PDUs, and arrives byte for byte.
    dataset = dicomize.convert(
        np.random.default_rng(1).integers(0, 256, (192, 160, 3), np.uint8), FULL_METADATA
    )
    sent = tmp_path / "sent.dcm"
    dicomize.write(dataset, sent)
    server = StoreScp(tmp_path / "received", "SMALLPDU", "-pdu", "4096", "+B")
    try:
        url = f"dicom://SMALLPDU@127.0.0.1:{server.port}"
        (result,) = send_files([sent], url, PATIENT)
    finally:
        server.stop()
    assert result.status == "stored"
    (received,) = (tmp_path / "received").iterdir()
    ours, theirs = describe(sent), describe(received)
    assert isinstance(ours, StoredFile)
    assert isinstance(theirs, StoredFile)
    assert ours.size > 16 * 4096
    with sent.open("rb") as a, received.open("rb") as b:
        a.seek(ours.offset)
        b.seek(theirs.offset)
        assert a.read() == b.read()


def test_closing_the_results_early_stops_every_sender(tmp_path: Path) -> None:
    paths = _objects(tmp_path / "out", 60)
    server = StoreScp(tmp_path / "received", "EARLY", "--fork")
    before = threading.active_count()
    try:
        results = send_files(paths, f"dicom://EARLY@127.0.0.1:{server.port}", PATIENT)
        first = next(results)
        results.close()
        deadline = time.monotonic() + 5
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        server.stop()
    assert first.status == "stored"
    assert threading.active_count() == before


def test_read_ahead_is_bounded_whatever_the_number_of_files(tmp_path: Path) -> None:
    # 3,000 names of one file: the reader takes at most its windows ahead of what is
    # reported, so memory does not grow with the send.
    (one,) = _objects(tmp_path / "one", 1)
    links = tmp_path / "links"
    links.mkdir()
    for index in range(3000):
        os.link(one, links / f"l{index:05d}")
    taken = 0

    def paths() -> Iterator[Path]:
        nonlocal taken
        for path in sorted(links.iterdir()):
            taken += 1
            yield path

    server = StoreScp(tmp_path / "received", "AHEAD", "--ignore")
    ahead = []
    try:
        url = f"dicom://AHEAD@127.0.0.1:{server.port}"
        reported = 0
        for result in send_files(paths(), url, replace(PATIENT, associations=1)):
            reported += 1
            ahead.append(taken - reported)
            assert result.status == "stored"
    finally:
        server.stop()
    assert reported == 3000
    # Two bounded queues: 256 files read ahead an association, and 256 results not yet
    # taken by the consumer; plus the reader's and the sender's file in hand.
    assert max(ahead) <= 2 * 256 + 2


def test_the_hand_written_c_store_request_is_what_pynetdicom_encodes() -> None:
    from pynetdicom.dimse_messages import C_STORE_RQ
    from pynetdicom.dimse_primitives import C_STORE
    from pynetdicom.dsutils import encode

    for sop_class, sop_instance, message_id in itertools.product(
        ["1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.104.1"],
        ["1.2.3", "2.25.95980387610740504389820973096287015265"],
        [1, 2, 65535],
    ):
        primitive = C_STORE()
        primitive.MessageID = message_id
        primitive.AffectedSOPClassUID = sop_class
        primitive.AffectedSOPInstanceUID = sop_instance
        primitive.Priority = 0
        primitive.DataSet = io.BytesIO(b"")
        message = C_STORE_RQ()
        message.primitive_to_message(primitive)
        command = message.command_set
        expected = encode(command, True, True)
        assert pdu.store_request(sop_class, sop_instance, message_id) == expected


@pytest.mark.parametrize("syntax", ["explicit", "jpeg-ls-lossless", "deflated"])
def test_describe_reads_what_pydicom_reads_and_where_the_data_set_starts(
    tmp_path: Path, syntax: str
) -> None:
    from pynetdicom.dsutils import split_dataset

    (path,) = _objects(tmp_path / "out", 1, syntax=syntax)
    described = describe(path)
    assert isinstance(described, StoredFile)
    meta = read_file_meta_info(path)
    _, offset = split_dataset(path)
    assert described.sop_class == meta.MediaStorageSOPClassUID
    assert described.sop_instance == meta.MediaStorageSOPInstanceUID
    assert described.transfer_syntax == meta.TransferSyntaxUID
    assert described.offset == offset
    assert described.size == path.stat().st_size - offset


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not dicom at all", "no DICM prefix"),
        (b"\0" * 128 + b"DICM", "cut short"),
        (
            b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x001.2\0" + b"\x08\x00\x16\x00UI\0\0",
            "no MediaStorageSOPClassUID, MediaStorageSOPInstanceUID",
        ),
    ],
)
def test_describe_says_in_one_line_why_a_file_cannot_be_sent(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    described = describe(path)
    assert isinstance(described, str)
    assert described.startswith(f"{path}: not a DICOM file with File Meta Information (")
    assert why in described
    assert "\n" not in described


def test_the_association_request_is_what_pynetdicom_encodes() -> None:
    from pydicom.uid import UID
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
        MaximumLengthNotification,
    )
    from pynetdicom.presentation import build_context

    from dicomize.dicom.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

    contexts = [
        (1, "1.2.840.10008.5.1.4.1.1.7", ("1.2.840.10008.1.2.4.50",)),
        (3, "1.2.840.10008.5.1.4.1.1.7", ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")),
        (5, "1.2.840.10008.5.1.4.1.1.104.1", ("1.2.840.10008.1.2.1",)),
    ]
    request = A_ASSOCIATE()
    request.application_context_name = UID("1.2.840.10008.3.1.1.1")
    request.calling_ae_title = "DICOMIZE"
    request.called_ae_title = "ORTHANC"
    built = []
    for context_id, abstract, syntaxes in contexts:
        context = build_context(abstract, list(syntaxes))
        context.context_id = context_id
        built.append(context)
    request.presentation_context_definition_list = built
    length = MaximumLengthNotification()
    length.maximum_length_received = 65536
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = UID(IMPLEMENTATION_CLASS_UID)
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    request.user_information = [length, implementation, version]
    expected = A_ASSOCIATE_RQ()
    expected.from_primitive(request)
    ours = pdu.associate_request("ORTHANC", "DICOMIZE", contexts, 65536)
    assert ours == expected.encode()


def test_an_acceptance_reads_as_pynetdicom_reads_it() -> None:
    from pydicom.uid import UID
    from pynetdicom.pdu import A_ASSOCIATE_AC
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        MaximumLengthNotification,
    )
    from pynetdicom.presentation import PresentationContext

    results = []
    for context_id, result, syntax in [
        (1, 0, "1.2.840.10008.1.2.4.50"),
        (3, 4, "1.2.840.10008.1.2"),  # transfer syntaxes not supported
        (5, 0, "1.2.840.10008.1.2"),
    ]:
        context = PresentationContext()
        context.context_id = context_id
        context.result = result
        context.transfer_syntax = [UID(syntax)]
        results.append(context)
    for max_length in (0, 4096, 131072):
        answer = A_ASSOCIATE()
        answer.application_context_name = UID("1.2.840.10008.3.1.1.1")
        answer.calling_ae_title = "DICOMIZE"
        answer.called_ae_title = "ORTHANC"
        answer.result = 0
        answer.presentation_context_definition_results_list = results
        length = MaximumLengthNotification()
        length.maximum_length_received = max_length
        implementation = ImplementationClassUIDNotification()
        implementation.implementation_class_uid = UID("1.2.3.4")
        answer.user_information = [length, implementation]
        encoded = A_ASSOCIATE_AC()
        encoded.from_primitive(answer)
        accepted = pdu.parse_accept(encoded.encode())
        assert accepted.contexts == {1: "1.2.840.10008.1.2.4.50", 5: "1.2.840.10008.1.2"}
        assert accepted.max_length == max_length


def test_a_store_response_reads_as_pydicom_reads_it() -> None:
    from pydicom.dataset import Dataset
    from pynetdicom.dsutils import encode

    for status, comment in [(0x0000, None), (0xB000, "coerced"), (0xA700, "out of resources")]:
        response = Dataset()
        response.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        response.CommandField = 0x8001
        response.MessageIDBeingRespondedTo = 513
        response.CommandDataSetType = 0x0101
        response.Status = status
        if comment:
            response.ErrorComment = comment
        response.AffectedSOPInstanceUID = "1.2.3.4"
        body = encode(response, True, True)
        assert body is not None
        group = Dataset()
        group.CommandGroupLength = len(body)
        head = encode(group, True, True)
        assert head is not None
        fields = pdu.command_fields(head + body)
        assert fields[0x0120] == 513
        assert fields[0x0900] == status
        assert fields.get(0x0902) == comment
        assert fields[0x1000] == "1.2.3.4"


@pytest.mark.parametrize(
    ("source", "reasons"), [(1, range(1, 11)), (2, range(1, 3)), (3, range(8))]
)
def test_rejection_reasons_read_as_pynetdicom_words_them(source: int, reasons: range) -> None:
    from pynetdicom.pdu import A_ASSOCIATE_RJ

    for reason in reasons:
        rejection = A_ASSOCIATE_RJ()
        rejection.result, rejection.source, rejection.reason_diagnostic = 1, source, reason
        words = pdu.rejection_reason(1, source, reason)
        if rejection.reason_str == "Reserved":
            assert words == f"result 1, source {source}, reason {reason}"
        else:
            assert words.startswith(rejection.reason_str.lower()[:1] + rejection.reason_str[1:])


def test_a_file_removed_after_it_was_read_fails_alone_and_the_send_goes_on(
    tmp_path: Path,
) -> None:
    paths = _objects(tmp_path / "out", 5)
    gone = paths[1]

    def names() -> Iterator[Path]:
        for path in paths:
            yield path
            if path == gone:
                gone.unlink()  # read ahead (its meta is known), then removed before its turn

    server = StoreScp(tmp_path / "received", "GONE", "--ignore")
    try:
        url = f"dicom://GONE@127.0.0.1:{server.port}"
        results = {r.input: r for r in send_files(names(), url, replace(PATIENT, associations=1))}
    finally:
        server.stop()
    assert results[str(gone)].status == "failed"
    assert results[str(gone)].error == f"{gone} was removed before it was sent"
    assert sorted(r.status for r in results.values()) == ["failed"] + ["stored"] * 4
