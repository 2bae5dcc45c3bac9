"""The service's API: contracts equal to the CLI's, sign-in and access for every PHI route (generated from the route
table), an AuditEvent for every read and write, OperationOutcome errors, limits, no patient data in logs."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mbcnav.outcome import read_patient
from mbcnav.pathway import evaluate
from mbcnav.service.api import PHI_TAG
from mbcnav.service.app import create_app
from mbcnav.service.auth import AUDIENCE, OidcIssuer, issue_token
from mbcnav.service.settings import Settings

from .conftest import ROOT, TODAY
from .test_trials_store import BACKENDS, database

FHIR_02 = ROOT / "examples" / "fhir" / "02-recurrence-on-adjuvant-ai.json"
CASE_07 = ROOT / "examples" / "cases" / "07-her2-low-after-cdk46.yaml"
CASE_04 = ROOT / "examples" / "cases" / "04-her2-positive-brain.yaml"
NAMED = "Margaret Q. Testpatient"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


class Api:
    """A running app (TestClient) with tokens for each role and one imported patient."""

    def __init__(self, app: FastAPI, imports: bool = True) -> None:
        self.app = app
        self.client = TestClient(app)
        self.registry = app.state.service.registry
        secret = self.registry.token_secret()
        self.clinician = {"Authorization": f"Bearer {issue_token(secret, sub='dr-ada', role='clinician')}"}
        self.admin = {"Authorization": f"Bearer {issue_token(secret, sub='root', role='admin')}"}
        self.ehr = {"Authorization": f"Bearer {issue_token(secret, sub='ehr-1', role='ehr')}"}
        self.pid = self.post(FHIR_02.read_bytes()).json()["id"] if imports else "none"
        self.other = self.post(CASE_07.read_bytes(), "application/yaml").json()["id"] if imports else "none"
        self.patient = {"Authorization": f"Bearer {issue_token(secret, sub='pt-1', role='patient', patient=self.pid)}"}

    def post(self, body: bytes, media: str = "application/fhir+json", headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            "/api/v1/patients", content=body, headers={**(headers or self.clinician), "content-type": media}
        )

    def audit(self) -> list[dict[str, Any]]:
        events, _ = self.registry.audit_events(limit=10_000)
        return events


def make_api(url: str, imports: bool = True, **settings: Any) -> Api:
    return Api(create_app(Settings(db_url=url, warm_trials=False, today=TODAY, **settings)), imports)


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    a = make_api(db_url)
    yield a
    a.registry.close()


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    a = make_api(f"sqlite:///{tmp_path / 'registry.db'}")
    yield a
    a.registry.close()


@dataclass(frozen=True)
class Op:
    """One operation of the route table (from the app's OpenAPI document, which lists every route it serves)."""

    method: str
    path: str
    tags: tuple[str, ...]


def operations(app: FastAPI) -> list[Op]:
    doc = app.openapi()
    return [
        Op(method.upper(), path, tuple(op.get("tags", ())))
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]


def phi_routes(app: FastAPI) -> list[Op]:
    return [op for op in operations(app) if PHI_TAG in op.tags]


def concrete(route: Op, pid: str) -> tuple[str, str]:
    """A route template filled with real values: the method and the path."""
    path = route.path.replace("{id}", pid).replace("{kind}", "spider").replace("{fmt}", "svg")
    path = path.replace("{subject}", "dr-bea")
    return route.method, path


# A symptom report: every question answered, nothing wrong (a routine report).
REPORT = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": []}
PATIENT_WRITES = ("/api/v1/patients/{id}/symptom-reports",)  # what a patient may write on her own record


def call(api: Api, method: str, path: str, headers: dict[str, str]) -> Any:
    if method == "POST":
        body = json.dumps(REPORT).encode() if path.endswith("/symptom-reports") else FHIR_02.read_bytes()
        return api.client.post(path, content=body, headers={**headers, "content-type": "application/json"})
    return api.client.request(method, path, headers=headers)


# ---- contracts -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [FHIR_02, CASE_07, CASE_04], ids=lambda p: p.name)
def test_each_route_returns_exactly_the_cli_contract(sqlite_api: Api, path: Path) -> None:
    media = "application/yaml" if path.suffix == ".yaml" else "application/fhir+json"
    r = sqlite_api.post(path.read_bytes(), media)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    ev = evaluate(read_patient(path), as_of=TODAY)
    for view, expected in (
        ("assessment", ev.assessment_json()),
        ("options", ev.options_json()),
        ("response", ev.response_json()),
    ):
        got = sqlite_api.client.get(f"/api/v1/patients/{pid}/{view}", headers=sqlite_api.clinician)
        assert got.status_code == 200
        assert got.json() == json.loads(json.dumps(expected)), view


def test_as_of_reads_the_record_as_known_then(sqlite_api: Api) -> None:
    early = sqlite_api.client.get(
        f"/api/v1/patients/{sqlite_api.pid}/assessment", params={"as_of": "2015-01-01"}, headers=sqlite_api.clinician
    ).json()
    assert early["as_of"] == "2015-01-01"
    assert early["metastatic"] is not True  # the recurrence came later
    future = sqlite_api.client.get(
        f"/api/v1/patients/{sqlite_api.pid}/options", params={"as_of": "2999-01-01"}, headers=sqlite_api.clinician
    )
    assert future.status_code == 400
    assert future.json()["resourceType"] == "OperationOutcome"


def test_a_later_import_is_a_new_version_that_merges_and_keeps_history(sqlite_api: Api) -> None:
    bundle = json.loads(FHIR_02.read_text())
    extra = {
        "resourceType": "Observation",
        "id": "ecog-late",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "89247-1"}]},
        "subject": {"reference": "Patient/" + bundle_patient_id(bundle)},
        "effectiveDateTime": "2026-11-01",
        "valueInteger": 2,
    }
    second = sqlite_api.post(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": patient_of(bundle)}, {"resource": extra}],
            }
        ).encode()
    )
    assert second.status_code == 201
    assert {k: second.json()[k] for k in ("id", "version", "created")} == {
        "id": sqlite_api.pid,
        "version": 2,
        "created": False,
    }
    v1 = sqlite_api.client.get(f"/api/v1/patients/{sqlite_api.pid}/fhir?version=1", headers=sqlite_api.clinician)
    v2 = sqlite_api.client.get(f"/api/v1/patients/{sqlite_api.pid}/fhir", headers=sqlite_api.clinician)
    assert v2.json()["meta"]["versionId"] == "2"
    ids1 = {e["resource"].get("id") for e in v1.json()["entry"]}
    ids2 = {e["resource"].get("id") for e in v2.json()["entry"]}
    assert ids1 < ids2 and "ecog-late" in ids2  # nothing of version 1 lost, the new fact added
    a = sqlite_api.client.get(f"/api/v1/patients/{sqlite_api.pid}/assessment", headers=sqlite_api.clinician).json()
    assert a["ecog"] == 2
    versions = sqlite_api.client.get(f"/api/v1/patients/{sqlite_api.pid}/versions", headers=sqlite_api.clinician)
    assert [v["version"] for v in versions.json()["versions"]] == [1, 2]


def test_a_later_import_under_another_source_id_stays_the_same_patient(sqlite_api: Api) -> None:
    bundle = json.loads(FHIR_02.read_text())
    old_id = bundle_patient_id(bundle)
    text = json.dumps(bundle).replace(old_id, "renamed-in-new-ehr")
    again = json.loads(text)
    patient_of(again).setdefault("identifier", [])
    r = sqlite_api.post(json.dumps(again).encode())
    # merged by identifier when the record has one, else it is a new patient: never two records silently mixed
    keys = patient_of(bundle).get("identifier")
    if keys:
        assert r.json()["id"] == sqlite_api.pid
        a = sqlite_api.client.get(f"/api/v1/patients/{sqlite_api.pid}/assessment", headers=sqlite_api.clinician)
        assert a.json()["metastatic"] is True
        assert not [i for i in a.json()["input_issues"] if "another patient" in i["message"]]
    else:
        assert r.json()["id"] != sqlite_api.pid


def bundle_patient_id(bundle: dict[str, Any]) -> str:
    return str(patient_of(bundle)["id"])


def patient_of(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def test_patient_list_pages_and_searches(sqlite_api: Api) -> None:
    body = json.loads(FHIR_02.read_text())
    p = patient_of(body)
    p["name"] = [{"family": "Testpatient", "given": ["Margaret", "Q."]}]
    p["identifier"] = [{"system": "urn:test:mrn", "value": "MRN-7781"}]
    p["id"] = "named-1"
    text = json.dumps(body).replace(f"Patient/{bundle_patient_id(json.loads(FHIR_02.read_text()))}", "Patient/named-1")
    assert sqlite_api.post(text.encode()).status_code == 201
    all_ = sqlite_api.client.get("/api/v1/patients", headers=sqlite_api.clinician).json()
    assert all_["total"] == 3
    found = sqlite_api.client.get("/api/v1/patients", params={"q": "testpatient"}, headers=sqlite_api.clinician)
    assert [x["name"] for x in found.json()["patients"]] == ["Testpatient, Margaret Q."]
    by_mrn = sqlite_api.client.get("/api/v1/patients", params={"q": "mrn-7781"}, headers=sqlite_api.clinician)
    assert by_mrn.json()["total"] == 1
    page = sqlite_api.client.get("/api/v1/patients", params={"limit": 2, "offset": 2}, headers=sqlite_api.clinician)
    assert page.json()["total"] == 3 and len(page.json()["patients"]) == 1
    mine = sqlite_api.client.get("/api/v1/patients", headers=sqlite_api.patient).json()
    assert [x["id"] for x in mine["patients"]] == [sqlite_api.pid]


def test_plots_are_images(sqlite_api: Api) -> None:
    svg = sqlite_api.client.get(
        f"/api/v1/patients/{sqlite_api.pid}/response/plots/swimmer.svg", headers=sqlite_api.clinician
    )
    png = sqlite_api.client.get(
        f"/api/v1/patients/{sqlite_api.pid}/response/plots/spider.png", headers=sqlite_api.clinician
    )
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    bad = sqlite_api.client.get(
        f"/api/v1/patients/{sqlite_api.pid}/response/plots/pie.svg", headers=sqlite_api.clinician
    )
    assert bad.status_code == 400


def test_trials_route_says_when_there_is_no_trial_store(tmp_path: Path) -> None:
    a = make_api(f"sqlite:///{tmp_path / 'r.db'}", trials_db_url=f"sqlite:///{tmp_path / 'trials.db'}")
    r = a.client.get(f"/api/v1/patients/{a.pid}/trials", headers=a.clinician)
    assert r.status_code == 503
    assert "trial store is empty" in r.json()["issue"][0]["diagnostics"]


# ---- access: generated from the route table -------------------------------------------------------------------
def test_every_phi_route_is_known_to_this_test(sqlite_api: Api) -> None:
    """A new PHI route shows up here and in the generated checks below; a route handling patient data without
    the tag would escape them, so every /patients route must carry it."""
    for op in operations(sqlite_api.app):
        if op.path.startswith("/api/v1/patients"):
            assert PHI_TAG in op.tags, op.path
    assert len(phi_routes(sqlite_api.app)) >= 11


def test_every_phi_route_refuses_without_a_token_and_audits_it(api: Api) -> None:
    for route in phi_routes(api.app):
        method, path = concrete(route, api.pid)
        before = len(api.audit())
        r = call(api, method, path, {})
        assert r.status_code == 401, (method, route.path)
        assert r.json()["resourceType"] == "OperationOutcome"
        assert r.headers["www-authenticate"].startswith("Bearer")
        after = api.audit()
        assert len(after) == before + 1 and after[0]["outcome"] == "4", route.path


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode(
            {"sub": "x", "mbcnav_role": "clinician", "iss": "urn:mbcnav:embedded", "aud": AUDIENCE, "iat": 1, "exp": 2},
            "wrong-secret-" * 4,
            algorithm="HS256",
        ),
        jwt.encode(
            {
                "sub": "x",
                "mbcnav_role": "clinician",
                "iss": "https://evil.example",
                "aud": AUDIENCE,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
            },
            "k" * 32,
            algorithm="HS256",
        ),
    ],
    ids=["garbage", "bad-signature", "untrusted-issuer"],
)
def test_bad_tokens_are_refused(sqlite_api: Api, token: str) -> None:
    r = sqlite_api.client.get(f"/api/v1/patients/{sqlite_api.pid}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_an_expired_token_is_refused(sqlite_api: Api) -> None:
    secret = sqlite_api.registry.token_secret()
    now = int(time.time())
    claims = {
        "sub": "dr-old",
        "mbcnav_role": "clinician",
        "iss": "urn:mbcnav:embedded",
        "aud": AUDIENCE,
        "iat": now - 7200,
        "exp": now - 3600,
    }
    r = sqlite_api.client.get(
        "/api/v1/patients", headers={"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}
    )
    assert r.status_code == 401 and "expired" in r.json()["issue"][0]["diagnostics"]


def test_a_patient_reads_her_own_record_and_no_one_elses(api: Api) -> None:
    for route in phi_routes(api.app):
        method, path = concrete(route, api.other)
        r = call(api, method, path, api.patient)
        if route.path == "/api/v1/patients" and method == "GET":
            assert [p["id"] for p in r.json()["patients"]] == [api.pid]  # the list holds her own record only
            continue
        assert r.status_code == 403, (method, route.path)
        assert api.audit()[0]["outcome"] == "4"
    for route in phi_routes(api.app):
        method, path = concrete(route, api.pid)
        r = call(api, method, path, api.patient)
        if method == "GET" and route.path != "/api/v1/patients/{id}/trials":
            assert r.status_code == 200, route.path  # her own record, every view of it
        elif route.path in PATIENT_WRITES:
            assert r.status_code == 201, route.path  # she reports her own symptoms
        elif method != "GET":
            assert r.status_code == 403, route.path  # a patient imports nothing and manages no care team


def test_admin_and_ehr_roles_never_read_patient_data(api: Api) -> None:
    for headers in (api.admin, api.ehr):
        for route in phi_routes(api.app):
            if route.path.endswith("/care-team/{subject}") and headers is api.admin:
                continue  # the admin manages care teams (without reading the record)
            method, path = concrete(route, api.pid)
            assert call(api, method, path, headers).status_code == 403, route.path


def test_admin_routes_are_admin_only(sqlite_api: Api) -> None:
    for path in ("/api/v1/audit", "/api/v1/admin/users"):
        assert sqlite_api.client.get(path, headers=sqlite_api.clinician).status_code == 403
        assert sqlite_api.client.get(path, headers=sqlite_api.patient).status_code == 403
        assert sqlite_api.client.get(path, headers=sqlite_api.admin).status_code == 200


def test_care_team_scope_limits_a_clinician_to_her_patients(tmp_path: Path) -> None:
    a = make_api(f"sqlite:///{tmp_path / 'r.db'}", clinician_scope="care-team")
    secret = a.registry.token_secret()
    bea = {"Authorization": f"Bearer {issue_token(secret, sub='dr-bea', role='clinician')}"}
    assert a.client.get(f"/api/v1/patients/{a.pid}", headers=a.clinician).status_code == 200  # she imported it
    assert a.client.get(f"/api/v1/patients/{a.pid}", headers=bea).status_code == 403
    assert a.client.get("/api/v1/patients", headers=bea).json()["total"] == 0
    assert a.client.put(f"/api/v1/patients/{a.pid}/care-team/dr-bea", headers=a.admin).json()["added"] is True
    assert a.client.get(f"/api/v1/patients/{a.pid}", headers=bea).status_code == 200


def test_a_revoked_user_is_refused(sqlite_api: Api) -> None:
    assert sqlite_api.client.get("/api/v1/patients", headers=sqlite_api.clinician).status_code == 200
    r = sqlite_api.client.post("/api/v1/admin/users/dr-ada/revoke", headers=sqlite_api.admin)
    assert r.status_code == 200
    assert sqlite_api.client.get("/api/v1/patients", headers=sqlite_api.clinician).status_code == 401
    users = sqlite_api.client.get("/api/v1/admin/users", headers=sqlite_api.admin).json()["users"]
    assert next(u for u in users if u["subject"] == "dr-ada")["revoked"]


# ---- audit -----------------------------------------------------------------------------------------------------
def test_every_read_and_write_of_patient_data_is_an_audit_event(api: Api) -> None:
    from fhir.resources.R4B.auditevent import AuditEvent

    for route in phi_routes(api.app):
        if route.path == "/api/v1/patients/{id}/trials":
            continue  # needs a trial store: covered in test_trials_route_* and the trial tests
        headers = api.admin if route.path.endswith("/care-team/{subject}") else api.clinician
        method, path = concrete(route, api.pid)
        before = len(api.audit())
        r = call(api, method, path, headers)
        assert r.status_code in (200, 201), (route.path, r.text[:300])
        events = api.audit()
        assert len(events) == before + 1, route.path
        event = events[0]
        AuditEvent.model_validate(event)  # a valid FHIR AuditEvent
        assert event["outcome"] == "0"
        assert event["action"] == ("C" if method == "POST" else "U" if method == "PUT" else "R")
        assert event["entity"][0]["description"] == route.path
        if "{id}" in route.path or method == "POST":
            assert event["entity"][0]["what"]["reference"].startswith("Patient/")
        who = event["agent"][0]["who"]["identifier"]["value"]
        assert who == ("root" if headers is api.admin else "dr-ada")


def test_the_audit_route_returns_a_fhir_bundle(sqlite_api: Api) -> None:
    from fhir.resources.R4B.bundle import Bundle

    sqlite_api.client.get(f"/api/v1/patients/{sqlite_api.pid}/options", headers=sqlite_api.clinician)
    r = sqlite_api.client.get("/api/v1/audit", params={"patient": sqlite_api.pid}, headers=sqlite_api.admin)
    assert r.headers["content-type"].startswith("application/fhir+json")
    doc = r.json()
    Bundle.model_validate(doc)
    assert doc["type"] == "searchset" and doc["total"] >= 2  # the import and the read
    assert {e["resource"]["action"] for e in doc["entry"]} >= {"C", "R"}


def test_an_import_and_its_audit_event_are_one_transaction(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the AuditEvent cannot be written, the import is not stored either (and the caller hears of it)."""
    reg = sqlite_api.registry

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(reg, "_audit", broken)
    before, _ = reg.patients()
    r = sqlite_api.post(CASE_04.read_bytes(), "application/yaml")
    assert r.status_code == 500 and r.json()["resourceType"] == "OperationOutcome"
    after, _ = reg.patients()
    assert len(after) == len(before)


# ---- bad input -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "media", "status"),
    [
        (b"{not json", "application/fhir+json", 400),
        (b"\xff\xfe\x00garbage", "application/json", 400),
        (b"", "application/fhir+json", 400),
        (b"[1, 2, 3]", "application/json", 422),
        (b'{"resourceType": "Observation", "status": "final"}', "application/fhir+json", 422),
        (b'{"hello": "world"}', "application/json", 422),
        (b"schema: mbcnav-case/1\npatient: [unclosed", "application/yaml", 400),
        (b"schema: mbcnav-case/1\nnot_a_field: 1\n", "application/yaml", 422),
        (b"<Bundle xmlns='http://hl7.org/fhir'/>", "application/fhir+xml", 415),
        (b'{"resourceType": "Bundle", "entry": "x"}', "application/fhir+json", 422),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ],
    ids=[
        "malformed",
        "not-utf8",
        "empty",
        "array",
        "no-patient",
        "not-fhir",
        "bad-yaml",
        "case-schema",
        "xml",
        "entry-not-list",
        "deep",
    ],
)
def test_bad_bodies_get_an_operation_outcome(sqlite_api: Api, body: bytes, media: str, status: int) -> None:
    r = sqlite_api.post(body, media)
    assert r.status_code == status, r.text[:300]
    doc = r.json()
    assert doc["resourceType"] == "OperationOutcome"
    assert doc["issue"][0]["diagnostics"]
    assert "Traceback" not in r.text


def test_two_patients_in_one_import_are_refused(sqlite_api: Api) -> None:
    two = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "a"}},
            {"resource": {"resourceType": "Patient", "id": "b"}},
        ],
    }
    r = sqlite_api.post(json.dumps(two).encode())
    assert r.status_code == 422 and "one patient" in r.json()["issue"][0]["diagnostics"]


def test_an_oversized_body_is_413_and_nothing_is_stored(tmp_path: Path) -> None:
    a = make_api(f"sqlite:///{tmp_path / 'r.db'}", imports=False, max_body_bytes=20_000)
    big = FHIR_02.read_bytes()
    assert len(big) > 20_000
    r = a.post(big)
    assert r.status_code == 413 and r.json()["resourceType"] == "OperationOutcome"
    assert a.registry.patients()[1] == 0


def test_unknown_routes_and_methods_are_operation_outcomes(sqlite_api: Api) -> None:
    r = sqlite_api.client.get("/api/v1/nothing-here", headers=sqlite_api.clinician)
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = sqlite_api.client.delete(f"/api/v1/patients/{sqlite_api.pid}", headers=sqlite_api.clinician)
    assert r.status_code == 405 and r.json()["resourceType"] == "OperationOutcome"
    r = sqlite_api.client.get("/api/v1/patients/no-such-id", headers=sqlite_api.clinician)
    assert r.status_code == 404 and r.json()["issue"][0]["code"] == "not-found"


def test_only_a_clinician_imports(sqlite_api: Api) -> None:
    for headers in (sqlite_api.patient, sqlite_api.admin, sqlite_api.ehr):
        assert sqlite_api.post(FHIR_02.read_bytes(), headers=headers).status_code == 403


# ---- limits, CORS, logs ----------------------------------------------------------------------------------------
def test_rate_limit_answers_429(tmp_path: Path) -> None:
    a = make_api(f"sqlite:///{tmp_path / 'r.db'}", rate_per_second=0.001, rate_burst=3)
    # the fixture's two imports used two of the clinician's three requests
    codes = [a.client.get("/api/v1/patients", headers=a.clinician).status_code for _ in range(3)]
    assert codes[0] == 200 and codes[-1] == 429
    assert a.client.get("/healthz").status_code == 200  # liveness is never limited


def test_cors_is_closed_by_default(sqlite_api: Api) -> None:
    r = sqlite_api.client.get(
        "/api/v1/patients", headers={**sqlite_api.clinician, "Origin": "https://elsewhere.example"}
    )
    assert "access-control-allow-origin" not in r.headers
    pre = sqlite_api.client.options(
        "/api/v1/patients",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in pre.headers


def test_no_patient_data_in_logs(sqlite_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    body = json.loads(FHIR_02.read_text())
    patient_of(body)["name"] = [{"text": NAMED}]
    caplog.set_level(logging.DEBUG)
    r = sqlite_api.post(json.dumps(body).encode())
    pid = r.json()["id"]
    for view in ("assessment", "options", "fhir", "no-such-view"):
        sqlite_api.client.get(f"/api/v1/patients/{pid}/{view}", headers=sqlite_api.clinician)
    sqlite_api.client.get("/api/v1/patients", params={"q": "Testpatient"}, headers=sqlite_api.clinician)
    # the service's own log lines (the test client's httpx log shows the URLs it requested, as any client would)
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "asyncio")))
    assert "/api/v1/patients/{id}/options" in text  # the route template is logged...
    for secret in (NAMED, "Testpatient", pid, bundle_patient_id(body)):
        assert secret not in text  # ...never the name, the registry id or the source's id


def test_security_headers(sqlite_api: Api) -> None:
    r = sqlite_api.client.get("/healthz")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


# ---- an external OpenID Connect issuer -------------------------------------------------------------------------
class _Jwks(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: Any) -> None:
        pass


def test_tokens_of_an_oidc_issuer_are_checked_against_its_jwks(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    _Jwks.body = json.dumps({"keys": [jwk]}).encode()
    server = HTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        issuer = OidcIssuer(
            "https://idp.example/realms/onc", f"http://127.0.0.1:{server.server_port}/jwks", audience="mbcnav-api"
        )
        a = make_api(f"sqlite:///{tmp_path / 'r.db'}", oidc=issuer)
        now = int(time.time())
        claims = {
            "iss": issuer.issuer,
            "aud": "mbcnav-api",
            "sub": "oidc-user",
            "iat": now,
            "exp": now + 300,
            "mbcnav_role": ["offline_access", "clinician"],
        }
        good = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        r = a.client.get(f"/api/v1/patients/{a.pid}", headers={"Authorization": f"Bearer {good}"})
        assert r.status_code == 200
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"})
        assert a.client.get("/api/v1/patients", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        wrong_aud = jwt.encode({**claims, "aud": "other"}, key, algorithm="RS256", headers={"kid": "k1"})
        assert a.client.get("/api/v1/patients", headers={"Authorization": f"Bearer {wrong_aud}"}).status_code == 401
    finally:
        server.shutdown()


def test_openapi_is_versioned_and_documents_errors(sqlite_api: Api) -> None:
    doc = sqlite_api.client.get("/openapi.json").json()
    paths = doc["paths"]
    # the API is versioned; CDS Hooks and SMART paths are set by their specifications
    others = [p for p in paths if not p.startswith(("/api/v1/", "/cds-services", "/smart/")) and p != "/healthz"]
    assert others == []
    for name in ("assessment", "options", "response", "trials", "fhir"):
        op = paths["/api/v1/patients/{id}/" + name]["get"]
        assert {"401", "403", "404"} <= set(op["responses"]), name
