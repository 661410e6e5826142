"""Real peers for the delivery tests, on free loopback ports, started and stopped by fixtures.

* Orthanc (Debian packages ``orthanc`` and ``orthanc-dicomweb``) with its own temporary
  storage and a generated configuration;
* dcmtk's ``storescp``, which accepts only uncompressed transfer syntaxes by default;
* a small STOW-RS server whose answers a test scripts (409, 500, 401), plain or TLS;
* two Modality Worklist SCPs: dcmtk's ``wlmscpfs``, which keeps each query it
  receives, and Orthanc's worklist plugin.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not come up within {seconds} s")


class Orthanc:
    """One Orthanc process; `stop` and `start` keep its storage, so a test can restart it."""

    def __init__(self, folder: Path, **config: Any) -> None:
        self.folder = folder
        self.http_port, self.dicom_port = free_port(), free_port()
        self.config = {
            "Name": "dicomize-test",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,  # --find-study queries from any AE title
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            **config,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        executable = shutil.which("Orthanc")
        if executable is None:
            raise RuntimeError("Orthanc is not installed; run scripts/bootstrap --test")
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.config))
        self._log = (self.folder / "orthanc.log").open("ab")
        self.process = subprocess.Popen(
            [executable, str(config)], stdout=self._log, stderr=self._log
        )
        _wait_for(self._answers, "Orthanc")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.folder / "orthanc.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Orthanc exited:\n{log}")
        try:
            with urllib.request.urlopen(f"{self.url}/system", timeout=1) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def crash(self) -> None:
        """Kill Orthanc at once (SIGKILL): a PACS that goes away in the middle of a transfer.

        ``stop`` is graceful, and Orthanc then finishes every association still busy.
        """
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.stop()

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:  # noqa: S310
            body = response.read()
        return json.loads(body) if body[:1] in {b"[", b"{"} else body

    def instance_for(self, sop_instance_uid: str) -> str:
        request = urllib.request.Request(  # noqa: S310  (http://127.0.0.1 only)
            f"{self.url}/tools/lookup",
            data=sop_instance_uid.encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            found = [r for r in json.loads(response.read()) if r["Type"] == "Instance"]
        assert len(found) == 1, f"{sop_instance_uid} is not in Orthanc"
        return str(found[0]["ID"])


class StoreScp:
    """dcmtk's storescp writing what it receives into a folder."""

    def __init__(self, folder: Path, aet: str = "STORESCP", *extra: str) -> None:
        self.folder, self.aet, self.port = folder, aet, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        from conftest import dcmtk_tool  # dcmtk's, not pynetdicom's storescp

        executable = dcmtk_tool("storescp")
        self.process = subprocess.Popen(
            [executable, "-aet", aet, "-od", str(folder), *extra, str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self._listening, "storescp")

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class ScriptedStow:
    """A STOW-RS endpoint whose answers come from a list, one per request."""

    def __init__(
        self,
        answers: list[tuple[int, Any]],
        tls: tuple[Path, Path] | None = None,
        token: str | None = None,
        delay: float = 0.0,
    ) -> None:
        self.answers, self.token = list(answers), token
        self.requests: list[dict[str, Any]] = []
        # Requests come on threads of their own: the answers and records are shared.
        self.lock = threading.Lock()
        #: Requests held at once now, and at most: from a body's arrival until just
        #: before its answer, so a client's next request never overlaps the end of the
        #: previous one in the count.
        self.holding = self.most_held = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with outer.lock:
                    outer.holding += 1
                    outer.most_held = max(outer.most_held, outer.holding)
                    if outer.token and (
                        self.headers.get("Authorization") != f"Bearer {outer.token}"
                    ):
                        status, document = 401, None
                    else:
                        status, document = outer.answers.pop(0) if outer.answers else (200, None)
                    outer.requests.append(
                        {"headers": dict(self.headers), "body": body, "status": status}
                    )
                time.sleep(delay)  # a server that takes its time to store a large batch
                with outer.lock:
                    outer.holding -= 1
                payload = json.dumps(document).encode() if document is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/dicom+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/dicom-web"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def stow_response(stored: list[str], failed: list[str]) -> dict[str, Any]:
    """A PS3.18 STOW-RS response: Referenced and Failed SOP Sequences."""

    def item(uid: str, reason: int | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"00081155": {"vr": "UI", "Value": [uid]}}
        if reason is not None:
            entry["00081197"] = {"vr": "US", "Value": [reason]}
        return entry

    return {
        "00081199": {"vr": "SQ", "Value": [item(uid) for uid in stored]},
        "00081198": {"vr": "SQ", "Value": [item(uid, 0xA700) for uid in failed]},
    }


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, made by openssl for this test only."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def write_item(text: Path, item: Path, dump: str, encoding: str) -> None:
    """Write the worklist item `item` from dcmdump text, kept as `text` (bytes in `encoding`)."""
    from conftest import dcmtk_tool  # conftest imports this module

    text.write_bytes(dump.encode(encoding))
    subprocess.run(
        [dcmtk_tool("dump2dcm"), "-g", str(text), str(item)],
        check=True,
        capture_output=True,
        timeout=30,
    )


class WorklistServer:
    """dcmtk's wlmscpfs serving worklist items written by the test (one ``.wl`` file each).

    Items are dcmdump-style text turned into DICOM files by dcmtk's ``dump2dcm``;
    the called AE title selects the folder (``AET``), as wlmscpfs requires.
    """

    def __init__(self, folder: Path, aet: str = "RIS") -> None:
        from conftest import dcmtk_tool

        self.folder, self.aet, self.port = folder, aet, free_port()
        self.items = folder / aet
        self.items.mkdir(parents=True, exist_ok=True)
        (self.items / "lockfile").touch()
        self.requests = folder / "requests"
        self.requests.mkdir(exist_ok=True)
        # -csk: answer in the character set each item file declares; -rfp: keep each
        # query as received, as dcmdump text (its values' bytes as they came).
        self.process = subprocess.Popen(
            [dcmtk_tool("wlmscpfs"), "-dfp", str(folder), "-csk",
             "-rfp", str(self.requests), str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for(self._listening, "wlmscpfs")

    @property
    def url(self) -> str:
        return f"dicom://{self.aet}@127.0.0.1:{self.port}"

    def add(self, name: str, dump: str, encoding: str = "ascii") -> None:
        """Write one worklist item from dcmdump text (bytes in `encoding`)."""
        write_item(self.folder / f"{name}.dump", self.items / f"{name}.wl", dump, encoding)

    def received(self) -> list[bytes]:
        """The queries received so far, oldest first, as wlmscpfs wrote them (dcmdump text)."""
        return [path.read_bytes() for path in sorted(self.requests.iterdir())]

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class OrthancWorklist:
    """Orthanc's worklist plugin serving ``.wl`` items written by the test, as WorklistServer.

    Orthanc answers in its ``DefaultEncoding`` whatever the item or the query says;
    `encoding` ``"Utf8"`` keeps names beyond Latin-1, which Debian's default
    (``"Latin1"``) turns into nothing.
    """

    def __init__(self, folder: Path, encoding: str = "Utf8") -> None:

        self.items = folder / "worklists"
        self.items.mkdir(parents=True, exist_ok=True)
        self.orthanc = Orthanc(
            folder,
            Plugins=[str(WORKLIST_PLUGIN)],
            Worklists={"Enable": True, "Database": str(self.items)},
            DicomAlwaysAllowFindWorklist=True,
            DefaultEncoding=encoding,
        )
        try:
            self.orthanc.start()
        except BaseException:
            self.orthanc.stop()  # one that never answered is not left running
            raise

    @property
    def url(self) -> str:
        return f"dicom://ORTHANC@127.0.0.1:{self.orthanc.dicom_port}"

    def add(self, name: str, dump: str, encoding: str = "ascii") -> None:
        """Write one worklist item from dcmdump text (bytes in `encoding`)."""
        write_item(self.items / f"{name}.dump", self.items / f"{name}.wl", dump, encoding)

    def stop(self) -> None:
        self.orthanc.stop()
