"""The web side of monitoring: the symptom questionnaire as a form (stored once per form, triaged, the advice shown),
the care team's alert work list with acknowledgement, the patient page's Monitoring section, and the symptom trend
picture of the API — access, cross-site refusal and audit as on every other page."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import text

from mbcnav.knowledge.kb import triage_kb
from mbcnav.monitoring.questionnaire import SEVERITY_SNOMED, questionnaire
from mbcnav.service.app import create_app
from mbcnav.service.auth import issue_token
from mbcnav.service.monitoring_routes import symptom_trend, trend_families
from mbcnav.service.symptoms import StoredReport
from mbcnav.service.web import KEY_FIELD, KEY_RE

from .test_web import HOSTILE, Web, accessible, settings

SITE = {"Origin": "http://testserver"}  # the TestClient's own origin: a form sent from a page of this site
ELSEWHERE = {"Origin": "https://evil.example"}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    w = Web(create_app(settings(tmp_path, deliver_alerts=False)))
    w.sign_in()
    yield w
    w.close()


def coded(words: dict[str, str]) -> dict[str, str]:
    """Form values for answers given in words ("none", "mild", "yes", "38.2"): each option's code."""
    out = {}
    items = {i["linkId"]: i for i in questionnaire()["item"]}
    for link, word in words.items():
        options = items[link].get("answerOption")
        if not options or not word:
            out[link] = word
            continue
        out[link] = next(o["valueCoding"]["code"] for o in options if o["valueCoding"]["display"].lower() == word)
    return out


def all_clear() -> dict[str, str]:
    """Every coded question answered "none" or "no" (the temperature left empty)."""
    words = {}
    for item in questionnaire()["item"]:
        codes = [o["valueCoding"]["code"] for o in item.get("answerOption") or []]
        if "N" in codes:
            words[item["linkId"]] = "no"
        elif "none" in codes:
            words[item["linkId"]] = "none"
    return words


EMERGENCY = all_clear() | {"numbness": "yes"}  # case e02 of tests/data/triage/cases.yaml: bone metastases
SAME_DAY = all_clear() | {"back-pain": "mild"}  # case s02


def form_key(web: Web, pid: str) -> str:
    page = web.client.get(f"/patients/{pid}/symptoms")
    assert page.status_code == 200, page.text
    m = re.search(rf'name="{KEY_FIELD}" value="([^"]+)"', page.text)
    assert m is not None
    return m.group(1)


def send(web: Web, pid: str, words: dict[str, str], key: str | None = None, headers: dict[str, str] = SITE) -> Any:
    data = {KEY_FIELD: key if key is not None else form_key(web, pid), **coded(words)}
    return web.client.post(f"/patients/{pid}/symptoms", data=data, headers=headers)


def reports(web: Web, pid: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = web.client.get(f"/api/v1/patients/{pid}/symptom-reports").json()["reports"]
    return listed


def alerts(web: Web, state: str = "all") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = web.client.get("/api/v1/alerts", params={"state": state}).json()["alerts"]
    return found


def new_events(web: Web, before: int, **kw: Any) -> list[dict[str, Any]]:
    events = web.audit(**kw)
    return events[: len(events) - before]


# ---- the questionnaire form -------------------------------------------------------------------------------------
def test_the_form_renders_every_item_with_a_label(web: Web) -> None:
    r = web.client.get(f"/patients/{web.anna}/symptoms")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    page = r.text
    p = accessible(page)  # every input labelled, one h1, unique ids, skip link
    assert "<h1>How are you feeling?</h1>" in page and "Lindqvist, Anna" in page
    assert '<meta name="referrer" content="same-origin">' in page  # so that the browser sends the Origin
    assert f'action="/patients/{web.anna}/symptoms"' in page and 'method="post"' in page
    assert "<script" not in page
    labels = dict(re.findall(r'<label for="([^"]+)">([^<]+)</label>', page))
    for item in questionnaire()["item"]:
        link = item["linkId"]
        fieldset = page.split(f'<fieldset class="question" id="q-{link}">')[1].split("</fieldset>")[0]
        assert str(escape(item["text"])) in fieldset.split("</legend>")[0], link
        inputs = [a for t, a in p.tags if t == "input" and a.get("name") == link]
        if item["type"] == "decimal":
            assert [(a["type"], a.get("min"), a.get("max")) for a in inputs] == [("number", "25", "45")]
            assert labels[str(inputs[0]["id"])] == "Temperature in °C"
            continue
        codes = [o["valueCoding"]["code"] for o in item["answerOption"]]
        assert [a["value"] for a in inputs] == [*codes, ""], link  # each option, and "Not sure" (left out)
        assert all(a["type"] == "radio" and "checked" not in a for a in inputs), link  # nothing chosen for her
        words = [labels[str(a["id"])] for a in inputs]
        assert words == [o["valueCoding"]["display"] for o in item["answerOption"]] + ["Not sure"], link
    # the emergency advice of the knowledge base is on the form itself, for who is very unwell now
    advice = " ".join(triage_kb().levels["emergency"].advice.split())
    assert str(escape(advice)) in page
    # one random key per form shown: a browser retry of one form is one report, two forms are two reports
    key = re.search(rf'name="{KEY_FIELD}" value="([^"]+)"', page)
    assert key is not None and KEY_RE.fullmatch(key.group(1))
    assert form_key(web, web.anna) != key.group(1)


def test_a_form_sent_twice_is_stored_once(web: Web) -> None:
    key = form_key(web, web.anna)
    first = send(web, web.anna, EMERGENCY, key)
    again = send(web, web.anna, EMERGENCY, key)
    assert first.status_code == again.status_code == 200
    assert "were saved on" in first.text and "already been received" not in first.text
    assert "already been received" in again.text and "They were saved once" in again.text
    assert len(reports(web, web.anna)) == 1
    assert len(alerts(web)) == 1  # one alert, not one per submission
    # a second form (a new key) is a second report
    send(web, web.anna, SAME_DAY)
    assert len(reports(web, web.anna)) == 2


def test_unanswered_items_are_left_out_never_defaulted(web: Web) -> None:
    r = send(web, web.anna, {"back-pain": "mild", "breathless": ""})  # "Not sure" sends an empty value
    assert r.status_code == 200
    with web.registry.read() as conn:
        stored = json.loads(conn.execute(text("SELECT response FROM registry_reports")).scalar_one())
    assert stored["resourceType"] == "QuestionnaireResponse" and stored["status"] == "completed"
    assert stored["subject"] == {"reference": f"Patient/{web.anna}"}
    assert stored["questionnaire"].startswith("https://mbcnav.org/fhir/Questionnaire/mbc-symptoms|")
    assert [i["linkId"] for i in stored["item"]] == ["back-pain"]
    code, display = SEVERITY_SNOMED["mild"]
    assert stored["item"][0]["answer"] == [
        {"valueCoding": {"system": "http://snomed.info/sct", "code": code, "display": display}}
    ]
    triage = reports(web, web.anna)[0]["triage"]
    assert triage["answers"] == {"back-pain": "mild"}
    assert triage["unanswered_red_flags"]  # the red flags left empty are unknown, not "no"
    assert f"{len(questionnaire()['item']) - 1} questions left empty" in r.text


def test_a_temperature_is_sent_as_a_number_in_celsius(web: Web) -> None:
    r = send(web, web.claire, all_clear() | {"temperature": "38,4"})  # a decimal comma is read too
    assert r.status_code == 200
    assert reports(web, web.claire)[0]["triage"]["answers"]["temperature"] == 38.4
    assert "38.4 °C" in r.text


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ({"temperature": "hot"}, "is not a body temperature in °C"),
        ({"temperature": "98.6"}, "is not a body temperature in °C"),
        ({}, "Answer at least one question"),
        ({"breathless": "bad"}, "choose one of the answers"),
    ],
    ids=["not-a-number", "fahrenheit", "empty", "unknown-code"],
)
def test_a_form_with_problems_is_shown_again_and_nothing_is_stored(
    web: Web, words: dict[str, str], message: str
) -> None:
    key = form_key(web, web.anna)
    data = {KEY_FIELD: key, "cough": coded({"cough": "mild"})["cough"], **words} if words else {KEY_FIELD: key}
    r = web.client.post(f"/patients/{web.anna}/symptoms", data=data, headers=SITE)
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]
    assert message in r.text and "Nothing has been sent yet" in r.text
    accessible(r.text)
    assert f'value="{key}"' in r.text  # the same form: its key is kept
    if words:
        assert re.search(r'name="cough" value="255604002" checked', r.text)  # the answers given are kept
    assert reports(web, web.anna) == []


def test_a_form_without_its_key_is_refused(web: Web) -> None:
    for key in ("", "short", "x" * 16 + "<"):
        r = send(web, web.anna, SAME_DAY, key)
        assert r.status_code == 400 and "open the questions again" in r.text
    assert reports(web, web.anna) == []


# ---- the advice -------------------------------------------------------------------------------------------------
def test_an_emergency_shows_the_advice_and_an_alert_on_the_work_list(web: Web) -> None:
    web.sign_in("patient", patient=web.anna, sub="anna")
    r = send(web, web.anna, EMERGENCY)
    assert r.status_code == 200
    page = r.text
    accessible(page)
    stored = web.client.get(f"/api/v1/patients/{web.anna}/symptom-reports").json()["reports"][0]
    triage = stored["triage"]
    assert triage["level"] == "emergency"
    assert "<h1>Call now</h1>" in page
    assert f'<div class="advice advice-emergency" role="alert">\n  <p>{escape(triage["advice"])}</p>' in page
    assert "emergency department" in page  # the knowledge base's wording, not the page's
    for reason in triage["reasons"]:
        assert str(escape(reason)) in page
    assert "An alert is on your care team's work list" in page
    assert f'href="/patients/{web.anna}/plain"' in page  # back to her summary
    # the care team sees it on the work list, first (emergencies first), with a link to the patient page
    web.sign_in()
    send(web, web.claire, all_clear() | {"chest-pain": "mild"})  # a same-day alert, newer
    r = web.client.get("/alerts")
    assert r.status_code == 200
    work = r.text
    accessible(work)
    assert "2 open alerts, 1 emergency." in work
    cards = work.split('<article class="alert-card')[1:]
    assert len(cards) == 2
    assert "level-emergency" in cards[0] and f'href="/patients/{web.anna}#monitoring">Lindqvist, Anna</a>' in cards[0]
    assert "level-same_day" in cards[1] and "Moreau, Claire" in cards[1]
    assert str(escape(triage["reasons"][0])) in cards[0]
    assert re.search(r"<dt>Alert raised</dt><dd>\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC</dd>", cards[0])
    assert "not yet delivered" in cards[0]  # the outbox is not running in this test
    assert f'action="/alerts/{stored["alert"]}/acknowledge"' in cards[0]
    assert 'Acknowledge<span class="visually-hidden"> the alert for Lindqvist, Anna</span>' in cards[0]


def test_a_same_day_report_says_call_today(web: Web) -> None:
    r = send(web, web.anna, SAME_DAY)
    assert "<h1>Call today</h1>" in r.text and 'class="advice advice-same_day" role="alert"' in r.text
    advice = " ".join(triage_kb().levels["same_day"].advice.split())
    assert str(escape(advice)) in r.text
    routine = send(web, web.claire, all_clear())
    assert "<h1>No call needed today</h1>" in routine.text and 'role="status"' in routine.text
    assert "No alert was raised" in routine.text


# ---- the work list ----------------------------------------------------------------------------------------------
def test_acknowledge_records_who_and_when(web: Web) -> None:
    send(web, web.anna, EMERGENCY)
    alert_id = alerts(web)[0]["id"]
    before = len(web.audit(patient_id=web.anna))
    r = web.client.post(f"/alerts/{alert_id}/acknowledge", data={"note": "Called her; seen in clinic"}, headers=SITE)
    assert r.status_code == 303 and r.headers["location"] == f"/alerts?done={alert_id}"
    done = web.client.get(r.headers["location"]).text
    assert re.search(r"The alert for <strong>Lindqvist, Anna</strong> is acknowledged: by dr-web at \d{4}-", done)
    assert "No open alerts." in done and "Show acknowledged alerts too" in done
    [alert] = alerts(web)
    assert alert["acknowledged_by"] == "dr-web" and alert["acknowledged_at"]
    assert alert["note"] == "Called her; seen in clinic"
    shown = web.client.get("/alerts", params={"state": "all"}).text
    assert "acknowledged by <strong>dr-web</strong>" in shown and "Called her; seen in clinic" in shown
    assert "Show open alerts only" in shown and f"/alerts/{alert_id}/acknowledge" not in shown
    # one AuditEvent: an update of her record, by the clinician, on the web route
    [event] = new_events(web, before, patient_id=web.anna)
    assert event["action"] == "U" and event["outcome"] == "0"
    assert event["entity"][0]["description"] == "/alerts/{alert_id}/acknowledge"
    assert event["agent"][0]["who"]["identifier"]["value"] == "dr-web"
    # the first acknowledgement stays
    other = issue_token(web.secret, sub="dr-two", role="clinician")
    web.client.cookies.clear()
    web.client.get("/signin", params={"token": other})
    web.client.post(f"/alerts/{alert_id}/acknowledge", data={"note": "later"}, headers=SITE)
    web.sign_in()
    assert alerts(web)[0]["acknowledged_by"] == "dr-web"


def test_an_unknown_alert_is_a_404_page(web: Web) -> None:
    r = web.client.post("/alerts/no-such-alert/acknowledge", data={}, headers=SITE)
    assert r.status_code == 404 and "<h1>Not found</h1>" in r.text
    assert web.audit()[0]["outcome"] == "4"


def test_the_work_list_is_linked_for_clinicians_only(web: Web) -> None:
    page = web.client.get("/").text
    assert '<a href="/alerts">Alerts</a>' in page
    web.sign_in("patient", patient=web.anna, sub="anna")
    plain = web.client.get(f"/patients/{web.anna}/plain").text
    assert 'href="/alerts"' not in plain
    assert f'href="/patients/{web.anna}/symptoms">Report symptoms</a>' in plain  # the header
    assert f'href="/patients/{web.anna}/symptoms">Answer the symptom questions</a>' in plain  # the plain view


# ---- access -----------------------------------------------------------------------------------------------------
def test_a_patient_cannot_open_the_work_list_nor_another_patients_questions(web: Web) -> None:
    send(web, web.claire, all_clear() | {"chest-pain": "severe"})  # an alert exists
    alert_id = alerts(web)[0]["id"]
    web.sign_in("patient", patient=web.anna, sub="anna")
    r = web.client.get("/alerts")
    assert r.status_code == 403 and "<h1>Not allowed</h1>" in r.text and "Moreau" not in r.text
    r = web.client.post(f"/alerts/{alert_id}/acknowledge", data={}, headers=SITE)
    assert r.status_code == 403
    before = len(web.audit(patient_id=web.claire))
    r = web.client.get(f"/patients/{web.claire}/symptoms")
    assert r.status_code == 403 and "<h1>Not allowed</h1>" in r.text and "Moreau" not in r.text
    r = web.client.post(
        f"/patients/{web.claire}/symptoms", data={KEY_FIELD: "k" * 20, **coded(EMERGENCY)}, headers=SITE
    )
    assert r.status_code == 403
    refused = new_events(web, before, patient_id=web.claire)
    assert len(refused) == 2 and all(e["outcome"] == "4" for e in refused)
    # her own questions she may answer
    assert send(web, web.anna, SAME_DAY).status_code == 200
    web.sign_in()
    assert len(reports(web, web.claire)) == 1 and alerts(web, "open")[0]["acknowledged_at"] is None


def test_a_signed_out_visitor_is_sent_to_sign_in(web: Web) -> None:
    web.client.cookies.clear()
    for path in (f"/patients/{web.anna}/symptoms", "/alerts"):
        r = web.client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), path
    r = web.client.post(f"/patients/{web.anna}/symptoms", data={KEY_FIELD: "k" * 20}, headers=SITE)
    assert r.status_code == 303


# ---- cross-site forms -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        ELSEWHERE,
        {"Origin": "null"},
        {},
        {"Referer": "https://evil.example/patients/x/symptoms"},
        {"Origin": "http://testserver.evil.example"},
    ],
    ids=["foreign-origin", "null-origin", "no-origin-no-referer", "foreign-referer", "look-alike-host"],
)
def test_a_form_from_another_site_is_refused(web: Web, headers: dict[str, str]) -> None:
    key = form_key(web, web.anna)
    before = len(web.audit(patient_id=web.anna))
    r = send(web, web.anna, EMERGENCY, key, headers=headers)
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert "this form must be sent from a page of this site" in r.text.lower() and "Nothing was saved" in r.text
    assert reports(web, web.anna) == [] and alerts(web) == []
    [event] = new_events(web, before, patient_id=web.anna)[-1:]
    assert event["outcome"] == "4" and event["action"] == "C"


def test_the_referer_of_this_site_is_enough_without_an_origin(web: Web) -> None:
    referer = {"Referer": f"http://testserver/patients/{web.anna}/symptoms"}
    assert send(web, web.anna, SAME_DAY, headers=referer).status_code == 200


def test_an_acknowledgement_from_another_site_is_refused(web: Web) -> None:
    send(web, web.anna, EMERGENCY)
    alert_id = alerts(web)[0]["id"]
    for headers in (ELSEWHERE, {}):
        r = web.client.post(f"/alerts/{alert_id}/acknowledge", data={"note": "x"}, headers=headers)
        assert r.status_code == 403 and "Nothing was saved" in r.text
        assert web.audit()[0]["outcome"] == "4"
    assert alerts(web)[0]["acknowledged_at"] is None


def test_a_form_that_is_not_url_encoded_or_too_large_is_refused(web: Web) -> None:
    key = form_key(web, web.anna)
    r = web.client.post(
        f"/patients/{web.anna}/symptoms",
        content=json.dumps({KEY_FIELD: key}),
        headers={**SITE, "content-type": "application/json"},
    )
    assert r.status_code == 415 and "text/html" in r.headers["content-type"]
    r = web.client.post(f"/patients/{web.anna}/symptoms", data={KEY_FIELD: key, "note": "x" * 70_000}, headers=SITE)
    assert r.status_code == 413
    assert reports(web, web.anna) == []


# ---- audit ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "route", "action", "subtype"),
    [
        ("/patients/{pid}/symptoms", "/patients/{id}/symptoms", "R", None),
        ("/patients/{pid}", "/patients/{id}", "R", None),
        ("/alerts", "/alerts", "R", "search-type"),
    ],
)
def test_each_page_view_is_one_audit_event(web: Web, path: str, route: str, action: str, subtype: str | None) -> None:
    send(web, web.anna, EMERGENCY)  # the patient page then has reports, a plan and a trend to show
    before = len(web.audit(subject="dr-web"))
    assert web.client.get(path.format(pid=web.anna)).status_code == 200
    [event] = new_events(web, before, subject="dr-web")
    assert event["outcome"] == "0" and event["action"] == action
    assert event["entity"][0]["description"] == route
    if "{id}" in route:
        assert event["entity"][0]["what"]["reference"] == f"Patient/{web.anna}"
    if subtype:
        assert event["subtype"][0]["code"] == subtype


def test_sending_the_form_is_one_create_event_and_a_retry_one_read(web: Web) -> None:
    key = form_key(web, web.anna)
    before = len(web.audit(patient_id=web.anna))
    send(web, web.anna, SAME_DAY, key)
    send(web, web.anna, SAME_DAY, key)
    retry, created = new_events(web, before, patient_id=web.anna)
    assert (created["action"], created["subtype"][0]["code"]) == ("C", "create")
    assert (retry["action"], retry["subtype"][0]["code"]) == ("C", "read")
    assert {e["entity"][0]["description"] for e in (created, retry)} == {"/patients/{id}/symptoms"}


# ---- the patient page -------------------------------------------------------------------------------------------
def test_the_patient_page_shows_the_plan_the_reports_and_the_trend(web: Web) -> None:
    before = web.client.get(f"/patients/{web.claire}").text
    assert '<section id="monitoring"' in before and "No symptom reports yet." in before
    assert "trend.svg" not in before  # no picture without reports
    send(web, web.claire, all_clear() | {"chest-pain": "mild"})
    send(web, web.claire, all_clear() | {"chest-pain": "severe", "nausea": "moderate"})
    r = web.client.get(f"/patients/{web.claire}")
    assert r.status_code == 200
    page = r.text
    p = accessible(page)
    section = page.split('<section id="monitoring"')[1].split("</section>")[0]
    assert '<a href="#monitoring">Monitoring</a>' in page
    # the follow-up plan: abemaciclib + fulvestrant with zoledronic acid, blood counts overdue, each with its source
    assert "line 1: abemaciclib + fulvestrant (from 2024-03-11); with zoledronic acid" in section
    row = section.split("Full blood count")[1].split("</tr>")[0]
    assert 'class="badge badge-overdue">overdue</span>' in row and "VERZENIO" in row and "5.2 Neutropenia" in row
    assert "<summary>Facts used</summary>" in section
    assert "Not in the record (check the chart)" in section
    # the reports, newest first, with level badges and the alert state
    table = section.split('<table class="data reports">')[1].split("</table>")[0]
    assert table.index("badge-emergency") < table.index("badge-same_day")
    assert "chest pain: severe; nausea: moderate" in table and table.count(">open</td>") == 2
    # the trend picture from the API, with a text alternative
    imgs = {str(a["src"]): a for t, a in p.tags if t == "img"}
    trend = imgs[f"/api/v1/patients/{web.claire}/symptom-reports/trend.svg"]
    assert "Symptom trend" in str(trend["alt"]) and "table below the picture" in str(trend["alt"])
    assert "<summary>The symptom trend as a table</summary>" in section
    # the second-opinion summary
    for link in ("summary.html", "summary.pdf", "summary.html?audience=patient"):
        assert f'href="/api/v1/patients/{web.claire}/{link}"' in page, link
    assert f'href="/patients/{web.claire}/symptoms"' in page


def test_as_of_hides_later_reports(web: Web) -> None:
    send(web, web.claire, all_clear() | {"chest-pain": "mild"})
    page = web.client.get(f"/patients/{web.claire}", params={"as_of": "2025-01-01"}).text
    assert "No symptom reports yet." in page
    assert "summary.html?as_of=2025-01-01&amp;audience=patient" in page


def test_every_monitoring_page_escapes_a_hostile_name(web: Web) -> None:
    send(web, web.hostile, all_clear() | {"bleeding": "severe"})
    for path in (f"/patients/{web.hostile}/symptoms", "/alerts", f"/patients/{web.hostile}"):
        page = web.client.get(path).text
        assert "<script" not in page, path
        assert "&lt;script&gt;" in page, path
    assert "<script" not in send(web, web.hostile, SAME_DAY).text
    assert HOSTILE not in web.client.get("/alerts").text


# ---- the trend picture (API) ------------------------------------------------------------------------------------
def test_the_trend_is_an_svg_that_is_audited_and_refused_to_others(web: Web) -> None:
    send(web, web.anna, all_clear() | {"back-pain": "mild"})
    send(web, web.anna, all_clear() | {"back-pain": "moderate", "bone-pain": "severe"})
    path = f"/api/v1/patients/{web.anna}/symptom-reports/trend.svg"
    before = len(web.audit(patient_id=web.anna))
    r = web.client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "no-store" in r.headers["cache-control"]
    root = ET.fromstring(r.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    [event] = new_events(web, before, patient_id=web.anna)
    assert event["action"] == "R" and event["outcome"] == "0"
    assert event["entity"][0]["description"] == "/api/v1/patients/{id}/symptom-reports/trend.svg"
    # a patient sees her own, not another's (an OperationOutcome: this is the API)
    web.sign_in("patient", patient=web.claire, sub="claire")
    assert web.client.get(f"/api/v1/patients/{web.claire}/symptom-reports/trend.svg").status_code == 200
    refused = web.client.get(path)
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    assert web.audit(patient_id=web.anna)[0]["outcome"] == "4"
    web.client.cookies.clear()
    assert web.client.get(path).status_code == 401


def _stored(when: str, answers: dict[str, Any], level: str = "routine") -> StoredReport:
    return StoredReport("r-" + when, "p", when, None, level, {"answers": answers})


def test_the_trend_points_are_the_worst_answer_per_family_oldest_first() -> None:
    families = trend_families()
    assert families[:3] == ["breathless", "cough", "chest-pain"] and "back-pain" in families
    assert "temperature" not in families and "limb-weakness" not in families  # not on a severity scale
    points = symptom_trend(
        [
            _stored("2026-11-20T09:00:00.000Z", {"back-pain": "severe", "back-pain-new": "yes", "cough": "none"}),
            _stored("2026-11-10T09:00:00.000Z", {"back-pain": "mild"}, "same_day"),
            _stored("2026-11-30T09:00:00.000Z", {"nausea": "moderate"}),
        ],
        until=date(2026, 11, 25),
    )
    assert [p.when.date().isoformat() for p in points] == ["2026-11-10", "2026-11-20"]  # oldest first, until
    assert points[0].severities == {"back-pain": 1} and points[0].level == "same_day"
    assert points[1].severities == {"back-pain": 3, "cough": 0}  # unanswered families absent, never 0
