"""The summary routes (mbcnav.service.summary_routes): IPS, HTML and PDF of a patient, with access checks and audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from mbcnav.service.api import PHI_TAG
from mbcnav.service.app import create_app
from mbcnav.service.auth import issue_token
from mbcnav.service.settings import Settings
from mbcnav.service.summary_routes import router
from mbcnav.summary.ips import references

from .conftest import ROOT

FHIR_04 = ROOT / "examples" / "fhir" / "04-her2-positive-brain.json"
CASE_10 = ROOT / "examples" / "cases" / "10-receptor-discordance.yaml"
PATHS = ("/api/v1/patients/{id}/summary", "/api/v1/patients/{id}/summary.html", "/api/v1/patients/{id}/summary.pdf")
AS_OF = {"as_of": "2026-11-26"}


def with_summary_routes(app: FastAPI) -> FastAPI:
    """The lead includes the router in create_app; until then (or never twice) the test does."""
    if PATHS[0] not in app.openapi()["paths"]:
        app.include_router(router)
        app.openapi_schema = None  # built again with the new routes
    return app


class Api:
    def __init__(self, folder: Path) -> None:
        settings = Settings(
            db_url=f"sqlite:///{folder / 'registry.db'}",
            trials_db_url=f"sqlite:///{folder / 'trials.db'}",  # an empty store of its own, never the user's
            warm_trials=False,
            rate_per_second=0,
        )
        self.app = with_summary_routes(create_app(settings))
        self.client = TestClient(self.app)
        secret = self.app.state.service.registry.token_secret()
        self.dr = {"Authorization": f"Bearer {issue_token(secret, sub='dr', role='clinician')}"}
        self.admin = {"Authorization": f"Bearer {issue_token(secret, sub='root', role='admin')}"}
        r = self.client.post(
            "/api/v1/patients",
            content=FHIR_04.read_bytes(),
            headers={**self.dr, "content-type": "application/fhir+json"},
        )
        assert r.status_code == 201, r.text
        self.pid = r.json()["id"]
        r = self.client.post(
            "/api/v1/patients", content=CASE_10.read_bytes(), headers={**self.dr, "content-type": "application/yaml"}
        )
        self.other = r.json()["id"]
        self.patient = {"Authorization": f"Bearer {issue_token(secret, sub='pt', role='patient', patient=self.pid)}"}

    def audit(self) -> list[dict[str, Any]]:
        r = self.client.get("/api/v1/audit", params={"patient": self.pid, "limit": 1000}, headers=self.admin)
        return [e["resource"] for e in r.json()["entry"]]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    a = Api(tmp_path_factory.mktemp("summary-api"))
    with a.client:
        yield a


def test_routes_are_phi_routes_with_fhir_errors(api: Api) -> None:
    paths = api.app.openapi()["paths"]  # the route table as served (included routers too)
    assert set(PATHS) <= set(paths)
    for path in PATHS:
        assert set(paths[path]) == {"get"}
        op = paths[path]["get"]
        assert PHI_TAG in op["tags"]
        for code in ("400", "401", "403", "404", "429"):
            assert "application/fhir+json" in op["responses"][code]["content"]


def test_ips_document_of_a_stored_patient(api: Api) -> None:
    before = len(api.audit())
    r = api.client.get(f"/api/v1/patients/{api.pid}/summary", params=AS_OF, headers=api.dr)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert "no-store" in r.headers["cache-control"]
    doc = r.json()
    Bundle.model_validate(doc)
    assert doc["type"] == "document" and doc["entry"][0]["resource"]["resourceType"] == "Composition"
    urls = {e["fullUrl"] for e in doc["entry"]}
    assert set(references(doc)) <= urls
    codes = {s["code"]["coding"][0]["code"] for s in doc["entry"][0]["resource"]["section"]}
    assert codes >= {"11450-4", "10160-0", "48765-2", "30954-2", "47519-4", "11348-0", "18776-5"}
    # the record's own resources, found through the stored bundle: a brain metastasis Condition with its SNOMED code
    conditions = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Condition"]
    assert any(c["code"]["coding"][0].get("code") == "94225005" for c in conditions)
    plan = next(s for s in doc["entry"][0]["resource"]["section"] if s["code"]["coding"][0]["code"] == "18776-5")
    assert "not searched" in plan["text"]["div"]  # the service's trial store is empty
    events = api.audit()
    assert len(events) == before + 1
    assert events[0]["outcome"] == "0" and events[0]["entity"][0]["description"] == PATHS[0]


def test_html_for_the_clinician_and_the_patient(api: Api) -> None:
    r = api.client.get(f"/api/v1/patients/{api.pid}/summary.html", params=AS_OF, headers=api.dr)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "1. The disease now" in r.text and "data:image/svg+xml;base64," in r.text
    r = api.client.get(
        f"/api/v1/patients/{api.pid}/summary.html", params={**AS_OF, "audience": "patient"}, headers=api.patient
    )
    assert r.status_code == 200 and "Your breast cancer summary" in r.text
    events = api.audit()
    assert events[0]["outcome"] == "0" and events[0]["agent"][0]["who"]["identifier"]["value"] == "pt"


def test_pdf(api: Api) -> None:
    r = api.client.get(
        f"/api/v1/patients/{api.pid}/summary.pdf", params={**AS_OF, "audience": "patient"}, headers=api.dr
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert r.headers["content-disposition"].startswith("inline; filename=")


@pytest.mark.parametrize("path", PATHS)
def test_access_is_checked_and_audited(api: Api, path: str) -> None:
    url = path.replace("{id}", api.pid)
    before = len(api.audit())
    r = api.client.get(url, params=AS_OF)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    # a patient may read her own record only
    r = api.client.get(path.replace("{id}", api.other), params=AS_OF, headers=api.patient)
    assert r.status_code == 403
    r = api.client.get(path.replace("{id}", "no-such-patient"), params=AS_OF, headers=api.dr)
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = api.client.get(url, params={"as_of": "2999-01-01"}, headers=api.dr)
    assert r.status_code == 400 and "future" in r.json()["issue"][0]["diagnostics"]
    events = api.audit()
    assert len(events) == before + 2  # the refused read and the future date on this patient, each audited
    assert {e["outcome"] for e in events[:2]} == {"4"}
    if path != PATHS[0]:
        r = api.client.get(url, params={"audience": "family"}, headers=api.dr)
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
