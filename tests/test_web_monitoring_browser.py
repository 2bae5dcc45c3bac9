"""Monitoring in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the app
on uvicorn. A patient on a 375 px phone answers the symptom questions and sees the advice; a clinician at desktop
size finds the alert on the work list, acknowledges it, and sees the patient page's Monitoring section.

Screenshots go to docs/img/monitoring-*.png with MBCNAV_SCREENSHOTS=1, else to the test's tmp_path. Without
/usr/bin/chromium the tests fail (run `make browser`), unless MBCNAV_NO_BROWSER=1 says to skip them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from mbcnav.monitoring.questionnaire import questionnaire
from mbcnav.service.app import create_app
from mbcnav.service.auth import issue_token
from mbcnav.service.settings import Settings

from .conftest import TODAY
from .test_web_browser import (
    PATIENTS,
    Live,
    _free_port,
    _named,
    _require_browser,
    _skip_if_asked,
    _watch,
    chromium,
    shots,
)

# Lindqvist (examples/fhir/07): bone metastases, between lines. New numbness is an emergency (NICE CG75; case e02 of
# tests/data/triage/cases.yaml) — the other questions are answered "none" or "no", the temperature is left empty.
EMERGENCY = {"numbness": "Yes"}
# Moreau (examples/fhir/02): abemaciclib + fulvestrant, bone and liver metastases — seven weeks of reports.
MOREAU_HISTORY = [
    ("2026-10-13T08:30:00Z", {"nausea": "mild"}),  # routine
    ("2026-10-20T08:30:00Z", {"nausea": "mild", "mouth-sores": "mild"}),  # routine
    ("2026-10-27T08:30:00Z", {"nausea": "moderate", "mouth-sores": "mild"}),  # same day (nausea)
    ("2026-11-03T08:30:00Z", {"nausea": "mild", "back-pain": "mild"}),  # same day (back pain, bone metastases)
    ("2026-11-10T08:30:00Z", {"back-pain": "moderate", "bone-pain": "moderate"}),  # emergency (two same-day symptoms)
    ("2026-11-17T08:30:00Z", {"back-pain": "mild"}),  # same day
    ("2026-11-24T08:30:00Z", {}),  # routine: nothing
]


def _report(answers: dict[str, str], authored: str) -> dict[str, Any]:
    """A QuestionnaireResponse with every coded question answered ("none"/"no" unless given) and no temperature."""
    items = []
    for item in questionnaire()["item"]:
        codes = [o["valueCoding"]["code"] for o in item.get("answerOption") or []]
        if not codes:
            continue
        word = answers.get(item["linkId"], "no" if "N" in codes else "none")
        items.append({"linkId": item["linkId"], "answer": [{"valueString": word}]})
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "authored": authored, "item": items}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app on uvicorn (a thread, a free port), a temp registry with three patients; the outbox delivers to the
    work list as in the embedded default."""
    _skip_if_asked()
    folder = tmp_path_factory.mktemp("web-monitoring-browser")
    app = create_app(
        Settings(db_url=f"sqlite:///{folder / 'registry.db'}", trials_db_url=f"sqlite:///{folder / 'trials.db'}",
                 warm_trials=False, rate_per_second=0, today=TODAY, outbox_interval=0.2)
    )  # fmt: skip
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="mbcnav-web-monitoring-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    secret = app.state.service.registry.token_secret()
    clinician = issue_token(secret, sub="dr-lee", role="clinician")
    bearer = {"Authorization": f"Bearer {clinician}"}
    ids = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for stem, family, given in PATIENTS:
            r = client.post("/api/v1/patients", content=_named(stem, family, given),
                            headers={**bearer, "content-type": "application/fhir+json"})  # fmt: skip
            assert r.status_code == 201, r.text
            ids[family] = r.json()["id"]
        # Moreau's earlier reports (through the API, as a patient's app would send them), for a trend to show
        levels = []
        for authored, answers in MOREAU_HISTORY:
            body = json.dumps(_report(answers, authored))
            r = client.post(f"/api/v1/patients/{ids['Moreau']}/symptom-reports", content=body,
                            headers={**bearer, "content-type": "application/fhir+json"})  # fmt: skip
            assert r.status_code == 201, r.text
            levels.append(r.json()["triage"]["level"])
        assert levels == ["routine", "routine", "same_day", "same_day", "emergency", "same_day", "routine"]
    try:
        yield Live(base, clinician, ids, secret)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Any]:
    """Headless Chromium, or None when /usr/bin/chromium is missing (the tests then fail in `_require_browser`)."""
    with chromium() as b:
        yield b


def _reports(live: Live, pid: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{live.base}/api/v1/patients/{pid}/symptom-reports",
                  headers={"Authorization": f"Bearer {live.clinician}"}, timeout=30)  # fmt: skip
    found: list[dict[str, Any]] = r.json()["reports"]
    return found


def test_a_patient_answers_on_her_phone_and_a_clinician_acknowledges(live: Live, browser: Any, tmp_path: Path) -> None:
    _require_browser()
    shot = shots(tmp_path)
    pid = live.ids["Lindqvist"]
    # ---- the patient, on a phone ----------------------------------------------------------------------------------
    phone = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True)
    page = phone.new_page()
    page.set_default_timeout(15_000)
    problems = _watch(page)
    page.goto(f"{live.base}/signin?token={issue_token(live.secret, sub='anna', role='patient', patient=pid)}")
    page.wait_for_url(f"**/patients/{pid}/plain")
    page.get_by_role("link", name="Answer the symptom questions").click()
    page.wait_for_url(f"**/patients/{pid}/symptoms")
    assert page.get_by_role("heading", name="How are you feeling?", level=1).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    # large touch targets: each answer is a box at least 44 px high, the radio inside it
    box = page.locator("#q-breathless .choice label").first.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 100
    page.screenshot(path=str(shot / "monitoring-questionnaire-phone.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 375, "height": 2 * 812})  # fmt: skip
    for item in questionnaire()["item"]:
        link = item["linkId"]
        if item["type"] == "decimal":
            continue  # she did not take her temperature: left empty, never defaulted
        codes = [o["valueCoding"]["code"] for o in item["answerOption"]]
        word = EMERGENCY.get(link, "No" if "N" in codes else "None")
        page.locator(f"#q-{link}").get_by_label(word, exact=True).check()
    assert page.locator("#q-numbness").get_by_label("Yes", exact=True).is_checked()
    # a double tap on "Send" (two submissions of one form) is one report
    page.get_by_role("button", name="Send my answers").dblclick()
    page.wait_for_load_state()
    heading = page.get_by_role("heading", name="Call now", level=1)
    heading.wait_for()
    advice = page.locator(".advice-emergency")
    assert advice.get_attribute("role") == "alert"
    assert "emergency department" in advice.inner_text() and "24-hour" in advice.inner_text()
    assert page.get_by_role("heading", name="What happens next").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(shot / "monitoring-advice-phone.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 375, "height": 812})  # fmt: skip
    reports = _reports(live, pid)
    assert len(reports) == 1 and reports[0]["triage"]["level"] == "emergency"
    assert reports[0]["triage"]["answers"].get("temperature") is None
    assert problems == [], problems
    phone.close()

    # ---- the clinician, at her desk -------------------------------------------------------------------------------
    desk = browser.new_context(viewport={"width": 1280, "height": 900})
    page = desk.new_page()
    page.set_default_timeout(15_000)
    problems = _watch(page)
    page.goto(f"{live.base}/signin?token={live.clinician}")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    page.wait_for_url(f"{live.base}/alerts")
    assert page.get_by_role("heading", name="Care-team alerts", level=1).is_visible()
    cards = page.locator("article.alert-card")
    assert cards.count() == 5  # Lindqvist's emergency and Moreau's four alerts
    first = cards.first  # emergencies first, the newest first among them
    assert "Lindqvist, Anna" in first.get_by_role("heading", level=2).inner_text()
    assert "emergency" in first.locator(".badge").inner_text().lower()
    # the outbox delivered it to the work list
    deadline = time.monotonic() + 10
    while "on the work list since" not in first.inner_text():
        assert time.monotonic() < deadline, "the alert was not delivered to the work list"
        page.reload()
        first = page.locator("article.alert-card").first
    page.set_viewport_size({"width": 1280, "height": 820})
    page.screenshot(path=str(shot / "monitoring-worklist.png"))
    first.get_by_label("Note (optional)").fill("Phoned: sent to the emergency department for MRI of the spine")
    first.get_by_role("button", name="Acknowledge the alert for Lindqvist, Anna").click()
    page.wait_for_url("**/alerts?done=*")
    notice = page.get_by_role("status").first
    assert "is acknowledged: by dr-lee at" in notice.inner_text()
    assert page.locator("article.alert-card").count() == 4  # the open ones: Moreau's
    page.get_by_role("link", name="Show acknowledged alerts too").click()
    page.wait_for_url("**/alerts?state=all")
    done = page.locator("article.alert-card.is-acknowledged")
    assert done.count() == 1 and "acknowledged by dr-lee" in done.inner_text()
    assert "MRI of the spine" in done.inner_text()
    # the patient page: the plan, the report with its level, and the trend picture loaded from the API
    done.get_by_role("link", name="Lindqvist, Anna").click()
    page.wait_for_url(f"**/patients/{pid}#monitoring")
    section = page.locator("#monitoring")
    assert section.get_by_role("heading", name="Follow-up plan").is_visible()
    assert section.locator("table.reports tbody tr").count() == 1
    assert "acknowledged by dr-lee" in section.locator("table.reports").inner_text()
    section.locator("img").scroll_into_view_if_needed()
    page.wait_for_function("(() => { const i = document.querySelector('#monitoring img');"
                           " return i.complete && i.naturalWidth > 0; })()")  # fmt: skip
    # Moreau's page: the plan of abemaciclib with its overdue blood tests, and seven weeks of symptoms as a trend
    page.goto(f"{live.base}/patients/{live.ids['Moreau']}#monitoring")
    section = page.locator("#monitoring")
    assert section.locator("table.plan .badge-overdue").count() >= 1
    assert section.locator("table.reports tbody tr").count() == 7
    page.wait_for_function("(() => { const i = document.querySelector('#monitoring img');"
                           " return i.complete && i.naturalWidth > 0; })()")  # fmt: skip
    page.evaluate("window.scrollTo(0, 0)")  # the table of contents sticks to the top only once scrolled
    top, bottom = page.locator("#reports-h").bounding_box(), section.bounding_box()
    assert top is not None and bottom is not None
    area = {"x": bottom["x"], "y": top["y"] - 8, "width": bottom["width"],
            "height": bottom["y"] + bottom["height"] - top["y"] + 8}  # fmt: skip
    page.screenshot(path=str(shot / "monitoring-patient-page.png"), full_page=True, clip=area)
    assert problems == [], problems
    desk.close()
