"""Monitoring in the service: plan, questionnaire, symptom reports (triaged, stored once, audited), the care team's
work list with acknowledgement, and alerts delivered at least once through the outbox — across a restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from mbcnav.monitoring.questionnaire import ANSWER_CS, YESNO_CS
from mbcnav.service.app import create_app
from mbcnav.service.auth import issue_token
from mbcnav.service.settings import Settings

from .conftest import ROOT, TODAY
from .test_service_api import Api, make_api

# bone metastases (case 07 has bone and liver disease)
CASE_BONE = ROOT / "examples" / "cases" / "07-her2-low-after-cdk46.yaml"


def qr(answers: dict[str, Any], ident: str | None = None) -> dict[str, Any]:
    items = []
    for link, value in answers.items():
        if isinstance(value, float):
            answer = {"valueDecimal": value}
        elif value in ("yes", "no"):
            answer = {"valueCoding": {"system": YESNO_CS, "code": "Y" if value == "yes" else "N"}}
        else:
            answer = {"valueCoding": {"system": ANSWER_CS, "code": value}}
        items.append({"linkId": link, "answer": [answer]})
    doc: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items,
                           "authored": "2026-11-25T08:00:00Z"}  # fmt: skip
    if ident:
        doc["identifier"] = {"system": "urn:test:app", "value": ident}
    return doc


EMERGENCY = {"back-pain": "severe", "back-pain-new": "yes", "limb-weakness": "yes"}


def _all_clear() -> dict[str, Any]:
    """Every question answered: no symptom (an unanswered red-flag question is never read as "no")."""
    from mbcnav.monitoring.questionnaire import questionnaire

    out: dict[str, Any] = {}
    for item in questionnaire()["item"]:
        codes = [o["valueCoding"]["code"] for o in item.get("answerOption", [])]
        if item["type"] in ("decimal", "quantity"):
            out[item["linkId"]] = 36.8
        elif "N" in codes:
            out[item["linkId"]] = "no"
        elif "none" in codes:
            out[item["linkId"]] = "none"
    return out


ROUTINE = _all_clear()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = make_api(f"sqlite:///{tmp_path / 'r.db'}", deliver_alerts=False)
    yield a
    a.registry.close()


def post_report(api: Api, pid: str, doc: dict[str, Any], headers: dict[str, str], key: str | None = None) -> Any:
    h = {**headers, "content-type": "application/fhir+json"}
    if key:
        h["Idempotency-Key"] = key
    return api.client.post(f"/api/v1/patients/{pid}/symptom-reports", content=json.dumps(doc), headers=h)


def test_questionnaire_needs_sign_in_and_is_fhir(api: Api) -> None:
    assert api.client.get("/api/v1/questionnaires/symptoms").status_code == 401
    r = api.client.get("/api/v1/questionnaires/symptoms", headers=api.patient)
    assert r.status_code == 200 and r.json()["resourceType"] == "Questionnaire"


def test_plan_route_is_the_cli_contract_and_a_careplan(api: Api) -> None:
    from mbcnav.monitoring.plan import plan_json
    from mbcnav.outcome import read_patient
    from mbcnav.pathway import evaluate

    from .test_service_api import FHIR_02

    got = api.client.get(f"/api/v1/patients/{api.pid}/plan", headers=api.clinician).json()
    assert got == json.loads(json.dumps(plan_json(evaluate(read_patient(FHIR_02), as_of=TODAY))))
    fhir = api.client.get(f"/api/v1/patients/{api.pid}/plan", params={"format": "fhir"}, headers=api.clinician)
    assert fhir.json()["resourceType"] == "CarePlan"


def test_a_patient_reports_symptoms_and_sees_the_advice(api: Api) -> None:
    r = post_report(api, api.pid, qr(ROUTINE), api.patient)
    assert r.status_code == 201
    body = r.json()
    assert body["triage"]["level"] == "routine" and body["alert"] is None and body["duplicate"] is False
    assert list(body["triage"])[:4] == ["level", "reasons", "advice", "rules"]
    listed = api.client.get(f"/api/v1/patients/{api.pid}/symptom-reports", headers=api.clinician).json()
    assert [x["id"] for x in listed["reports"]] == [body["id"]]


def test_a_retry_is_stored_once(api: Api) -> None:
    first = post_report(api, api.pid, qr(EMERGENCY), api.patient, key="app-42")
    again = post_report(api, api.pid, qr(EMERGENCY), api.patient, key="app-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True
    same_content = post_report(api, api.pid, qr(ROUTINE, ident="qr-1"), api.patient)
    same_ident = post_report(api, api.pid, {**qr(ROUTINE, ident="qr-1"), "status": "amended"}, api.patient)
    assert same_ident.json()["id"] == same_content.json()["id"]
    reports = api.client.get(f"/api/v1/patients/{api.pid}/symptom-reports", headers=api.clinician).json()["reports"]
    assert len(reports) == 2
    alerts = api.client.get("/api/v1/alerts", headers=api.clinician).json()["alerts"]
    assert len(alerts) == 1  # one alert for the emergency, not one per retry


def test_concurrent_retries_store_one_report(api: Api) -> None:
    doc = qr(EMERGENCY, ident="burst")
    codes: list[int] = []

    def send() -> None:
        codes.append(post_report(api, api.pid, doc, api.patient).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 5 + [201]
    assert len(api.client.get("/api/v1/alerts", headers=api.clinician).json()["alerts"]) == 1


def test_an_emergency_raises_an_alert_that_a_clinician_acknowledges(api: Api) -> None:
    pid = api.post(CASE_BONE.read_bytes(), "application/yaml").json()["id"]
    secret = api.registry.token_secret()
    her = {"Authorization": f"Bearer {issue_token(secret, sub='pt-bone', role='patient', patient=pid)}"}
    r = post_report(api, pid, qr(EMERGENCY), her)
    assert r.json()["triage"]["level"] == "emergency"
    alert_id = r.json()["alert"]
    alerts = api.client.get("/api/v1/alerts", headers=api.clinician).json()["alerts"]
    assert [a["id"] for a in alerts] == [alert_id] and alerts[0]["level"] == "emergency"
    assert api.client.get("/api/v1/alerts", headers=her).status_code == 403  # the work list is the care team's
    ack = api.client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", params={"note": "called her"}, headers=api.clinician
    )
    assert ack.json() == {"alert": alert_id, "acknowledged": True, "already": False}
    assert api.client.get("/api/v1/alerts", headers=api.clinician).json()["alerts"] == []
    done = api.client.get("/api/v1/alerts", params={"state": "all"}, headers=api.clinician).json()["alerts"]
    assert done[0]["acknowledged_by"] == "dr-ada" and done[0]["acknowledged_at"] and done[0]["note"] == "called her"
    events, _ = api.registry.audit_events(patient_id=pid, limit=50)
    assert {e["action"] for e in events} >= {"C", "U"}
    assert api.client.post("/api/v1/alerts/nope/acknowledge", headers=api.clinician).status_code == 404


def test_a_patient_reports_only_for_herself(api: Api) -> None:
    r = post_report(api, api.other, qr(ROUTINE), api.patient)
    assert r.status_code == 403
    assert post_report(api, api.pid, {"resourceType": "Patient"}, api.patient).status_code == 422
    bad = api.client.post(
        f"/api/v1/patients/{api.pid}/symptom-reports", content=b"{oops",
        headers={**api.patient, "content-type": "application/json"},
    )  # fmt: skip
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared by the test server's handler instances

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_a: Any) -> None:
        pass


def test_an_alert_survives_a_restart_and_is_delivered_at_least_once(tmp_path: Path) -> None:
    """The webhook is down when the alert is raised; the service restarts; the alert is delivered afterwards."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    port = server.server_port
    server.server_close()  # not listening yet: delivery fails
    hook = f"http://127.0.0.1:{port}/alerts"
    first = make_api(url, deliver_alerts=False, alert_webhook=hook)
    r = post_report(first, first.pid, qr(EMERGENCY), first.patient)
    alert_id = r.json()["alert"]
    assert first.app.state.dispatcher.run_once() == 0  # refused: stays in the outbox
    first.registry.close()
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", port), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = create_app(Settings(db_url=url, warm_trials=False, today=TODAY, alert_webhook=hook,
                                  outbox_interval=0.05))  # fmt: skip
        store = app.state.symptoms
        # the failed attempt backed off: make the retry due now rather than waiting a second
        with store.registry.write() as conn:
            conn.execute(text("UPDATE registry_outbox SET next_attempt_at = ''"))
        with TestClient(app):  # starts the dispatcher, as `mbcnav serve` does
            for _ in range(100):
                if _Hook.received:
                    break
                threading.Event().wait(0.05)
        assert [m["id"] for m in _Hook.received] == [alert_id]
        assert _Hook.received[0]["resourceType"] == "Communication" and _Hook.received[0]["priority"] == "stat"
        alerts = store.alerts(open_only=True)
        assert alerts[0]["delivered_to"] == f"127.0.0.1:{port}"
    finally:
        server.shutdown()


def test_every_work_list_route_is_the_care_team_s_only(api: Api) -> None:
    from mbcnav.service.monitoring_routes import WORKLIST_TAG

    from .test_service_api import operations

    routes = [op for op in operations(api.app) if WORKLIST_TAG in op.tags]
    assert len(routes) >= 2
    for op in routes:
        path = op.path.replace("{alert_id}", "nope")
        for headers, status in ((api.patient, 403), (api.admin, 403), (api.ehr, 403), ({}, 401)):
            before = len(api.audit())
            r = api.client.request(op.method, path, headers=headers)
            assert r.status_code == status, (op.path, headers)
            assert len(api.audit()) == before + 1, op.path  # refusals are audited too
