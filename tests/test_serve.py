"""``dicomize serve``: the pages in a real headless Chromium, the API through an HTTP client.

Everything is real: uvicorn serving the app in its own process, wlmscpfs answering
the worklist search, Orthanc receiving what is sent, Debian's Chromium driven by
chromedriver. Screenshots of each page go to ``$DICOMIZE_ARTEFACTS`` (default
``.artefacts/`` in the checkout).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import sqlite3
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
    from selenium import webdriver

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
    """Screenshot the whole page at the window's width, then give the window back its size."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], max(800, min(int(height) + 120, 4000)))
    assert driver.save_screenshot(str(ARTEFACTS / f"serve-{name}.png"))
    driver.set_window_size(size["width"], size["height"])


def _until(driver: Any, condition: Callable[[Any], Any], timeout: float = 60) -> Any:
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def looked(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as exc:
            # A page that reloads (after Remove, Move) between finding an element and
            # reading it: Chromium says so in its own words, not as a stale element.
            if "does not belong to the document" in str(exc):
                return False
            raise

    # The page replaces its file list as jobs move: an element may go stale between looks.
    wait = WebDriverWait(
        driver, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    )
    try:
        return wait.until(looked)
    except TimeoutException:
        shown = driver.execute_script("return document.body.innerText")
        raise AssertionError(f"waited {timeout:.0f} s; the page shows:\n{shown}") from None


#: What the page shows: its text, and the words of its images, labels and placeholders.
_SHOWN = """
const words = [document.body.innerText];
for (const e of document.querySelectorAll("[alt], [title], [aria-label], [placeholder]")) {
  for (const name of ["alt", "title", "aria-label", "placeholder"]) {
    words.push(e.getAttribute(name) || "");
  }
}
return words.join("\\n");
"""


def _in_the_pages_words(driver: Any, server: Server) -> str:
    """Assert that nothing shown names the state folder or a command-line flag; return it."""
    shown = str(driver.execute_script(_SHOWN))
    for internal in (str(server.state), str(server.state.parent), "/uploads/", "/spool/"):
        assert internal not in shown, shown
    assert not re.search(r"(?<![\w-])--[a-z]", shown), shown
    return shown


def _fits(driver: Any) -> None:
    """Assert that the page is no wider than the window: nothing scrolls sideways."""
    wide = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert wide[0] <= wide[1], f"the page is {wide[0]} px wide in a {wide[1]} px window"


def _in_sight(driver: Any, element: Any) -> bool:
    """Tell whether `element` is within the window, not scrolled out of view."""
    return bool(
        driver.execute_script(
            "const box = arguments[0].getBoundingClientRect();"
            "return box.top >= 0 && box.bottom <= window.innerHeight",
            element,
        )
    )


def _card(driver: Any, name: str) -> Any:
    """Return the card of the file named `name`."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"li.object[data-name='{name}']")


def _shows(driver: Any, name: str, key: str) -> str:
    """Return what the card of `name` shows for `key`, read from its object ("" before).

    Its text, whether in sight or under the card's Details, closed.
    """
    from selenium.webdriver.common.by import By

    found = _card(driver, name).find_elements(By.CSS_SELECTOR, f"dd[data-key='{key}']")
    return str(found[0].get_attribute("textContent")).strip() if found else ""


def _card_values(driver: Any, name: str, *keys: str) -> dict[str, str]:
    """Return what the card of `name` shows for `keys`."""
    return {key: _shows(driver, name, key) for key in keys}


def _held_with_previews(count: int) -> Callable[[Any], bool]:
    """Wait for `count` cards, all held, their previews rendered from their objects."""
    from selenium.webdriver.common.by import By

    def held(driver: Any) -> bool:
        items = driver.find_elements(By.CSS_SELECTOR, "li.object")
        if len(items) != count or any(i.get_attribute("data-state") != "held" for i in items):
            return False
        images = driver.find_elements(By.CSS_SELECTOR, "li.object img")
        # Previews load lazily: those below the fold of a phone are asked for now.
        loaded = driver.execute_script(
            "const all = [...arguments[0]]; all.forEach(i => { i.loading = 'eager'; });"
            "return all.every(i => i.complete && i.naturalWidth > 0)",
            images,
        )
        return len(images) == count and bool(loaded)

    return held


def _search_on_a_phone(browser: Any, server: Server, name: str) -> None:
    """Search the worklist by name and today's date typed day first; choose the one order."""
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    _fits(browser)
    today = dt.date.today()
    browser.find_element(By.NAME, "name").send_keys(name)
    browser.find_element(By.NAME, "date").send_keys(f"{today.day}.{today.month}.{today.year}")
    browser.find_element(By.CSS_SELECTOR, "form[action='/search'] button").click()
    use = _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "button.use"))
    assert [button.get_attribute("data-accession") for button in use] == ["A778"]
    results = browser.find_element(By.CSS_SELECTOR, "table.results").text
    assert "Müller, Zoë" in results
    assert f"{today.day} {today:%b} {today.year} 09:30" in results
    assert browser.find_element(By.CSS_SELECTOR, "td.born").text == "1 Jan 1980"
    _fits(browser)
    assert browser.execute_script(
        "const box = arguments[0].getBoundingClientRect();"
        "return box.left >= 0 && box.right <= window.innerWidth",
        use[0],
    ), "Use this order is off the screen"
    _shot(browser, "phone-1-search")
    use[0].click()


def _one_study_of_two_series_in(orthanc: Orthanc) -> None:
    """The PACS holds the visit as one study: the photos in series 1, the PDF in series 2."""
    (study,) = orthanc.get("/studies")
    tags = orthanc.get(f"/studies/{study}")
    assert tags["MainDicomTags"]["StudyInstanceUID"] == STUDY_UID
    assert tags["PatientMainDicomTags"]["PatientName"] == "Müller^Zoë"
    numbers = {}
    for series in tags["Series"]:
        found = orthanc.get(f"/series/{series}")
        numbers[found["MainDicomTags"]["SeriesNumber"]] = found
    assert sorted(numbers) == ["1", "2"]
    assert len(numbers["1"]["Instances"]) == 2
    assert numbers["2"]["MainDicomTags"]["Modality"] == "DOC"
    photo = orthanc.get(f"/instances/{numbers['1']['Instances'][0]}/simplified-tags")
    assert (photo["ImageLaterality"], photo["BodyPartExamined"]) == ("L", "FOOT")


@pytest.fixture
def committing_orthanc(tmp_path: Path) -> Iterator[tuple[Orthanc, int]]:
    """Orthanc that sends its Storage Commitment reports to a port of ours."""
    listen = free_port()
    folder = tmp_path / "orthanc"
    folder.mkdir()
    server = Orthanc(folder, DicomModalities={"dicomize": ["DICOMIZE", "127.0.0.1", listen]})
    server.start()
    try:
        yield server, listen
    finally:
        server.stop()


def test_a_nurses_visit_on_a_phone_from_an_accented_name_to_the_visit_done(
    tmp_path: Path,
    browser: Any,
    worklist: WorklistServer,
    committing_orthanc: tuple[Orthanc, int],
    serving: Callable[..., Server],
) -> None:
    """Search, choose, drop, check and send at 390 px, a PDF in a series of its own."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    orthanc, listen = committing_orthanc
    worklist.add("a", item("A778", name="Müller^Zoë", charset="ISO_IR 100"), encoding="latin-1")
    worklist.add("b", item("B900", name="Other^Person", patient_id="999", study_uid="1.2.3.900"))
    server = serving(
        "--worklist", worklist.url,
        "--send", f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}",
        "--commit", "--commit-listen", f"127.0.0.1:{listen}",
    )  # fmt: skip
    heel, toe = _jpeg(tmp_path / "heel.jpg"), _jpeg(tmp_path / "toe.jpg")
    consent = tmp_path / "consent.pdf"
    consent.write_bytes(make_pdf())
    browser.set_window_size(390, 844)  # a phone

    # 1. The name with its accents and the date as a person types them.
    _search_on_a_phone(browser, server, "Müller")

    # 2. The series is described before any file: no button to press.
    _until(browser, lambda d: "/visit/" in d.current_url)
    assert "Müller, Zoë" in browser.find_element(By.CSS_SELECTOR, ".patient").text
    _fits(browser)
    first = browser.find_element(By.ID, "series-1")
    assert not first.find_element(By.CSS_SELECTOR, "button.apply").is_displayed()
    Select(first.find_element(By.NAME, "ImageLaterality")).select_by_value("L")
    first.find_element(By.NAME, "BodyPartExamined").send_keys("FOOT")
    first.find_element(By.NAME, "SeriesDescription").send_keys("Left heel")
    _until(browser, lambda d: "Saved" in d.find_element(By.CSS_SELECTOR, "#series-1 .saved").text)

    # 3. Two photos and a PDF dropped together: the PDF gets a series of its own, in sight.
    first.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(f"{heel}\n{toe}\n{consent}")
    _until(browser, lambda d: d.find_elements(By.ID, "series-2"))
    assert "Series 2: Documents" in browser.find_element(By.ID, "series-2").text
    notice = _until(browser, lambda d: d.find_element(By.ID, "notice").text)
    assert "consent.pdf went to series 2, Documents" in notice
    _until(browser, _held_with_previews(3))
    keys = ("Series number", "Series description", "Laterality", "Body part", "IOD")
    for photo in ("heel.jpg", "toe.jpg"):
        assert _card_values(browser, photo, *keys, "Transfer syntax") == {
            "Series number": "1",
            "Series description": "Left heel",
            "Laterality": "left",
            "Body part": "FOOT",
            "IOD": "Secondary Capture Image Storage",
            "Transfer syntax": "JPEG Baseline (Process 1)",  # the photo passed through
        }
    assert _card_values(browser, "consent.pdf", *keys, "Modality") == {
        "Series number": "2",
        "Series description": "Documents",
        "Laterality": "not recorded",
        "Body part": "not recorded",
        "IOD": "Encapsulated PDF Storage",
        "Modality": "DOC",
    }
    checked = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "li.object .checked")]
    assert checked == ["Picture · checked: OK"] * 2 + ["PDF document · checked: OK"]
    for name in ("heel.jpg", "toe.jpg", "consent.pdf"):
        assert _shows(browser, name, "Verdict").startswith("dciodvfy: no errors"), name
    # DICOM's terms wait under each card's Details, closed: the cards read in plain words.
    text = _in_the_pages_words(browser, server)
    for term in ("Transfer syntax", "Secondary Capture Image Storage", "dciodvfy", "(L)"):
        assert term not in text, text
    _fits(browser)
    _shot(browser, "phone-2-checked")

    # 4. Sent, and said to be done once the PACS has committed to every object.
    browser.find_element(By.ID, "send").click()
    done = _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#summary.done"))
    assert "This visit is done. 3 objects stored and committed in the PACS." in done[0].text
    # Nothing is left to send: the next step offered is the next visit.
    _until(browser, lambda d: not d.find_element(By.ID, "send").is_displayed())
    assert [i.text for i in browser.find_elements(By.CSS_SELECTOR, "li.object .status")] == [
        "committed"
    ] * 3
    _fits(browser)
    _in_the_pages_words(browser, server)
    _shot(browser, "phone-3-done")
    browser.find_element(By.ID, "next-visit").click()
    _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "form[action='/search']"))

    _one_study_of_two_series_in(orthanc)
    assert [p for p in (server.state / "uploads").rglob("*") if p.is_file()] == []


def _state_of(driver: Any, name: str) -> str:
    """Return the state of the card of `name`, "" while there is none."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f"li.object[data-name='{name}']")
    return str(found[0].get_attribute("data-state")) if found else ""


def _type_the_patient(driver: Any, server: Server, **values: str) -> None:
    """Open a visit for a patient typed on the page (Enter in the last field sends it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(server.url + "/")
    for name, value in values.items():
        driver.find_element(By.NAME, name).send_keys(value)
    if "PatientBirthDate" in values:  # the date as the page read it, shown before it is used
        reading = lambda d: d.find_element(By.ID, "PatientBirthDate-reading").text  # noqa: E731
        assert _until(driver, reading).startswith("Read as ")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    _until(driver, lambda d: "/visit/" in d.current_url)


def _each_setting_applies_as_changed(browser: Any, first: Any) -> None:
    """Laterality, body part and kind of object reach the held photo as each is changed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    assert not first.find_element(By.CSS_SELECTOR, "button.apply").is_displayed()
    Select(first.find_element(By.NAME, "ImageLaterality")).select_by_value("B")
    _until(browser, lambda d: _shows(d, "heel.jpg", "Laterality") == "both")
    first.find_element(By.NAME, "BodyPartExamined").send_keys("FOOT")
    _until(browser, lambda d: _shows(d, "heel.jpg", "Body part") == "FOOT")
    Select(first.find_element(By.NAME, "iod")).select_by_value("vl-photo")
    _until(browser, lambda d: _shows(d, "heel.jpg", "IOD") == "VL Photographic Image Storage")
    assert _shows(browser, "heel.jpg", "Modality") == "XC"


def _a_pdfs_own_series_leaves_out_what_it_has_no_place_for(browser: Any, consent: Path) -> None:
    """A PDF dropped on a new series takes its laterality; its body part is left out, and said."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.find_element(
        By.CSS_SELECTOR, "form:not([data-autosave])[action$='/series'] button"
    ).click()
    second = _until(browser, lambda d: d.find_elements(By.ID, "series-2"))[0]
    second.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(consent))
    _until(browser, lambda d: _state_of(d, "consent.pdf") == "held")
    second = browser.find_element(By.ID, "series-2")  # shown again, as a series of documents
    assert second.find_element(By.TAG_NAME, "h2").text == "Series 2 · Documents"
    assert not second.find_elements(By.CSS_SELECTOR, "select[name=iod]")
    Select(second.find_element(By.NAME, "ImageLaterality")).select_by_value("L")
    second.find_element(By.NAME, "BodyPartExamined").send_keys("FOOT")
    _until(browser, lambda d: _card(d, "consent.pdf").find_elements(By.CSS_SELECTOR, ".note"))
    _until(browser, lambda d: _shows(d, "consent.pdf", "Laterality") == "left")
    note = _card(browser, "consent.pdf").find_element(By.CSS_SELECTOR, ".note").text
    assert note == "Body part is not recorded on a PDF document, so it was left out."
    assert _shows(browser, "consent.pdf", "Body part") == "not recorded"
    assert _state_of(browser, "consent.pdf") == "held"
    _shot(browser, "left-out")


def _moved_to_a_new_series_with_its_settings(browser: Any) -> None:
    """The photo moves to a new series, converted again there with the settings it had.

    Move with nothing chosen moves nothing; the notice says what came of each, in sight.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    move = _card(browser, "heel.jpg").find_element(By.CSS_SELECTOR, "form.move")
    targets = Select(move.find_element(By.NAME, "series"))
    assert [option.get_attribute("value") for option in targets.options] == ["", "new"]
    assert targets.first_selected_option.text == "choose…"
    move.find_element(By.TAG_NAME, "button").click()
    _until(browser, lambda d: "Choose the series" in d.find_element(By.ID, "notice").text)
    assert _shows(browser, "heel.jpg", "Series number") == "1"
    move = _card(browser, "heel.jpg").find_element(By.CSS_SELECTOR, "form.move")
    Select(move.find_element(By.NAME, "series")).select_by_value("new")
    move.find_element(By.TAG_NAME, "button").click()
    _until(browser, lambda d: _shows(d, "heel.jpg", "Series number") == "3")
    notice = browser.find_element(By.ID, "notice")
    assert notice.text == (
        "The file was moved to series 3 and is converted again there, "
        "with laterality both and body part FOOT."
    )
    assert _in_sight(browser, notice), "the notice is out of sight"
    assert _card_values(browser, "heel.jpg", "Laterality", "Body part", "IOD") == {
        "Laterality": "both",
        "Body part": "FOOT",
        "IOD": "VL Photographic Image Storage",
    }


def _filed_in_one_study(out: Path) -> None:
    """The PDF (series 2) and the moved photo (series 3) are one study, as the page showed."""
    objects = {
        str(ds.SeriesNumber): ds for ds in (pydicom.dcmread(path) for path in out.rglob("*.dcm"))
    }
    assert sorted(objects) == ["2", "3"]
    assert objects["2"].StudyInstanceUID == objects["3"].StudyInstanceUID  # one visit, one study
    assert objects["2"].ImageLaterality == "L"
    assert "BodyPartExamined" not in objects["2"]
    assert str(objects["3"].PatientName) == "Müller^Zoë"
    assert (objects["3"].ImageLaterality, objects["3"].BodyPartExamined) == ("B", "FOOT")


def test_settings_apply_as_changed_and_a_failed_file_is_removed_a_held_one_moved(
    tmp_path: Path, browser: Any, serving: Callable[..., Server]
) -> None:
    """No Apply button, plain-words errors, a PDF's settings left out, remove and move."""
    from selenium.webdriver.common.by import By

    server = serving("-o", str(tmp_path / "out"))
    heel = _jpeg(tmp_path / "heel.jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0garbage" * 10)
    consent = tmp_path / "consent.pdf"
    consent.write_bytes(make_pdf())

    # 1. Names and dates typed as people write them, read back before they are used.
    _type_the_patient(
        browser, server, PatientID="P7", PatientName="Müller, Zoë", PatientBirthDate="4.12.1980"
    )
    header = browser.find_element(By.CSS_SELECTOR, ".patient").text
    assert "Müller, Zoë · ID P7 · born 4 Dec 1980" in header

    # 2. Sending nothing says why; a second tap while the first is on its way sends nothing.
    twice = "arguments[0].click(); arguments[0].click(); return arguments[0].disabled"
    assert browser.execute_script(twice, browser.find_element(By.ID, "send"))
    problem = _until(browser, lambda d: d.find_elements(By.ID, "send-problem"))
    assert problem[0].text == "Add at least one file before sending."
    assert server.output().count("/send 303") == 1

    # 3. A file that cannot be converted says so in the page's words.
    first = browser.find_element(By.ID, "series-1")
    first.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(f"{heel}\n{broken}")
    files = ("heel.jpg", "broken.jpg")
    _until(browser, lambda d: [_state_of(d, name) for name in files] == ["held", "failed"])
    error = _card(browser, "broken.jpg").find_element(By.CSS_SELECTOR, ".error").text
    assert error.startswith("broken.jpg could not be converted: JPEG"), error
    assert error.endswith(". Remove it, and add an intact copy of the file.")
    _in_the_pages_words(browser, server)
    _shot(browser, "failed")

    # 4. Each setting applies as it is changed, to the file already there: no button.
    _each_setting_applies_as_changed(browser, first)

    # 5. The failed file is removed: its card goes, and nothing of it stays.
    _card(browser, "broken.jpg").find_element(By.CSS_SELECTOR, "form.remove button").click()
    _until(browser, lambda d: "The file was removed" in d.find_element(By.ID, "notice").text)
    assert _in_sight(browser, browser.find_element(By.ID, "notice")), "the notice is out of sight"
    assert _state_of(browser, "broken.jpg") == ""
    uploads = [p.name for p in (server.state / "uploads").rglob("*") if p.is_file()]
    assert [name.split("-", 1)[1] for name in uploads] == ["heel.jpg"]

    # 6. A PDF on a series of its own: what its object has no place for is left out, and said.
    _a_pdfs_own_series_leaves_out_what_it_has_no_place_for(browser, consent)

    # 7. The photo moves to a new series (not to the documents'), with the settings it had.
    _moved_to_a_new_series_with_its_settings(browser)

    # 8. Sent (filed, here): the page says the visit is done.
    browser.find_element(By.ID, "send").click()
    done = _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#summary.done"))
    assert "This visit is done. 2 objects filed in the output folder." in done[0].text
    _in_the_pages_words(browser, server)
    _shot(browser, "done")

    _filed_in_one_study(tmp_path / "out")


def test_reloading_during_an_upload_says_which_file_did_not_arrive_and_logs_no_error(
    tmp_path: Path, browser: Any, serving: Callable[..., Server]
) -> None:
    """A browser that goes away mid-upload is no server error; the page names the lost file."""
    from selenium.webdriver.common.by import By

    server = serving("-o", str(tmp_path / "out"))
    clip = tmp_path / "long clip.mp4"
    clip.write_bytes(os.urandom(6 << 20))
    _type_the_patient(browser, server, PatientID="P8")
    uploads = server.state / "uploads"

    # A slow line: 6 MB take half a minute, and the page is reloaded once the server receives.
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 200_000}
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", slow)
    browser.find_element(By.CSS_SELECTOR, "#series-1 input[type=file]").send_keys(str(clip))
    _until(browser, lambda _: any(uploads.rglob("*long_clip.mp4")))
    # The browser asks before a page is left with an upload under way.
    leaving = "const e = new Event('beforeunload', {cancelable: true}); return !dispatchEvent(e)"
    assert browser.execute_script(leaving), "no warning before leaving during an upload"
    browser.refresh()
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})

    notice = _until(browser, lambda d: d.find_element(By.ID, "notice").text)
    assert notice == (
        "long clip.mp4 did not arrive: the page was reloaded or left while it was being sent. "
        "Add it again."
    )
    assert "error" in str(browser.find_element(By.ID, "notice").get_attribute("class"))
    _shot(browser, "upload-interrupted")
    deadline = time.monotonic() + 30
    while "the browser went away" not in server.output():
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.2)
    log = server.output()
    assert "Traceback" not in log
    assert " 500 " not in log
    assert "long clip" not in log  # a file name may name the patient
    assert [p for p in uploads.rglob("*") if p.is_file()] == []  # the partial file is gone


def test_typing_the_patient_with_the_keyboard_alone_on_a_phone_screen(
    tmp_path: Path, browser: Any, serving: Callable[..., Server]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

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
    assert "Doe, Jane" in browser.find_element(By.CSS_SELECTOR, ".patient").text
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
    """Sex as a word, and birth dates: none in the future, none guessed, a great age said."""
    server = serving("-o", "out")
    with httpx.Client(base_url=server.url) as client:
        token = _token(client.get("/").text)

        def check(keyword: str, value: str) -> dict[str, str]:
            answer = client.post(
                "/check",
                json={"keyword": keyword, "value": value},
                headers={"X-CSRF-Token": token},
            )
            return dict(answer.json())

        assert check("PatientSex", "Female") == {"error": "", "reading": "female"}
        assert check("PatientSex", "divers")["error"].startswith("Type female, male or other")
        later = dt.date.today() + dt.timedelta(days=400)
        future = check("PatientBirthDate", f"{later.day}.{later.month}.{later.year}")
        assert future["error"] == f"{later.day} {later:%b} {later.year} is in the future: " + (
            "a birth date cannot be"
        )
        assert check("PatientBirthDate", "1980") == {
            "error": "Type the birth date as 4.12.1980 (day first)",  # no "today", no YYYYMMDD
            "reading": "",
        }
        assert "day first or year first" in check("PatientBirthDate", "04121980")["error"]
        old = check("PatientBirthDate", "4.12.1890")
        assert old["error"] == ""
        assert old["reading"].startswith("4 Dec 1890, 1")
        assert old["reading"].endswith(" years ago: check the year")
        refused = client.post("/visit", data={"csrf": token, "PatientName": "Doe^Jane"})
        assert refused.status_code == 400
        assert "a Patient ID is needed" in refused.text
        patient = {"csrf": token, "PatientID": "P1", "PatientSex": "male"}
        born = f"{later.day}.{later.month}.{later.year}"
        refused = client.post("/visit", data={**patient, "PatientBirthDate": born})
        assert refused.status_code == 400
        assert "is in the future" in refused.text
        taken = client.post("/visit", data={**patient, "PatientBirthDate": "4.12.1890"})
        assert taken.status_code == 303
        assert "born 4 Dec 1890" in client.get(taken.headers["location"]).text
    with sqlite3.connect(server.state / "journal.sqlite") as journal:
        (data,) = journal.execute("SELECT data FROM visits").fetchone()
    assert json.loads(data)["patient"]["PatientSex"] == "M"


def test_a_worklist_search_by_family_and_given_name_lists_orders_by_date_with_birth_dates(
    worklist: WorklistServer, serving: Callable[..., Server]
) -> None:
    """'Müller Zoë' is family and given name; the orders come by date, each with its birth date."""
    today = dt.date.today()
    days = {when: (today + dt.timedelta(days=when)).strftime("%Y%m%d") for when in (-1, 0, 1)}
    orders = (("C1", "Müller^Zoë", 1), ("C2", "Müller^Zoë", -1), ("C3", "Müller^Anna", 0))
    for accession, name, when in orders:
        dump = item(accession, name=name, date=days[when], birth_date="19751231")
        worklist.add(accession, dump, encoding="utf-8")
    server = serving("--worklist", worklist.url, "-o", "out")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = _token(client.get("/").text)

        def search(name: str) -> str:
            keys = {"csrf": token, "name": name, "date": "yesterday - tomorrow", "accession": ""}
            answer = client.post("/search", data=keys)
            assert answer.status_code == 200, answer.text
            return answer.text

        page = search("Müller Zoë")
        assert re.findall(r'data-accession="(\w+)"', page) == ["C2", "C1"]
        assert page.count('<td data-label="Born" class="born">31 Dec 1975</td>') == 2
        assert re.findall(r'data-accession="(\w+)"', search("müller")) == ["C2", "C3", "C1"]


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
        settings = {  # the form's own button, as without JavaScript
            "csrf": token,
            "index": "0",
            "SeriesDescription": "Left heel",
            "ImageLaterality": "L",
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
    assert (ds.SeriesDescription, ds.ImageLaterality, ds.BodyPartExamined) == (
        "Left heel",
        "L",
        "FOOT",
    )
    assert ds.Modality == "XC"


def test_removing_a_held_file_deletes_its_upload_and_object_and_a_sent_one_stays(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    """A removed file leaves nothing, in History neither; a failed one left keeps the visit open."""
    out = tmp_path / "out"
    server = serving("-o", str(out))
    photo = _jpeg(tmp_path / "a.jpg").read_bytes()
    uploads = server.state / "uploads"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P1")
        upload = client.post(
            f"{visit}/files?series=0",
            files=[
                *(("files", (name, photo, "image/jpeg")) for name in ("a.jpg", "b.jpg")),
                ("files", ("wound-3.jpg", b"\xff\xd8\xff\xe0garbage" * 10, "image/jpeg")),
            ],
            headers={"X-CSRF-Token": token},
        )
        first, second, damaged = upload.json()["jobs"]
        _wait_for_states(client, visit, {"held", "failed"}, 3)
        assert len(list(out.rglob("*.dcm"))) == 2
        removed = client.post(f"{visit}/remove", data={"csrf": token, "job": str(first)})
        assert removed.status_code == 303
        _wait_for_states(client, visit, {"held", "failed"}, 2)
        assert len(list(out.rglob("*.dcm"))) == 1
        assert len([p for p in uploads.rglob("*") if p.is_file()]) == 2  # b.jpg, wound-3.jpg

        # Sent with a failed file still on it: not done, and the file is named.
        client.post(f"{visit}/send", data={"csrf": token})
        page = _wait_for_states(client, visit, {"done", "failed"}, 2)
        assert 'class="summary warn"' in page
        assert (
            "<strong>This visit is not done.</strong> 1 object filed in the output folder. "
            "1 file was NOT sent: wound-3.jpg — remove it, and add an intact copy if it is "
            "needed." in page
        )
        assert "next-visit" not in page
        client.post(f"{visit}/send", data={"csrf": token})
        assert "Nothing else is ready to send: remove the failed file" in client.get(visit).text
        client.post(f"{visit}/remove", data={"csrf": token, "job": str(damaged)})
        page = _wait_for_states(client, visit, {"done"}, 1)
        assert "<strong>This visit is done.</strong> 1 object filed in the output" in page
        client.post(f"{visit}/remove", data={"csrf": token, "job": str(second)})
        assert "until it is sent" in client.get(visit).text

        # Removed on the page is a decision, not a failure: History lists neither file.
        history = client.get("/history").text
        assert f'data-job="{second}"' in history
        for gone in (first, damaged):
            assert f'data-job="{gone}"' not in history
        assert "Nothing is stuck." in history
    assert len(list(out.rglob("*.dcm"))) == 1  # what was filed stays
    assert [p for p in uploads.rglob("*") if p.is_file()] == []


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
        assert "Roe, Ann" in client.get("/history").text  # as people read it
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


# -- what a file takes from its series -----------------------------------------------------------


def _add(
    client: httpx.Client, visit: str, token: str, series: int, *files: tuple[str, bytes]
) -> Any:
    """Upload `files` (name, content) onto series `series`; return the answer's JSON."""
    answer = client.post(
        f"{visit}/files?series={series}",
        files=[("files", (name, data, "image/jpeg")) for name, data in files],
        headers={"X-CSRF-Token": token},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _send_all(client: httpx.Client, visit: str, token: str, count: int) -> None:
    assert client.post(f"{visit}/send", data={"csrf": token}).status_code == 303
    _wait_for_states(client, visit, {"done"}, count)


def _objects(out: Path) -> dict[str, pydicom.Dataset]:
    return {p.name: pydicom.dcmread(p, stop_before_pixels=True) for p in out.rglob("*.dcm")}


def test_a_moved_file_takes_the_next_instance_number_of_its_new_series(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    out = tmp_path / "out"
    server = serving("-o", str(out))
    photo = _jpeg(tmp_path / "a.jpg").read_bytes()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P1")
        moved = _add(client, visit, token, 0, ("a.jpg", photo), ("b.jpg", photo))["jobs"][1]
        assert (
            client.post(f"{visit}/series", data={"csrf": token, "action": "add"}).status_code == 303
        )
        _add(client, visit, token, 1, ("c.jpg", photo))
        _wait_for_states(client, visit, {"held"}, 3)
        answer = client.post(
            f"{visit}/move", data={"csrf": token, "job": str(moved), "series": "1"}
        )
        assert answer.status_code == 303
        _wait_for_states(client, visit, {"held"}, 3)
        _add(client, visit, token, 1, ("d.jpg", photo))  # counted after b.jpg joined
        _wait_for_states(client, visit, {"held"}, 4)
        _send_all(client, visit, token, 4)
    objects = _objects(out)
    series = {name: (ds.SeriesNumber, ds.InstanceNumber) for name, ds in objects.items()}
    assert series == {"a.dcm": (1, 1), "c.dcm": (2, 1), "b.dcm": (2, 2), "d.dcm": (2, 3)}


# -- a series that was sent stays as it was sent -------------------------------------------------


def test_a_sent_series_keeps_its_settings_and_says_so_and_another_series_takes_new_ones(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    out = tmp_path / "out"
    server = serving("-o", str(out))
    photo = _jpeg(tmp_path / "a.jpg").read_bytes()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P1")
        _add(client, visit, token, 0, ("a.jpg", photo))
        _wait_for_states(client, visit, {"held"}, 1)
        _send_all(client, visit, token, 1)
        settings = {"csrf": token, "index": "0", "SeriesDescription": "", "BodyPartExamined": ""}
        # As the page's script sends a change: the answer names what cannot change, and why.
        for changed in (
            {"iod": "vl-photo", "ImageLaterality": ""},
            {"iod": "sc", "ImageLaterality": "L"},
        ):
            refused = client.post(
                f"{visit}/series",
                data={**settings, **changed},
                headers={"Accept": "application/json"},
            )
            assert refused.status_code == 400
            ((field, said),) = refused.json()["problems"].items()
            assert field == ("iod" if changed["iod"] == "vl-photo" else "ImageLaterality")
            assert said.startswith("Series 1 was sent with these settings")
            assert "Add another series" in said
        # The same values again change nothing: saved. And the page says it before anyone tries.
        same = {**settings, "iod": "sc", "ImageLaterality": ""}
        assert client.post(f"{visit}/series", data=same).status_code == 303
        assert "Series 1 was sent with these settings" in client.get(visit).text
        _add(client, visit, token, 0, ("b.jpg", photo))
        _wait_for_states(client, visit, {"held", "done"}, 2)
        assert (
            client.post(f"{visit}/series", data={"csrf": token, "action": "add"}).status_code == 303
        )
        other = {**settings, "index": "1", "iod": "vl-photo", "ImageLaterality": "L"}
        assert client.post(f"{visit}/series", data=other).status_code == 303
        _add(client, visit, token, 1, ("c.jpg", photo))
        _wait_for_states(client, visit, {"held", "done"}, 3)
        _send_all(client, visit, token, 3)
    objects = _objects(out)
    a, b, c = (objects[name] for name in ("a.dcm", "b.dcm", "c.dcm"))
    assert a.SeriesInstanceUID == b.SeriesInstanceUID != c.SeriesInstanceUID
    assert a.Modality == b.Modality == "OT"
    assert a.get("ImageLaterality") == b.get("ImageLaterality") != "L"
    assert (c.Modality, c.ImageLaterality) == ("XC", "L")


def test_a_series_sent_and_forgotten_by_retention_keeps_its_kind(
    tmp_path: Path, serving: Callable[..., Server]
) -> None:
    from dicomize.service.journal import Journal

    out = tmp_path / "out"
    server = serving("-o", str(out))
    photo = _jpeg(tmp_path / "a.jpg").read_bytes()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P1")
        _add(client, visit, token, 0, ("a.jpg", photo))
        _wait_for_states(client, visit, {"held"}, 1)
        _send_all(client, visit, token, 1)
        sent = time.time()
        # A file still held in another series keeps the visit while series 1's file is forgotten.
        assert (
            client.post(f"{visit}/series", data={"csrf": token, "action": "add"}).status_code == 303
        )
        _add(client, visit, token, 1, ("b.jpg", photo))
        _wait_for_states(client, visit, {"held", "done"}, 2)
        journal = Journal(server.state / "journal.sqlite")
        try:
            assert [job.name for job in journal.expire(sent)] == [
                f"{visit.rsplit('/', 1)[1]}/0/a.jpg"
            ]
        finally:
            journal.close()
        _wait_for_states(client, visit, {"held"}, 1)
        answer = client.post(
            f"{visit}/files?series=0",
            files={"files": ("consent.pdf", make_pdf(), "application/pdf")},
            headers={"X-CSRF-Token": token},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["notes"][0].startswith("consent.pdf went to series 3, Documents")
        _wait_for_states(client, visit, {"held"}, 2)
        _send_all(client, visit, token, 2)
    objects = _objects(out)
    assert objects["consent.dcm"].Modality == "DOC"
    assert objects["consent.dcm"].SeriesInstanceUID != objects["a.dcm"].SeriesInstanceUID
