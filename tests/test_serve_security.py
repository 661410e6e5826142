"""``dicomize serve`` against attackers on the network and in a browser (issue 29: 8, 9, 13).

Each test drives a real server on loopback through an HTTP client. Other loopback
addresses (127.0.0.2 …) stand for other clients: Linux answers the whole of 127/8.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from peers import free_port
from test_serve import Server, _token, serving  # noqa: F401  (the fixture)

SECRET = "correct horse battery staple"  # noqa: S105  (the tests' own)
WRONG = "not the secret at all"


def _secret_server(tmp_path: Path, serving: Callable[..., Server], *args: str) -> Server:  # noqa: F811
    (tmp_path / "secret").write_text(SECRET + "\n")
    return serving("-o", str(tmp_path / "out"), "--secret-file", str(tmp_path / "secret"), *args)


def _client(server: Server, source: str = "127.0.0.1") -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=server.url, timeout=60, transport=transport)


def _guess(client: httpx.Client, secret: str = WRONG) -> httpx.Response:
    token = _token(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "secret": secret})


# -- 8: sign-in has limits ------------------------------------------------------------------------


def test_wrong_secrets_from_one_client_are_limited_with_429_and_retry_after(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811
) -> None:
    server = _secret_server(tmp_path, serving)
    with _client(server) as client:
        token = _token(client.get("/login").text)
        wrong = {"csrf": token, "secret": WRONG}
        with ThreadPoolExecutor(5) as pool:  # each wrong guess waits; they do not wait in turn
            answers = list(
                pool.map(lambda _: client.post("/login", data=wrong).status_code, range(5))
            )
        assert answers == [401] * 5
        limited = _guess(client, SECRET)  # not even the right one, now
        assert limited.status_code == 429
        assert 0 < int(limited.headers["retry-after"]) <= 15 * 60
        assert "Too many wrong secrets" in limited.text
        assert client.get("/history").status_code == 401
    with _client(server, "127.0.0.2") as colleague:  # another client still signs in
        assert _guess(colleague, SECRET).status_code == 303
        assert colleague.get("/history").status_code == 200


def test_wrong_secrets_from_many_clients_meet_a_global_limit(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811
) -> None:
    server = _secret_server(tmp_path, serving)

    def guesses(number: int) -> list[int]:
        with _client(server, f"127.0.0.{number + 2}") as client:
            return [_guess(client).status_code for _ in range(4)]

    with ThreadPoolExecutor(13) as pool:
        answers = [code for codes in pool.map(guesses, range(13)) for code in codes]
    assert answers.count(401) == 50
    assert answers.count(429) == 2
    with _client(server, "127.0.0.100") as newcomer:
        limited = _guess(newcomer, SECRET)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0


def test_a_secret_shorter_than_16_characters_is_refused_at_start(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    (tmp_path / "secret").write_text("short-secret\n")
    result = subprocess.run(
        [*dicomize_cli, "serve", "--port", str(free_port()), "--state", str(tmp_path / "state"),
         "--secret-file", str(tmp_path / "secret"), "-o", str(tmp_path / "out")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DICOMIZE_SERVE_SECRET"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "12 characters" in result.stderr
    assert "at least 16" in result.stderr
    assert "short-secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- 9: only the configured host names ------------------------------------------------------------


def test_a_rebinding_host_gets_400_and_no_token_and_only_allowed_hosts_are_served(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811
) -> None:
    server = serving("-o", str(tmp_path / "out"), "--allowed-host", "dicomize.clinic.example")
    with _client(server) as client:
        evil = client.get("/", headers={"Host": f"evil.example:{server.port}"})
        assert evil.status_code in {400, 421}
        assert "set-cookie" not in evil.headers
        assert "csrf" not in evil.text
        assert "frame-ancestors 'none'" in evil.headers["content-security-policy"]
        assert client.post("/visit", headers={"Host": "evil.example"}).status_code in {400, 421}
        for host in (f"127.0.0.1:{server.port}", "localhost", "LOCALHOST.", "[::1]:8080"):
            assert client.get("/", headers={"Host": host}).status_code == 200, host
        named = client.get("/", headers={"Host": "dicomize.clinic.example"})
        assert named.status_code == 200
        assert _token(named.text)
    assert "GET / 400" in server.output()


def test_a_state_changing_request_from_another_origin_is_refused(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811
) -> None:
    server = serving("-o", str(tmp_path / "out"))
    with _client(server) as client:
        token = _token(client.get("/").text)
        patient = {"csrf": token, "PatientID": "P1", "PatientName": "Roe^Ann"}
        for foreign in (
            {"Origin": "http://evil.example"},
            {"Origin": f"http://evil.example:{server.port}"},
            {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
            {"Origin": f"http://127.0.0.1:{free_port()}", "Sec-Fetch-Site": "same-site"},
        ):
            answer = client.post("/visit", data=patient, headers=foreign)
            assert answer.status_code == 403, foreign
            assert "another site" in answer.text
        assert client.get("/", headers={"Origin": "http://evil.example"}).status_code == 200
        same = client.post("/visit", data=patient, headers={"Origin": server.url})
        assert same.status_code == 303
        # What Chromium sends from the page itself, whose Referrer-Policy is no-referrer:
        same = client.post(
            "/visit", data=patient, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
        )
        assert same.status_code == 303
        assert client.post("/visit", data=patient).status_code == 303  # no Origin: not a browser


# -- 13: behind a TLS proxy -----------------------------------------------------------------------


def _cookie(answer: httpx.Response) -> str:
    return answer.headers["set-cookie"].lower()


def test_behind_an_https_proxy_the_cookie_is_secure_with_hsts_and_a_shift_long_session(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811
) -> None:
    server = _secret_server(
        tmp_path, serving, "--behind-https-proxy", "--allowed-host", "dicomize.clinic.example"
    )
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"}
    proxied["Host"] = "dicomize.clinic.example"
    with _client(server) as client:
        login = client.get("/login", headers=proxied)
        assert login.status_code == 200
        assert re.search(r"\bsecure\b", _cookie(login))
        assert "max-age=43200" in _cookie(login)  # 12 hours: one shift
        assert login.headers["strict-transport-security"] == "max-age=31536000"
    plain = serving("-o", str(tmp_path / "out2"))  # no flag: the header is not believed
    with _client(plain) as client:
        home = client.get("/", headers={"X-Forwarded-Proto": "https"})
        assert not re.search(r"\bsecure\b", _cookie(home))
        assert "max-age=43200" in _cookie(home)
        assert "strict-transport-security" not in home.headers


def test_behind_a_proxy_wrong_secrets_are_counted_per_forwarded_client(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811
) -> None:
    server = _secret_server(tmp_path, serving, "--behind-https-proxy")

    def guess(client: httpx.Client, secret: str = WRONG) -> int:
        # The cookie is Secure: the client keeps it off plain HTTP, as a browser would.
        page = client.get("/login")
        cookie = page.headers["set-cookie"].split(";")[0]
        data = {"csrf": _token(page.text), "secret": secret}
        return client.post("/login", data=data, headers={"Cookie": cookie}).status_code

    for number, expected in ((1, [401] * 5 + [429]), (2, [401, 303])):
        with _client(server) as client:
            client.headers.update(
                {"X-Forwarded-Proto": "https", "X-Forwarded-For": f"10.0.0.{number}"}
            )
            codes = [guess(client) for _ in expected[:-1]]
            codes.append(guess(client, SECRET))
            assert codes == expected


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811
) -> None:
    server = _secret_server(tmp_path, serving)
    with _client(server) as client:
        assert _guess(client, SECRET).status_code == 303
        assert client.get("/history").status_code == 200
        copied = dict(client.cookies)
        page = client.get("/login").text
        assert 'action="/logout"' in page
        out = client.post("/logout", data={"csrf": _token(page)})
        assert (out.status_code, out.headers["location"]) == (303, "/login")
        assert client.get("/history").status_code == 401
    with _client(server) as thief:
        thief.cookies.update(copied)
        assert thief.get("/history").status_code == 401
