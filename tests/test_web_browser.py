"""The web page in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the
app on uvicorn — sign in, list, search, the patient page (options, timeline SVG, plot images loaded), the
plain-language view on a 375 px phone, no console errors (the Content-Security-Policy allows no inline script).

Screenshots go to docs/img/web-*.png with MBCNAV_SCREENSHOTS=1, else to the test's tmp_path. Without
/usr/bin/chromium the tests fail (run `make browser`), unless MBCNAV_NO_BROWSER=1 says to skip them."""

from __future__ import annotations

import copy
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from mbcnav.service.app import create_app
from mbcnav.service.auth import issue_token
from mbcnav.service.settings import Settings

from .conftest import ROOT, TODAY

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FHIR = ROOT / "examples" / "fhir"
TRIALS = ROOT / "tests" / "data" / "trials"
PATIENTS = [  # synthetic examples, given fictional names for the list
    ("07-her2-low-after-cdk46", "Lindqvist", "Anna"),
    ("02-recurrence-on-adjuvant-ai", "Moreau", "Claire"),
    ("10-receptor-discordance", "Okafor", "Ngozi"),
]


def _skip_if_asked() -> None:
    if os.environ.get("MBCNAV_NO_BROWSER") == "1":
        pytest.skip("MBCNAV_NO_BROWSER=1: browser tests skipped")


def _require_browser() -> None:
    """Each test starts here: a missing Chromium is a failure of the test (not a skip, not a fixture error)."""
    _skip_if_asked()
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium (or set MBCNAV_NO_BROWSER=1)"
        )


def shots(tmp_path: Path) -> Path:
    if os.environ.get("MBCNAV_SCREENSHOTS") == "1":
        out = ROOT / "docs" / "img"
        out.mkdir(parents=True, exist_ok=True)
        return out
    return tmp_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _named(stem: str, family: str, given: str) -> bytes:
    doc = copy.deepcopy(json.loads((FHIR / f"{stem}.json").read_text()))
    for e in doc["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"]["name"] = [{"family": family, "given": [given]}]
    return json.dumps(doc).encode()


@dataclass
class Live:
    base: str
    clinician: str  # a clinician's token
    ids: dict[str, str]  # family name -> registry id
    secret: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app on uvicorn (a thread, a free port), a temp registry with three patients, a small trial store."""
    _skip_if_asked()
    from mbcnav.trials.load import load_paths
    from mbcnav.trials.store import TrialStore

    folder = tmp_path_factory.mktemp("web-browser")
    trials_url = f"sqlite:///{folder / 'trials.db'}"
    store = TrialStore(trials_url)
    load_paths(store, [TRIALS])
    store.close()
    app = create_app(
        Settings(db_url=f"sqlite:///{folder / 'registry.db'}", trials_db_url=trials_url, warm_trials=False,
                 rate_per_second=0, today=TODAY)
    )  # fmt: skip
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="mbcnav-web-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    secret = app.state.service.registry.token_secret()
    clinician = issue_token(secret, sub="dr-lee", role="clinician")
    ids = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for stem, family, given in PATIENTS:
            r = client.post(
                "/api/v1/patients",
                content=_named(stem, family, given),
                headers={"Authorization": f"Bearer {clinician}", "content-type": "application/fhir+json"},
            )
            assert r.status_code == 201, r.text
            ids[family] = r.json()["id"]
    try:
        yield Live(base, clinician, ids, secret)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright, or None when /usr/bin/chromium is missing."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        yield None
        return
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Any]:
    """Headless Chromium, or None when /usr/bin/chromium is missing (the tests then fail in `_require_browser`)."""
    with chromium() as b:
        yield b


def _watch(page: Any) -> list[str]:
    """Console errors and failed requests of a page (a CSP violation shows as a console error)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return problems


def test_clinician_lists_searches_and_opens_the_patient_page(live: Live, browser: Any, tmp_path: Path) -> None:
    _require_browser()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = _watch(page)
    # signed out: the list sends the visitor to the sign-in page, whose form signs her in and returns her
    page.goto(f"{live.base}/")
    assert "/signin" in page.url
    assert page.get_by_role("heading", name="Sign in", level=1).is_visible()
    page.get_by_label("Sign-in token", exact=True).fill(live.clinician)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.base}/")
    rows = page.locator("table.patients tbody tr")
    assert rows.count() == 3
    shot = shots(tmp_path)
    page.set_viewport_size({"width": 1280, "height": 560})
    page.screenshot(path=str(shot / "web-patient-list.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    # the skip link is the first stop of the keyboard
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    # search (a GET form: the query is in the URL)
    page.get_by_label("Search by name, birth date or identifier").fill("lindq")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=lindq")
    assert rows.count() == 1
    page.get_by_role("link", name="Lindqvist, Anna").click()
    page.wait_for_url(f"**/patients/{live.ids['Lindqvist']}")
    assert page.get_by_role("heading", name="Lindqvist, Anna", level=1).is_visible()
    # the timeline: one inline SVG picture, drawn at a real size
    svg = page.locator("svg[role=img]")
    assert svg.count() == 1
    box = svg.bounding_box()
    assert box is not None and box["width"] > 700 and box["height"] > 200
    assert page.locator("svg[role=img] title").text_content() == "Disease timeline"
    # the options, grouped by tier, with evidence links
    options = page.locator("#options")
    options.scroll_into_view_if_needed()
    assert options.get_by_role("heading", name="Preferred", level=3).is_visible()
    assert page.locator("#options article.option").count() >= 3
    assert options.get_by_role("link", name="PMID 35584336").count() == 1
    # the plot images come from the API with the sign-in cookie and are decoded
    page.locator("#response img").first.scroll_into_view_if_needed()
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#response img')).every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("#response img").count() == 2
    # trial matches from the store, each with its criteria behind a disclosure that works without JavaScript
    trial = page.locator("#trials article.trial").first
    assert trial.is_visible()
    trial.locator("summary").click()
    assert trial.locator("table.criteria tbody tr").first.is_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.set_viewport_size({"width": 1280, "height": 1500})
    page.screenshot(path=str(shot / "web-patient-page.png"))
    assert not problems, problems
    context.close()


def test_the_plain_language_view_reads_on_a_phone(live: Live, browser: Any, tmp_path: Path) -> None:
    _require_browser()
    context = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = _watch(page)
    pid = live.ids["Lindqvist"]
    token = issue_token(live.secret, sub="anna", role="patient", patient=pid)
    page.goto(f"{live.base}/signin?token={token}")
    # a patient who opens the list is sent to her own summary
    page.wait_for_url(f"**/patients/{pid}/plain")
    assert page.get_by_role("heading", name="Your summary", level=1).is_visible()
    assert page.get_by_role("heading", name="What your team may discuss with you").count() == 1
    assert page.get_by_text("Ask your team").first.is_visible()
    # nothing wider than the phone: no sideways scrolling of the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    body_size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.plain')).fontSize)")
    assert body_size >= 16
    # the first three screens of the phone (the whole page is long)
    clip = {"x": 0, "y": 0, "width": 375, "height": 3 * 812}
    page.screenshot(path=str(shots(tmp_path) / "web-plain-language.png"), full_page=True, clip=clip)
    # another patient's record is refused with a page, not data
    other = page.goto(f"{live.base}/patients/{live.ids['Moreau']}")
    assert other is not None and other.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert [p for p in problems if "403" not in p] == []
    context.close()


def test_the_patient_page_is_usable_at_phone_width(live: Live, browser: Any) -> None:
    _require_browser()
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    page.goto(f"{live.base}/signin?token={live.clinician}")
    page.goto(f"{live.base}/patients/{live.ids['Moreau']}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # wide content scrolls in its own region
    region = page.locator(".timeline-scroll")
    assert region.get_attribute("tabindex") == "0" and region.get_attribute("aria-label")
    assert page.evaluate("document.querySelector('.timeline-scroll').scrollWidth") > 375
    context.close()
