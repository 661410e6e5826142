"""``dicomize serve``: the pages in a real headless Chromium, the API through an HTTP client.

Everything is real: uvicorn serving the app in its own process, wlmscpfs answering
the worklist search, Orthanc receiving what is sent, Debian's Chromium driven by
chromedriver. Screenshots of each page go to ``$DICOMIZE_ARTEFACTS`` (default
``.artefacts/`` in the checkout).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from PIL import Image

from conftest import encode, gradient
from peers import Orthanc, WorklistServer, free_port, self_signed_certificate
from test_documents import make_pdf
from test_worklist import STUDY_UID, item

ARTEFACTS = Path(os.environ.get("DICOMIZE_ARTEFACTS", Path(__file__).parent.parent / ".artefacts"))


class Server:
    """``dicomize serve`` in its own process on a free loopback port."""

    def __init__(
        self, cli: list[str], state: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = state
        self.log = (state.parent / f"serve-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [*cli, "serve", "--port", str(self.port), "--state", str(state), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 60
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dicomize serve did not start: " + self.output())
            time.sleep(0.1)

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def output(self) -> str:
        self.log.flush()
        return (self.state.parent / f"serve-{self.port}.log").read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def serving(tmp_path: Path, dicomize_cli: list[str]) -> Iterator[Callable[..., Server]]:
    """Start servers with given flags; each is stopped at the end of the test."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        server = Server(dicomize_cli, tmp_path / f"state{len(started)}", *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _jpeg(path: Path) -> Path:
    path.write_bytes(encode(Image.fromarray(gradient(240, 320)), "JPEG", quality=90))
    return path


def _token(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def _visit(client: httpx.Client, **patient: str) -> tuple[str, str]:
    """Open a visit for a typed patient; return its address and the session's CSRF token."""
    token = _token(client.get("/").text)
    answer = client.post("/visit", data={"csrf": token, **patient})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"], token


def _wait_for_states(client: httpx.Client, visit: str, wanted: set[str], count: int) -> str:
    deadline = time.monotonic() + 60
    while True:
        page = client.get(f"{visit}/files").text
        states = re.findall(r'data-state="([a-z]+)"', page)
        if len(states) == count and set(states) <= wanted:
            return page
        assert time.monotonic() < deadline, page
        time.sleep(0.2)


# -- the pages, in Chromium ----------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Debian's chromedriver (no downloads)."""
    from selenium import webdriver  # noqa: PLC0415

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,1400",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=driver_path)
    )
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1000, max(800, min(int(height) + 120, 4000)))
    assert driver.save_screenshot(str(ARTEFACTS / f"serve-{name}.png"))


def _until(driver: Any, condition: Callable[[Any], Any], timeout: float = 60) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    # The page replaces its file list as jobs move: an element may go stale between looks.
    return WebDriverWait(
        driver, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    ).until(condition)


def test_find_the_order_drop_files_check_and_send_in_chromium(
    tmp_path: Path,
    browser: Any,
    worklist: WorklistServer,
    orthanc: Orthanc,
    serving: Callable[..., Server],
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    worklist.add("a", item("A778"))
    worklist.add("b", item("B900", name="Other^Person", patient_id="999", study_uid="1.2.3.900"))
    server = serving(
        "--worklist",
        worklist.url,
        "--send",
        f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}",
    )
    photo = _jpeg(tmp_path / "wound.jpg")
    document = tmp_path / "consent.pdf"
    document.write_bytes(make_pdf())

    # 1. Find the order on the worklist.
    browser.get(server.url + "/")
    _shot(browser, "1-home")
    browser.find_element(By.NAME, "accession").send_keys("A778")
    browser.find_element(By.CSS_SELECTOR, "form[action='/search'] button").click()
    use = _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "button.use"))
    assert [button.get_attribute("data-accession") for button in use] == ["A778"]
    _shot(browser, "2-search")
    use[0].click()

    # 2. Drop two files at once (the file chooser takes both).
    _until(browser, lambda d: "/visit/" in d.current_url)
    assert "Doe^Jane" in browser.find_element(By.CSS_SELECTOR, ".patient").text
    chooser = browser.find_element(By.CSS_SELECTOR, "input[type=file]")
    chooser.send_keys(f"{photo}\n{document}")

    # 3. Each object is previewed from its DICOM object and judged by dciodvfy.
    def checked(driver: Any) -> bool:
        items = driver.find_elements(By.CSS_SELECTOR, "li.object")
        if len(items) != 2 or any(i.get_attribute("data-state") != "held" for i in items):
            return False
        images = driver.find_elements(By.CSS_SELECTOR, "li.object img")
        loaded = driver.execute_script(
            "return [...arguments[0]].every(i => i.complete && i.naturalWidth > 0)", images
        )
        return len(images) == 2 and bool(loaded)

    _until(browser, checked)
    text = browser.find_element(By.ID, "files").text
    assert text.count("dciodvfy: no errors") == 2, text
    assert "Secondary Capture Image Storage" in text
    assert "Encapsulated PDF Storage" in text
    assert "JPEG Baseline" in text  # the photo passed through
    _shot(browser, "3-visit")

    # 4. Send, and watch each file reach the PACS.
    browser.find_element(By.ID, "send").click()
    _until(
        browser,
        lambda d: (
            [i.text for i in d.find_elements(By.CSS_SELECTOR, "li.object .status")]
            == ["stored", "stored"]
        ),
    )
    _shot(browser, "4-sent")
    browser.get(server.url + "/history")
    assert "Doe" not in browser.page_source  # not signed in: no names
    _shot(browser, "5-history")

    studies = orthanc.get("/studies")
    assert len(studies) == 1
    study = orthanc.get(f"/studies/{studies[0]}")
    assert study["MainDicomTags"]["StudyInstanceUID"] == STUDY_UID
    assert study["MainDicomTags"]["AccessionNumber"] == "A778"
    assert len(orthanc.get("/instances")) == 2
    # The uploads are gone once the PACS has the objects.
    assert [p for p in (server.state / "uploads").rglob("*") if p.is_file()] == []


def test_typing_the_patient_with_the_keyboard_alone_on_a_phone_screen(
    tmp_path: Path, browser: Any, serving: Callable[..., Server]
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415

    server = serving("-o", str(tmp_path / "out"))
    browser.set_window_size(390, 844)  # a phone
    browser.get(server.url + "/")
    # No worklist: the demographics are typed, each checked on the server as it is typed.
    first = browser.find_element(By.NAME, "PatientID")
    first.click()
    first.send_keys("12345", Keys.TAB, "Doe^Jane", Keys.TAB, "1980-13-45")
    born = browser.switch_to.active_element
    assert born.get_attribute("name") == "PatientBirthDate"
    _until(browser, lambda d: d.find_element(By.ID, "PatientBirthDate-error").text)
    assert born.get_attribute("aria-invalid") == "true"
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    )  # nothing wider than the phone
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTEFACTS / "serve-phone-checked.png"))
    born.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE, "19800101")
    _until(browser, lambda d: not d.find_element(By.ID, "PatientBirthDate-error").text)
    born.send_keys(Keys.ENTER)  # submits the form, as a keyboard user would
    _until(browser, lambda d: "/visit/" in d.current_url)
    assert "Doe^Jane" in browser.find_element(By.CSS_SELECTOR, ".patient").text
    browser.save_screenshot(str(ARTEFACTS / "serve-phone-visit.png"))


# -- the API, through an HTTP client ---------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused(serving: Callable[..., Server]) -> None:
    server = serving("-o", "out")
    with httpx.Client(base_url=server.url) as client:
        client.get("/")
        answer = client.post("/visit", data={"PatientID": "P1"})
        assert answer.status_code == 403
        assert "reload the page" in answer.text
        forged = client.post("/visit", data={"PatientID": "P1", "csrf": "guessed"})
        assert forged.status_code == 403
        visit, _ = _visit(client, PatientID="P1")
        upload = client.post(f"{visit}/files?series=0", files={"files": ("a.jpg", b"x")})
        assert upload.status_code == 403  # no X-CSRF-Token header


def test_typed_values_are_checked_with_the_command_line_rules(
    serving: Callable[..., Server],
) -> None:
    server = serving("-o", "out")
    with httpx.Client(base_url=server.url) as client:
        token = _token(client.get("/").text)
        check = client.post(
            "/check",
            json={"keyword": "PatientSex", "value": "female"},
            headers={"X-CSRF-Token": token},
        )
        assert check.json()["error"]
        refused = client.post("/visit", data={"csrf": token, "PatientName": "Doe^Jane"})
        assert refused.status_code == 400
        assert "a Patient ID is needed" in refused.text


def test_an_oversized_upload_is_refused_with_a_clear_message_and_nothing_kept(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    server = serving("-o", str(tmp_path / "out"), "--max-upload-mb", "1", "--max-files", "2")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P1")
        big = client.post(
            f"{visit}/files?series=0",
            files={"files": ("big.jpg", b"\xff" * (2 << 20))},
            headers={"X-CSRF-Token": token},
        )
        assert big.status_code == 413
        assert "the limit is 1 MB" in big.json()["error"]
        many = client.post(
            f"{visit}/files?series=0",
            files=[("files", (f"{n}.jpg", b"x")) for n in range(3)],
            headers={"X-CSRF-Token": token},
        )
        assert many.status_code == 413
        assert "At most 2 files at a time" in many.json()["error"]
    assert [p for p in (server.state / "uploads").rglob("*") if p.is_file()] == []


def test_a_series_setting_converts_its_files_again(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    server = serving("-o", str(tmp_path / "out"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P1", PatientName="Doe^Jane")
        photo = _jpeg(tmp_path / "heel.jpg").read_bytes()
        answer = client.post(
            f"{visit}/files?series=0",
            files={"files": ("heel.jpg", photo, "image/jpeg")},
            headers={"X-CSRF-Token": token},
        )
        assert answer.status_code == 200, answer.text
        assert "Secondary Capture" in _wait_for_states(client, visit, {"held"}, 1)
        settings = {
            "csrf": token,
            "index": "0",
            "SeriesDescription": "Left heel",
            "Laterality": "L",
            "BodyPartExamined": "FOOT",
            "iod": "vl-photo",
        }
        assert client.post(f"{visit}/series", data=settings).status_code == 303
        page = _wait_for_states(client, visit, {"held"}, 1)
        assert "VL Photographic Image Storage" in page
        client.post(f"{visit}/send", data={"csrf": token})
        _wait_for_states(client, visit, {"done"}, 1)
    (written,) = (tmp_path / "out").rglob("*.dcm")
    ds = pydicom.dcmread(written)
    assert (ds.SeriesDescription, ds.Laterality, ds.BodyPartExamined) == ("Left heel", "L", "FOOT")
    assert ds.Modality == "XC"


def test_listening_beyond_loopback_needs_a_secret(tmp_path: Path, dicomize_cli: list[str]) -> None:
    result = subprocess.run(
        [*dicomize_cli, "serve", "--host", "0.0.0.0", "--port", str(free_port()),  # noqa: S104
         "--state", str(tmp_path / "state"), "-o", "out"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DICOMIZE_SERVE_SECRET"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "needs a sign-in secret" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_with_a_secret_every_page_needs_sign_in_and_names_show_only_then(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("correct horse battery staple\n")
    server = serving("-o", str(tmp_path / "out"), "--secret-file", str(secret))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        home = client.get("/", headers={"Accept": "text/html"})
        assert (home.status_code, home.headers["location"]) == (303, "/login")
        assert client.post("/visit", data={"PatientID": "P1"}).status_code == 401
        token = _token(client.get("/login").text)
        wrong = client.post("/login", data={"csrf": token, "secret": "guess"})
        assert wrong.status_code == 401
        right = client.post(
            "/login", data={"csrf": token, "secret": "correct horse battery staple"}
        )
        assert right.status_code == 303
        visit, token = _visit(client, PatientID="P1", PatientName="Roe^Ann")
        client.post(
            f"{visit}/files?series=0",
            files={"files": ("a.jpg", _jpeg(tmp_path / "a.jpg").read_bytes())},
            headers={"X-CSRF-Token": token},
        )
        _wait_for_states(client, visit, {"held"}, 1)
        assert "Roe^Ann" in client.get("/history").text
    with httpx.Client(base_url=server.url, timeout=30) as stranger:
        assert stranger.get("/history").status_code == 401


def test_every_answer_carries_the_security_headers_and_the_log_no_patient_data(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    server = serving("-o", str(tmp_path / "out"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, _ = _visit(client, PatientID="SECRETID", PatientName="Hidden^Name")
        for path in ("/", visit, "/history", "/static/app.js"):
            headers = client.get(path).headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert headers["x-content-type-options"] == "nosniff"
    log = server.output()
    assert "POST /visit 303" in log
    assert "SECRETID" not in log
    assert "Hidden" not in log


def test_https_with_a_certificate_and_a_cookie_sent_over_https_only(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = serving("-o", str(tmp_path / "out"), "--certfile", str(cert), "--keyfile", str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=server.url.replace("http:", "https:"), verify=trust) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert "secure" in home.headers["set-cookie"].lower()
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url + "/", timeout=5)  # plain HTTP is not served
