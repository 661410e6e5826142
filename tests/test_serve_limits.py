"""``dicomize serve`` within its limits: pixels, disk, partial uploads, client errors, messages.

Each case of the security review's page points (issue 29: 7, 10, 11, 12) through
HTTP against a real server in its own process, as ``test_serve`` starts it.
"""

from __future__ import annotations

import io
import re
import shutil
import socket
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
from PIL import Image

from test_serve import (  # noqa: F401  (serving: a fixture pytest finds here)
    Server,
    _visit,
    _wait_for_states,
    serving,
)

#: The pixel limit the servers here run with: a picture of 1000 x 1000 is at it.
_MAX_PIXELS = "1000000"


def _png(columns: int = 1000, rows: int = 1000) -> bytes:
    """A grey PNG of `columns` x `rows`: a few hundred bytes, a megapixel once decoded."""
    buffer = io.BytesIO()
    Image.new("L", (columns, rows), 128).save(buffer, "PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _upload(
    client: httpx.Client, visit: str, token: str, *files: tuple[str, bytes]
) -> httpx.Response:
    return client.post(
        f"{visit}/files?series=0",
        files=[("files", (name, data, "image/png")) for name, data in files],
        headers={"X-CSRF-Token": token},
    )


def _uploaded(server: Server) -> list[Path]:
    return [p for p in (server.state / "uploads").rglob("*") if p.is_file()]


def _raw(server: Server, head: bytes, body: bytes = b"") -> bytes:
    """Send `head` and `body` as they are on one connection; return what comes back."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _cookies(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


# -- 7: pixel amplification ---------------------------------------------------------------------


def test_an_upload_and_a_visit_have_a_decoded_pixel_budget_read_from_the_headers(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    """Small files, large pictures once decoded: four limits' worth an upload, sixteen a visit."""
    server = serving("-o", str(tmp_path / "out"), "--max-pixels", _MAX_PIXELS)
    picture = _png()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        visit, token = _visit(client, PatientID="P1")
        five = _upload(client, visit, token, *((f"scan{n}.png", picture) for n in range(5)))
        assert five.status_code == 413, five.text
        error = five.json()["error"]
        assert "5 megapixels" in error, error
        assert "at most 4 megapixels" in error, error
        assert "fewer pictures at a time" in error, error
        assert _uploaded(server) == []  # nothing of it kept
        for batch in range(4):  # sixteen in four uploads: the visit's budget
            names = [(f"b{batch}-{n}.png", picture) for n in range(4)]
            assert _upload(client, visit, token, *names).status_code == 200
        _wait_for_states(client, visit, {"held"}, 16)
        more = _upload(client, visit, token, ("one-more.png", picture))
        assert more.status_code == 413, more.text
        error = more.json()["error"]
        assert "this visit holds 16 megapixels" in error, error
        assert "Send the files of this visit, or remove some" in error, error
        assert len(_uploaded(server)) == 16
    assert "Traceback" not in server.output()


def test_jpegs_kept_as_they_came_do_not_count_against_the_pixel_budget(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    """A ward's photos are JPEGs stored as their codestreams: they amplify nothing."""
    server = serving("-o", str(tmp_path / "out"), "--max-pixels", _MAX_PIXELS)
    buffer = io.BytesIO()
    Image.new("RGB", (1000, 1000), (200, 120, 90)).save(buffer, "JPEG", quality=80)
    photos = [(f"photo{n}.jpg", buffer.getvalue()) for n in range(5)]  # 5 megapixels
    with httpx.Client(base_url=server.url, timeout=60) as client:
        visit, token = _visit(client, PatientID="P1")
        answer = _upload(client, visit, token, *photos)
        assert answer.status_code == 200, answer.text
        _wait_for_states(client, visit, {"held"}, 5)


def test_an_upload_the_free_disk_space_cannot_hold_is_refused_before_its_body_is_read(
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    server = serving("--max-upload-mb", str(1 << 40))  # the upload limit is no limit here
    free = shutil.disk_usage(server.state).free
    with httpx.Client(base_url=server.url, timeout=60) as client:
        visit, token = _visit(client, PatientID="P1")
        head = (
            f"POST {visit}/files?series=0 HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            f"Cookie: {_cookies(client)}\r\n"
            f"X-CSRF-Token: {token}\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\n"
            f"Content-Length: {free + (1 << 30)}\r\n\r\n"
        ).encode()
        answer = _raw(server, head, b"--xyz\r\n")
    status, _, text = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 507"), answer[:300]
    assert b"not enough free disk space" in text, text
    assert b"ask your IT service" in text, text
    assert _uploaded(server) == []


def test_previews_are_rendered_a_few_at_a_time(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    """Previews asked at once take turns: the memory of two at a time, not of all five.

    Each preview of a 3000 x 3000 RGB picture holds a few copies of it (27 MB each)
    while it renders: five at once took 12 times that, two at a time take 4 to 5.
    """
    server = serving("-o", str(tmp_path / "out"))
    pictures = []
    for n in range(6):  # a different picture each: no preview is the cache's
        buffer = io.BytesIO()
        Image.effect_noise((3000, 3000), 40 + n).convert("RGB").save(
            buffer, "PNG", compress_level=1
        )
        pictures.append((f"wide{n}.png", buffer.getvalue()))
    with httpx.Client(base_url=server.url, timeout=120) as client:
        visit, token = _visit(client, PatientID="P1")
        assert _upload(client, visit, token, *pictures).status_code == 200
        page = _wait_for_states(client, visit, {"held"}, 6)
        jobs = re.findall(r"/preview/(\d+)", page)
        assert len(jobs) == 6, page
        first = client.get(f"{visit}/preview/{jobs[0]}")  # what any preview needs is loaded
        assert first.status_code == 200
        peak = _peak(server)
        with httpx.Client(base_url=server.url, timeout=120, cookies=client.cookies) as other:
            import concurrent.futures

            with concurrent.futures.ThreadPoolExecutor(5) as pool:
                answers = list(pool.map(lambda job: other.get(f"{visit}/preview/{job}"), jobs[1:]))
        assert [a.status_code for a in answers] == [200] * 5
        five = _peak(server) - peak
    assert five < 7 * (3000 * 3000 * 3), five


def _peak(server: Server) -> int:
    """The server process' peak resident memory so far, in bytes."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1)) * 1024


# -- 10: partial uploads ------------------------------------------------------------------------


def test_an_upload_cut_off_before_its_closing_boundary_leaves_nothing_behind(
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    server = serving()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        visit, token = _visit(client, PatientID="P1")
        body = (
            b"--xyz\r\n"
            b'Content-Disposition: form-data; name="files"; filename="heel.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + _png()[:200]
        )  # no closing boundary: the body ends in the middle of the file
        answer = client.post(
            f"{visit}/files?series=0",
            content=body,
            headers={
                "X-CSRF-Token": token,
                "Content-Type": "multipart/form-data; boundary=xyz",
            },
        )
        assert answer.status_code == 400, answer.text
        assert "did not arrive in full" in answer.json()["error"]
        assert _uploaded(server) == []
        assert "heel" not in client.get(f"{visit}/files").text


def test_an_upload_left_behind_by_a_stopped_server_is_removed_at_the_next_start(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    state = tmp_path / "state"
    first = Server(dicomize_cli, state)
    first.stop()
    left = state / "uploads" / "AAAAAAAAAAAAAAAAAAAAAAAA" / "1a2b3c4d-heel.png"
    left.parent.mkdir(parents=True)
    left.write_bytes(_png()[:200])  # the service stopped while it arrived: no job has it
    second = Server(dicomize_cli, state)
    try:
        assert not left.exists()
        assert not left.parent.exists()
    finally:
        second.stop()


# -- 11: client errors are no server errors -----------------------------------------------------


def test_a_file_name_of_5000_characters_is_refused_with_a_message_and_no_traceback(
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    server = serving()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        visit, token = _visit(client, PatientID="P1")
        answer = _upload(client, visit, token, ("x" * 5000 + ".png", _png()))
        assert answer.status_code in (400, 413), answer.text
        assert "file name is too long" in answer.json()["error"]
    log = server.output()
    assert "Traceback" not in log, log
    assert "MultipartParseError" not in log, log
    assert _uploaded(server) == []


def test_a_check_whose_body_is_not_a_json_object_is_a_bad_request(
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    server = serving()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        _, token = _visit(client, PatientID="P1")
        headers = {"X-CSRF-Token": token, "Content-Type": "application/json"}
        for body in (b"[1, 2]", b'"PatientID"', b"42", b"null", b"{not json", b"\xff\xfe"):
            answer = client.post("/check", content=body, headers=headers)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["error"] == "send a JSON object with keyword and value"
        fine = client.post("/check", json={"keyword": "PatientSex", "value": "f"}, headers=headers)
        assert fine.json() == {"error": "", "reading": "female"}
    assert "Traceback" not in server.output()


# -- 12: what the page says about a failed file -------------------------------------------------


def test_a_failed_file_is_named_as_it_was_given_without_paths_or_library_internals(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    server = serving("-o", str(tmp_path / "out"))
    picture = _png(64, 64)
    # A text chunk that decompresses past Pillow's limit (PngImagePlugin.MAX_TEXT_CHUNK).
    bomb = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * (8 << 20), 9))
    damaged = picture[:33] + bomb + picture[33:]
    with httpx.Client(base_url=server.url, timeout=60) as client:
        visit, token = _visit(client, PatientID="P1")
        assert _upload(client, visit, token, ("Ferse links.png", damaged)).status_code == 200
        page = _wait_for_states(client, visit, {"failed"}, 1)
        history = client.get("/history").text
    for shown in (page, history):
        error = re.search(r"Ferse links\.png could not be converted: [^<]*", shown)
        assert error is not None, shown
        said = error.group(0)
        assert "MAX_TEXT_CHUNK" not in said, said
        assert "Plugin" not in said, said
        assert str(server.state) not in said, said
        assert "uploads" not in said, said
        assert "spool" not in said, said
        assert "Remove it, and add an intact copy of the file." in said, said
    assert str(server.state) not in page
    assert "MAX_TEXT_CHUNK" not in page
