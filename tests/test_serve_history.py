"""``dicomize serve``'s History page: stuck jobs, their reasons, retry and cancel, in Chromium.

The server, the browser and the helpers are test_serve's; the PACS is a closed loopback
port, so every send fails at once and the job waits to retry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from peers import free_port
from test_serve import (  # noqa: F401  (browser and serving: fixtures pytest finds here)
    Server,
    _jpeg,
    _shot,
    _token,
    _until,
    _visit,
    _wait_for_states,
    browser,
    serving,
)


def _job_row(driver: Any, section: str, job: int) -> Any:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f"#{section} tr.job[data-job='{job}']")
    return found[0] if found else None


def _reload_until(driver: Any, condition: Callable[[Any], Any]) -> Any:
    """Reload the page until `condition` holds: the page is rendered on the server."""

    def reloaded(d: Any) -> Any:
        d.refresh()
        return condition(d)

    return _until(driver, reloaded)


def _status(driver: Any, section: str, job: int) -> str:
    from selenium.webdriver.common.by import By

    row = _job_row(driver, section, job)
    return "" if row is None else str(row.find_element(By.CSS_SELECTOR, ".status").text)


def test_a_stuck_job_shows_its_reason_and_is_retried_then_cancelled_from_history(
    tmp_path: Path,
    browser: Any,  # noqa: F811  (test_serve's fixtures)
    serving: Callable[..., Server],  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    server = serving("--send", f"dicom://NOBODY@127.0.0.1:{free_port()}", "--connect-timeout", "2")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        visit, token = _visit(client, PatientID="P4711", PatientName="Stuck^Sam")
        answer = client.post(
            f"{visit}/files?series=0",
            files={"files": ("heel.jpg", _jpeg(tmp_path / "heel.jpg").read_bytes(), "image/jpeg")},
            headers={"X-CSRF-Token": token},
        )
        assert answer.status_code == 200, answer.text
        (job,) = answer.json()["jobs"]
        _wait_for_states(client, visit, {"held"}, 1)
        assert client.post(f"{visit}/send", data={"csrf": token}).status_code == 303

    # The send failed: the job waits, with its reason, its patient (loopback, no secret:
    # no sign-in, so names are shown) and its visit.
    browser.get(server.url + "/history")
    _reload_until(
        browser, lambda d: _status(d, "recent", job).startswith("waiting to retry (attempt 2")
    )
    row = _job_row(browser, "recent", job)
    # The file as the person named it, and its series: not a kind and a number.
    assert row.find_element(By.CSS_SELECTOR, ".file").text == "heel.jpg"
    assert row.find_element(By.CSS_SELECTOR, ".where").text.startswith("series 1 · ")
    assert "next at " in row.find_element(By.CSS_SELECTOR, ".status").text
    assert "Connection refused" in row.find_element(By.CSS_SELECTOR, ".reason").text
    assert row.find_element(By.CSS_SELECTOR, ".who").text == "Stuck, Sam (P4711)"
    link = row.find_element(By.CSS_SELECTOR, "a.visit")
    assert str(link.get_attribute("href")).endswith(visit)
    assert "shown only when signed in" not in browser.page_source
    _shot(browser, "history-1-waiting")

    # Retry now: tried at once, and it fails again.
    row.find_element(By.CSS_SELECTOR, "button.retry").click()
    _until(browser, lambda d: "tried again now" in d.find_element(By.ID, "history-note").text)
    _reload_until(
        browser, lambda d: _status(d, "recent", job).startswith("waiting to retry (attempt 3")
    )
    _shot(browser, "history-2-retried")

    # Cancel: never sent, filed as failed, and listed as needing attention with the reason.
    _job_row(browser, "recent", job).find_element(By.CSS_SELECTOR, "button.cancel").click()
    _until(browser, lambda d: "is cancelled" in d.find_element(By.ID, "history-note").text)
    assert _status(browser, "recent", job) == "failed"
    stuck = _job_row(browser, "stuck", job)
    assert "cancelled by staff" in stuck.find_element(By.CSS_SELECTOR, ".reason").text
    assert stuck.find_elements(By.CSS_SELECTOR, "button") == []  # nothing left to retry
    _shot(browser, "history-3-cancelled")

    stuck.find_element(By.CSS_SELECTOR, "a.visit").click()
    _until(browser, lambda d: d.current_url.endswith(visit))


def test_a_form_for_a_job_that_no_longer_waits_changes_nothing(
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    server = serving("-o", "out")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        _, token = _visit(client, PatientID="P1")
        assert client.post("/history/1/cancel", data={}).status_code == 403  # no CSRF token
        for action in ("retry", "cancel"):
            answer = client.post(f"/history/999/{action}", data={"csrf": token})
            assert answer.status_code == 303
            page = client.get("/history").text
            assert "Job 999 was not waiting to retry" in page


def test_the_sign_in_secret_never_reaches_the_log(
    tmp_path: Path,
    serving: Callable[..., Server],  # noqa: F811  (test_serve's fixture)
) -> None:
    secret = "s3cr3t-" + "7" * 16
    (tmp_path / "secret").write_text(secret + "\n")
    server = serving("-o", "out", "--secret-file", str(tmp_path / "secret"), "--debug")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = _token(client.get("/login").text)
        assert client.post("/login", data={"csrf": token, "secret": secret[:-1]}).status_code == 401
        assert client.post("/login", data={"csrf": token, "secret": secret}).status_code == 303
        assert client.get("/history").status_code == 200
    log = server.output()
    assert "POST /login 303" in log
    assert secret not in log
    assert secret[:-1] not in log
