"""Delivery to PACS, proven against a real Orthanc and dcmtk's storescp on loopback ports."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import FULL_METADATA, encode, gradient
from dicomize.options import SendOptions
from dicomize.report import SendResult
from dicomize.send import send_files
from peers import (
    Orthanc,
    ScriptedStow,
    StoreScp,
    free_port,
    self_signed_certificate,
    stow_response,
)

FAST = SendOptions(retries=1, backoff=0.05, connect_timeout=3, acse_timeout=5, dimse_timeout=10)


SHIFTED_JPEG = encode(Image.fromarray(np.roll(gradient(), 7, axis=1)), "JPEG", quality=95)


@pytest.fixture
def pictures() -> dict[str, np.ndarray]:
    """What Orthanc should show for each sent object; for the JPEG, the source as it decodes."""
    return {
        "rgb": gradient(),
        "shifted": np.asarray(Image.open(io.BytesIO(SHIFTED_JPEG)).convert("RGB")),
        "gray": gradient(channels=1),
    }


@pytest.fixture
def outputs(tmp_path: Path) -> list[Path]:
    """Three objects of different encodings: native RGB, JPEG passthrough, JPEG-LS gray."""
    folder = tmp_path / "out"
    folder.mkdir()
    paths = []
    sources = {
        "rgb": (gradient(), "explicit"),
        "shifted": (SHIFTED_JPEG, "explicit"),
        "gray": (gradient(channels=1), "jpeg-ls-lossless"),
    }
    for name, (source, syntax) in sources.items():
        path = folder / f"{name}.dcm"
        options = dicomize.ConvertOptions(transfer_syntax=syntax)
        dicomize.write(dicomize.convert(source, FULL_METADATA, options=options), path)
        paths.append(path)
    return paths


def _preview(orthanc: Orthanc, uid: str) -> np.ndarray:
    png = orthanc.get(f"/instances/{orthanc.instance_for(uid)}/preview")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _assert_arrived(
    orthanc: Orthanc, results: list[SendResult], pictures: dict[str, np.ndarray]
) -> None:
    assert [r.status for r in results] == ["stored"] * len(results), results
    for result in results:
        assert result.sop_instance_uid is not None
        shown = _preview(orthanc, result.sop_instance_uid).astype(int)
        source = pictures[Path(result.input).stem].astype(int)
        expected = source if source.ndim == 3 else np.stack([source] * 3, axis=-1)
        # Orthanc renders the pixels it received: exactly the source's (decoded) pixels.
        assert np.abs(shown - expected).max() <= (1 if "shifted" in result.input else 0)


def test_c_store_over_one_association_and_every_instance_arrives(
    orthanc: Orthanc, outputs: list[Path], pictures: dict[str, np.ndarray]
) -> None:
    results = list(send_files(outputs, f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}", FAST))
    _assert_arrived(orthanc, results, pictures)
    stored = {pydicom.dcmread(p).SOPInstanceUID for p in outputs}
    assert {r.sop_instance_uid for r in results} == stored
    assert len(orthanc.get("/instances")) == 3


def test_stow_rs_stores_every_instance(
    orthanc: Orthanc, outputs: list[Path], pictures: dict[str, np.ndarray]
) -> None:
    options = SendOptions(batch_size=2, retries=1, backoff=0.05)
    results = list(send_files(outputs, f"{orthanc.url}/dicom-web", options))
    _assert_arrived(orthanc, results, pictures)


def test_cli_send_writes_a_report_and_convert_can_send(
    orthanc: Orthanc, outputs: list[Path], tmp_path: Path, dicomize_cli: list[str]
) -> None:
    report = tmp_path / "send.jsonl"
    result = subprocess.run(
        [
            *dicomize_cli,
            "send",
            str(outputs[0].parent),
            "--to",
            f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [row["status"] for row in rows] == ["stored"] * 3
    assert "3 stored, 0 not stored" in result.stderr

    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    result = subprocess.run(
        [
            *dicomize_cli,
            "convert",
            str(photo),
            "--patient-id",
            "9",
            "--send",
            f"{orthanc.url}/dicom-web",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    orthanc.instance_for(str(pydicom.dcmread(photo.with_suffix(".dcm")).SOPInstanceUID))


def test_nothing_listening_every_file_reported_not_stored(
    outputs: list[Path], tmp_path: Path
) -> None:
    server = Orthanc(tmp_path / "down")  # configured, never started
    results = list(send_files(outputs, f"dicom://ORTHANC@127.0.0.1:{server.dicom_port}", FAST))
    assert [r.status for r in results] == ["failed"] * 3
    assert all("cannot connect" in str(r.error) for r in results)
    assert all(p.exists() for p in outputs)


def test_orthanc_stopped_during_a_send_reports_exactly_what_was_stored(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    original = dicomize.convert(gradient(), FULL_METADATA)
    for index in range(400):
        original.SOPInstanceUID = pydicom.uid.generate_uid()
        # Not *.dcm: the suite's after-test check of every output would validate all 400.
        dicomize.write(original, folder / f"p{index:03d}")
    stopped = threading.Event()

    def stop_midway() -> None:
        # The PACS goes away once it holds 10 instances, while the send goes on.
        while orthanc.get("/statistics")["CountInstances"] < 10:
            time.sleep(0.01)
        orthanc.crash()
        stopped.set()

    stopper = threading.Thread(target=stop_midway)
    stopper.start()
    options = replace(FAST, associations=1)
    results = list(send_files([folder], f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}", options))
    stopper.join(timeout=30)
    assert stopped.is_set()
    assert sorted(r.input for r in results) == sorted(str(p) for p in folder.iterdir())
    stored = {r.sop_instance_uid for r in results if r.status == "stored"}
    assert 10 <= len(stored) < 400
    assert all(r.error for r in results if r.status == "failed")
    orthanc.start()  # same storage: count what really arrived
    arrived = {
        orthanc.get(f"/instances/{i}/simplified-tags")["SOPInstanceUID"]
        for i in orthanc.get("/instances")
    }
    # Every file reported stored is there; at most the one on the wire when the PACS died
    # may be there without a C-STORE-RSP to say so.
    assert stored <= arrived
    assert len(arrived - stored) <= 1


def test_wrong_called_ae_title_is_a_reported_rejection(
    orthanc: Orthanc, outputs: list[Path]
) -> None:
    results = list(send_files(outputs, f"dicom://WRONGAET@127.0.0.1:{orthanc.dicom_port}", FAST))
    assert [r.status for r in results] == ["failed"] * 3
    assert all("association rejected" in str(r.error) for r in results)
    assert orthanc.get("/instances") == []


def test_a_peer_that_hangs_up_is_reported_as_such_and_retried(outputs: list[Path]) -> None:
    # A listener that accepts and closes every connection: not a refusal, not a rejection.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = 0

    def hang_up() -> None:
        nonlocal accepted
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted += 1
            connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        results = list(send_files(outputs[:1], f"dicom://PACS@127.0.0.1:{port}", FAST))
    finally:
        listener.close()
        thread.join(timeout=5)
    assert [r.status for r in results] == ["failed"]
    assert f"PACS@127.0.0.1:{port} closed the connection without accepting" in str(results[0].error)
    # One file needs one association, not FAST's four: it tries once, then FAST's one retry.
    assert accepted == FAST.retries + 1


def test_delete_after_store_deletes_only_what_was_stored(
    orthanc: Orthanc, outputs: list[Path]
) -> None:
    broken = outputs[0].parent / "broken.dcm"
    broken.write_bytes(b"not dicom")
    options = SendOptions(delete_after_store=True, retries=1, backoff=0.05)
    results = list(
        send_files([outputs[0].parent], f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}", options)
    )
    assert sorted(r.status for r in results) == ["failed", "stored", "stored", "stored"]
    assert not any(p.exists() for p in outputs)
    assert broken.exists()


def test_stow_retries_a_500_and_reports_a_409_per_instance(outputs: list[Path]) -> None:
    uids = [str(pydicom.dcmread(p).SOPInstanceUID) for p in outputs]
    server = ScriptedStow([(500, None), (409, stow_response(uids[:2], uids[2:]))])
    try:
        results = list(send_files(outputs, server.url, FAST))
    finally:
        server.stop()
    assert len(server.requests) == 2  # the 500 was retried
    assert [r.status for r in results] == ["stored", "stored", "failed"]
    assert "failure reason 0xA700" in str(results[2].error)
    first = server.requests[0]
    assert first["headers"]["Content-Type"].startswith(
        'multipart/related; type="application/dicom"'
    )
    assert first["body"].count(b"Content-Type: application/dicom") == 3


def test_stow_bearer_token_comes_from_the_environment_and_is_never_shown(
    outputs: list[Path], tmp_path: Path, dicomize_cli: list[str]
) -> None:
    token = "s3cr3t-token-4711"  # noqa: S105  (a test secret, proven never shown)
    server = ScriptedStow([(200, None)], token=token)
    report = tmp_path / "r.jsonl"
    try:
        result = subprocess.run(
            [
                *dicomize_cli,
                "send",
                str(outputs[0]),
                "--to",
                server.url,
                "--token-env",
                "PACS_TOKEN",
                "--report",
                str(report),
                "-v",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PACS_TOKEN": token},
        )
        unauthorised = list(send_files([outputs[1]], server.url, FAST))
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert token not in result.stderr + result.stdout + report.read_text()
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {token}"
    assert unauthorised[0].status == "failed"
    assert "401" in str(unauthorised[0].error)


def test_stow_over_tls_verifies_the_certificate(outputs: list[Path], tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = ScriptedStow([(200, None)] * 2, tls=(cert, key))
    try:
        refused = list(send_files([outputs[0]], server.url, FAST))
        trusted = list(
            send_files([outputs[0]], server.url, SendOptions(ca_file=str(cert), retries=0))
        )
    finally:
        server.stop()
    assert refused[0].status == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused[0].error)
    assert trusted[0].status == "stored"


def test_dicom_tls_to_orthanc(tmp_path: Path, outputs: list[Path]) -> None:
    cert, key = self_signed_certificate(tmp_path)
    folder = tmp_path / "tls-orthanc"
    folder.mkdir()
    server = Orthanc(
        folder,
        DicomTlsEnabled=True,
        DicomTlsCertificate=str(cert),
        DicomTlsPrivateKey=str(key),
        DicomTlsTrustedCertificates=str(cert),
        DicomTlsRemoteCertificateRequired=False,
    )
    server.start()
    try:
        url = f"dicom://ORTHANC@127.0.0.1:{server.dicom_port}"
        plain = list(send_files(outputs[:1], url, FAST))
        secure = list(
            send_files(
                outputs[:1], url, SendOptions(tls=True, ca_file=str(cert), retries=1, backoff=0.05)
            )
        )
        arrived = server.get("/instances")
    finally:
        server.stop()
    assert plain[0].status == "failed"
    assert secure[0].status == "stored"
    assert len(arrived) == 1


def test_storescp_receives_and_compressed_files_are_decompressed_for_it(
    tmp_path: Path, outputs: list[Path]
) -> None:
    peer = StoreScp(tmp_path / "received")
    jpeg = outputs[1]
    before = hashlib.sha256(jpeg.read_bytes()).hexdigest()
    try:
        results = list(send_files(outputs, f"dicom://STORESCP@127.0.0.1:{peer.port}", FAST))
    finally:
        peer.stop()
    assert [r.status for r in results] == ["stored"] * 3
    received = {
        str(ds.SOPInstanceUID): ds
        for ds in (pydicom.dcmread(p) for p in (tmp_path / "received").iterdir())
    }
    assert set(received) == {r.sop_instance_uid for r in results}
    sent = received[str(pydicom.dcmread(jpeg).SOPInstanceUID)]
    assert not sent.file_meta.TransferSyntaxUID.is_compressed  # decompressed for this peer only
    assert hashlib.sha256(jpeg.read_bytes()).hexdigest() == before  # the file is untouched


def test_each_c_store_status_is_checked_and_reported(outputs: list[Path]) -> None:
    from pynetdicom import AE, evt
    from pynetdicom.presentation import AllStoragePresentationContexts

    uids = [str(pydicom.dcmread(p).SOPInstanceUID) for p in outputs]
    answers = {uids[0]: 0x0000, uids[1]: 0xB000, uids[2]: 0xA700}

    def on_store(event: Any) -> int:
        return answers[str(event.request.AffectedSOPInstanceUID)]

    ae = AE(ae_title="STATUSES")
    ae.supported_contexts = AllStoragePresentationContexts
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    assert server is not None
    try:
        found = send_files(outputs, f"dicom://STATUSES@127.0.0.1:{port}", FAST)
        # Several associations finish in any order: the results are compared per file.
        results = sorted(found, key=lambda r: outputs.index(Path(r.input)))
    finally:
        server.shutdown()
    assert [r.status for r in results] == ["stored", "stored", "failed"]
    assert results[0].error is None
    assert "warning status 0xB000" in str(results[1].error)
    assert "C-STORE failed with status 0xA700" in str(results[2].error)


def test_batch_sends_what_it_converted(
    orthanc: Orthanc, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(3):
        (photos / f"p{index}.png").write_bytes(
            encode(Image.fromarray(gradient() // (index + 1)), "PNG")
        )
    result = subprocess.run(
        [
            *dicomize_cli,
            "batch",
            str(photos),
            "-o",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--send",
            f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}",
            "--associations",  # batch takes the delivery flags send takes
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "3 stored, 0 not stored" in result.stderr
    assert len(orthanc.get("/instances")) == 3


def test_stow_basic_credentials_come_from_a_file(
    outputs: list[Path], tmp_path: Path, dicomize_cli: list[str]
) -> None:
    server = ScriptedStow([(200, None)])
    secret = tmp_path / "pacs.credentials"
    secret.write_text("alice:wonder-land-42\n")
    try:
        result = subprocess.run(
            [
                *dicomize_cli,
                "send",
                str(outputs[0]),
                "--to",
                server.url,
                "--basic-file",
                str(secret),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    expected = "Basic " + base64.b64encode(b"alice:wonder-land-42").decode()
    assert server.requests[0]["headers"]["Authorization"] == expected
    assert "wonder-land-42" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://pacs:21", "use dicom://AET@host:port or an http(s):// DICOMweb root"),
        ("dicom://127.0.0.1:4242", "dicom:// needs AET@host:port"),
        ("dicom://A_TITLE_FAR_TOO_LONG@127.0.0.1:4242", "at most 16 ASCII characters"),
    ],
)
def test_invalid_destination_exits_2_on_one_line(
    url: str, message: str, outputs: list[Path], dicomize_cli: list[str]
) -> None:
    result = subprocess.run(
        [*dicomize_cli, "send", str(outputs[0]), "--to", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_secret_variable_exits_2(outputs: list[Path], dicomize_cli: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_TOKEN"}
    result = subprocess.run(
        [
            *dicomize_cli,
            "send",
            str(outputs[0]),
            "--to",
            "https://127.0.0.1:9/dicom-web",
            "--token-env",
            "NO_SUCH_TOKEN",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 2
    assert "environment variable NO_SUCH_TOKEN is not set" in result.stderr


@pytest.mark.parametrize(
    ("dimse_timeout", "http_timeout", "status"), [(0.2, 30, "stored"), (60, 0.2, "failed")]
)
def test_stow_waits_as_long_as_its_http_timeout_not_the_dimse_timeout(
    dimse_timeout: float, http_timeout: float, status: str, outputs: list[Path]
) -> None:
    uids = [str(pydicom.dcmread(p).SOPInstanceUID) for p in outputs]
    # The server answers after 1 s: what decides is the HTTP timeout, never the DIMSE one.
    server = ScriptedStow([(200, stow_response(uids, []))], delay=1.0)
    try:
        results = list(
            send_files(
                outputs,
                server.url,
                SendOptions(retries=0, dimse_timeout=dimse_timeout, http_timeout=http_timeout),
            )
        )
    finally:
        server.stop()
    assert [r.status for r in results] == [status] * 3
    if status == "failed":
        assert all("ReadTimeout" in str(r.error) for r in results)


@pytest.mark.parametrize("size", ["0", "-1"])
def test_stow_batch_size_below_one_exits_2_and_sends_nothing(
    size: str, outputs: list[Path], dicomize_cli: list[str]
) -> None:
    server = ScriptedStow([])
    try:
        result = subprocess.run(
            [*dicomize_cli, "send", *map(str, outputs), "--to", server.url, "--batch-size", size],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.stop()
    assert result.returncode == 2
    assert "batch_size must be at least 1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert server.requests == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"associations": 0}, "associations must be at least 1"),
        ({"commit_batch": 0}, "commit_batch must be at least 1"),
        ({"retries": -1}, "retries must be 0 or more"),
        ({"http_timeout": 0}, "http_timeout must be more than 0"),
        ({"calling_aet": "A" * 17}, "calling AE title"),
    ],
)
def test_send_options_refuse_values_that_cannot_work(options: dict[str, Any], message: str) -> None:
    with pytest.raises(dicomize.ConfigError, match=message):
        SendOptions(**options)
