"""CDS Hooks 2.0 (mbcnav.service.cds_hooks): discovery and cards validate against the CDS Hooks models (and the
spec's own examples do too), each card type, prefetch missing (read from a local fake FHIR server), a slow or failing
FHIR server (an answer in time with no card), trust (untrusted or expired JWT: 401) and the ehr role's limits."""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.condition import Condition

from mbcnav.service import cds_hooks
from mbcnav.service.app import create_app
from mbcnav.service.auth import issue_token
from mbcnav.service.cds_models import (
    HOOK_CONTEXTS,
    Card,
    CdsClient,
    CdsRequest,
    CdsResponse,
    Discovery,
    Feedback,
    HookContext,
    OverrideReasons,
    PrefetchData,
    PrefetchTemplate,
    StrictCdsResponse,
)
from mbcnav.service.registry import Registry
from mbcnav.service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_CDS = ROOT.parent / "shared" / "data" / "fhir" / "cds-hooks"
EXAMPLES = ROOT / "examples" / "fhir"
TODAY = date(2026, 11, 26)
PID = "ehr-123"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


@dataclass(frozen=True)
class CdsSettings(Settings):
    """Settings with the fields the CDS Hooks and SMART modules read (until Settings carries them)."""

    cds_issuers: tuple[CdsClient, ...] = ()
    cds_timeout: float = 2.0
    public_url: str | None = None
    smart_client_id: str | None = None
    smart_issuers: tuple[str, ...] = ()
    smart_scope: str | None = None


# ---- a local HTTP server (fake FHIR server, JWKS) ------------------------------------------------------------------
@dataclass
class FakeServer:
    """A tiny FHIR server on 127.0.0.1: reads and searches over `resources`, plus any JSON document at a path."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    documents: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    status: int = 200
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path in self.documents:
            return 200, self.documents[path]
        parts = [p for p in path.split("/") if p]
        if self.status != 200:
            return self.status, {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "exception"}],
            }
        if len(parts) == 2:
            found = next((r for r in self.resources if r["resourceType"] == parts[0] and r.get("id") == parts[1]), None)
            return (200, found) if found else (404, {"resourceType": "OperationOutcome", "issue": []})
        if len(parts) == 1:
            patient = query.get("patient", [""])[0]
            hits = [
                r
                for r in self.resources
                if r["resourceType"] == parts[0]
                and (r.get("subject") or r.get("patient") or {}).get("reference") in (f"Patient/{patient}", None)
            ]
            return 200, {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in hits]}
        return 404, {"resourceType": "OperationOutcome", "issue": []}

    def __enter__(self) -> FakeServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                split = urlsplit(self.path)
                owner.seen.append((self.path, self.headers.get("Authorization")))
                if owner.delay:
                    time.sleep(owner.delay)
                status, doc = owner.answer(split.path, parse_qs(split.query))
                data = json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


# ---- records the way EHRs send them --------------------------------------------------------------------------------
def _ref() -> dict[str, str]:
    return {"reference": f"Patient/{PID}"}


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PID,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-7781"}],
        "gender": "female",
        "birthDate": "1962-03-04",
    }


def condition(
    rid: str,
    system: str,
    code: str,
    display: str,
    *,
    category: str | None,
    status: str = "active",
    onset: str = "2024-02-20",
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        },
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": _ref(),
        "onsetDateTime": onset,
        **extra,
    }
    if category:
        res["category"] = [{"coding": [{"system": CATEGORY, "code": category}]}]
    return res


def med(rid: str, code: str | None, name: str, *, status: str = "active", start: str = "2024-03-11") -> dict[str, Any]:
    concept: dict[str, Any] = {"text": name}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": name}]
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": _ref(),
        "authoredOn": start,
    }


def record(*extra: dict[str, Any], regimen: tuple[dict[str, Any], ...] | None = None) -> list[dict[str, Any]]:
    """A woman with breast cancer (ICD-10-CM, on the problem list) and bone metastases coded only as an encounter
    diagnosis (SNOMED CT), on letrozole + palbociclib."""
    base = [
        patient(),
        condition(
            "dx-breast",
            ICD10CM,
            "C50.912",
            "Malignant neoplasm of unspecified site of left female breast",
            category="problem-list-item",
            onset="2021-05-10",
        ),
        condition(
            "dx-bone", SNOMED, "94222008", "Secondary malignant neoplasm of bone", category="encounter-diagnosis"
        ),
    ]
    drugs = (
        regimen
        if regimen is not None
        else (med("rx-letrozole", "72965", "letrozole"), med("rx-palbo", "1601374", "palbociclib"))
    )
    return base + list(drugs) + list(extra)


_TYPES = {
    "conditions": "Condition",
    "observations": "Observation",
    "medicationRequests": "MedicationRequest",
    "medicationStatements": "MedicationStatement",
    "medicationAdministrations": "MedicationAdministration",
    "procedures": "Procedure",
    "specimens": "Specimen",
}


def prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"patient": next(r for r in resources if r["resourceType"] == "Patient")}
    for key, rtype in _TYPES.items():
        hits = [r for r in resources if r["resourceType"] == rtype]
        out[key] = (
            {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in hits]} if hits else None
        )
    return out


def hook_request(hook: str, resources: list[dict[str, Any]] | None, **context: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/er-doc", "patientId": PID, **context},
    }
    if resources is not None:
        body["prefetch"] = prefetch(resources)
    return body


# ---- the app ---------------------------------------------------------------------------------------------------------
@dataclass
class Env:
    client: TestClient
    registry: Registry
    app: FastAPI

    def token(self, role: str = "ehr", sub: str = "ehr-system", patient: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {issue_token(self.registry.token_secret(), sub=sub, role=role, patient=patient)}"
        }

    def call(self, service: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return self.client.post(f"/cds-services/{service}", json=body, headers=headers or self.token())


def make_env(tmp_path: Path, **overrides: Any) -> Iterator[Env]:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    registry = Registry(url)
    values: dict[str, Any] = {
        "db_url": url,
        "trials_db_url": f"sqlite:///{tmp_path / 'trials.db'}",
        "rate_per_second": 0,
        "warm_trials": False,
        "today": TODAY,
    }
    values.update(overrides)
    app = create_app(CdsSettings(**values), registry=registry)
    app.include_router(cds_hooks.router)
    with TestClient(app) as client:
        yield Env(client, registry, app)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


def strict(doc: Any) -> list[dict[str, Any]]:
    """The response is a valid CDS Hooks response as mbcnav sends it (and as any client reads it)."""
    StrictCdsResponse.model_validate(doc)
    CdsResponse.model_validate(doc)
    for card in doc["cards"]:
        assert len(card["summary"]) <= 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]
        for s in card.get("suggestions", []):
            for action in s["actions"]:
                if action["type"] in ("create", "update"):
                    Condition.model_validate(action["resource"])
    cards: list[dict[str, Any]] = doc["cards"]
    return cards


# ---- models and the spec's examples --------------------------------------------------------------------------------
def _shared(name: str) -> Any:
    return json.loads((SHARED_CDS / name).read_text())


def test_discovery_validates_and_lists_three_services(env: Env) -> None:
    doc = env.client.get("/cds-services").json()
    Discovery.model_validate(doc)
    assert {(s["id"], s["hook"]) for s in doc["services"]} == {
        ("mbcnav-patient-view", "patient-view"),
        ("mbcnav-encounter-start", "encounter-start"),
        ("mbcnav-order-select", "order-select"),
    }
    for s in doc["services"]:
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert s["prefetch"]["conditions"] == "Condition?patient={{context.patientId}}"
        assert s["description"]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("spec-discovery-response.json", Discovery),
        ("spec-response-cards-example-1.json", CdsResponse),
        ("spec-response-cards-example-2.json", CdsResponse),
        ("spec-response-system-actions.json", CdsResponse),
        ("examples-radiology-response.json", CdsResponse),
        ("examples-cdc-opioid-card.json", Card),
        ("spec-hook-request-example.json", CdsRequest),
        ("examples-cdc-opioid-request.json", CdsRequest),
        ("examples-radiology-request.json", CdsRequest),
        ("spec-feedback-1.json", Feedback),
        ("spec-feedback-2.json", Feedback),
        ("spec-feedback-3.json", Feedback),
        ("spec-override-reasons.json", OverrideReasons),
        ("spec-prefetch-template.json", PrefetchTemplate),
        ("spec-prefetch-data-example.json", PrefetchData),
        ("hook-patient-view-context-1.json", HookContext),
        ("hook-patient-view-context-2.json", HookContext),
        ("hook-encounter-start-context.json", HookContext),
    ],
)
def test_the_specs_examples_validate(name: str, model: Any) -> None:
    model.model_validate(_shared(name))


def test_the_hook_contexts_validate_as_their_hooks() -> None:
    HOOK_CONTEXTS["patient-view"].model_validate(_shared("hook-patient-view-context-1.json")["context"])
    HOOK_CONTEXTS["patient-view"].model_validate(_shared("hook-patient-view-context-2.json")["context"])
    HOOK_CONTEXTS["encounter-start"].model_validate(_shared("hook-encounter-start-context.json")["context"])
    HOOK_CONTEXTS["order-select"].model_validate(_shared("examples-radiology-request.json")["context"])


def test_strict_card_refuses_what_mbcnav_must_not_send() -> None:
    good = {"uuid": "x", "summary": "s", "indicator": "info", "source": {"label": "l"}}
    StrictCdsResponse.model_validate({"cards": [good]})
    for bad in (
        {**good, "summary": "x" * 141},
        {**good, "indicator": "urgent"},
        {k: v for k, v in good.items() if k != "source"},
        {**good, "suggestions": [{"label": "a", "uuid": "u", "actions": [{"type": "create", "description": "d"}]}]},
    ):
        with pytest.raises(ValueError):
            StrictCdsResponse.model_validate({"cards": [bad]})


# ---- patient-view / encounter-start cards ------------------------------------------------------------------------
def test_patient_view_problem_list_gap_card(env: Env) -> None:
    r = env.call("mbcnav-patient-view", hook_request("patient-view", record()))
    assert r.status_code == 200
    cards = strict(r.json())
    gap = next(c for c in cards if "problem list" in c["summary"])
    assert gap["indicator"] == "warning"
    assert gap["summary"] == "Metastatic disease (bone) is not on the problem list"
    assert "mCODE" in gap["source"]["label"] and gap["source"]["url"].startswith("https://hl7.org/fhir/us/mcode/")
    suggestion = gap["suggestions"][0]
    assert gap["selectionBehavior"] == "any"
    action = suggestion["actions"][0]
    assert action["type"] == "create"
    codes = {(c["system"], c["code"]) for c in action["resource"]["code"]["coding"]}
    assert codes == {(SNOMED, "94222008"), (ICD10CM, "C79.51")}
    assert action["resource"]["subject"] == {"reference": f"Patient/{PID}"}
    assert gap["links"] == [
        {
            "label": "mbcnav: how these cards are made (API documentation)",
            "url": "http://testserver/docs",
            "type": "absolute",
        }
    ]


def test_red_flags_card_for_her_sites_and_drugs(env: Env) -> None:
    r = env.call("mbcnav-encounter-start", hook_request("encounter-start", record(), encounterId="enc-1"))
    cards = strict(r.json())
    flags = next(c for c in cards if "red flags" in c["summary"])
    assert flags["indicator"] == "warning"
    assert "bone" in flags["summary"] and "palbociclib" in flags["summary"]
    detail = flags["detail"]
    assert "spinal cord compression" in detail  # back pain / weakness with bone metastases
    assert "neutropenic sepsis" in detail  # fever on a myelosuppressive drug (palbociclib)
    assert "brain metastases" in detail and "calcium" in detail  # headache, vomiting, confusion
    assert "pneumonitis" in detail  # breathlessness on a CDK4/6 inhibitor
    assert "NICE" in detail
    assert flags["source"]["label"]


def test_no_red_flags_without_metastatic_disease(env: Env) -> None:
    early = [
        patient(),
        condition(
            "dx-breast", ICD10CM, "C50.912", "Malignant neoplasm of left female breast", category="problem-list-item"
        ),
    ]
    r = env.call("mbcnav-patient-view", hook_request("patient-view", early))
    assert strict(r.json()) == []


def test_resolved_primary_and_stale_stage_cards(env: Env) -> None:
    resources = record()
    resources[1]["clinicalStatus"]["coding"][0]["code"] = "resolved"
    resources[1]["stage"] = [{"summary": {"text": "Stage IIA"}}]
    resources[2]["category"][0]["coding"][0]["code"] = "problem-list-item"
    cards = strict(env.call("mbcnav-patient-view", hook_request("patient-view", resources)).json())
    summaries = {c["summary"]: c for c in cards}
    stale = summaries["Problem list stage is out of date: the breast cancer is now stage IV"]
    resolved = summaries["Breast cancer is recorded as resolved while metastatic disease is active"]
    assert stale["indicator"] == resolved["indicator"] == "info"
    assert stale["suggestions"][0]["actions"][0]["type"] == "update"
    assert resolved["suggestions"][0]["actions"][0]["resource"]["clinicalStatus"]["coding"][0]["code"] == "recurrence"
    assert "AJCC" in stale["source"]["label"]


def test_link_to_the_patient_page_when_she_is_in_the_registry(env: Env) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in record()]}
    created = env.client.post("/api/v1/patients", json=bundle, headers=env.token("clinician", "dr-onc"))
    assert created.status_code == 201
    rid = created.json()["id"]
    cards = strict(env.call("mbcnav-patient-view", hook_request("patient-view", record())).json())
    assert cards[0]["links"][0] == {
        "label": "Open the patient in mbcnav",
        "url": f"http://testserver/patients/{rid}",
        "type": "absolute",
    }
    events, _ = env.registry.audit_events(patient_id=rid)
    assert any(e["subtype"][0]["code"] == "operation" and e["outcome"] == "0" for e in events)


def test_every_example_patient_gives_valid_cards(env: Env) -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        bundle = json.loads(path.read_text())
        resources = [e["resource"] for e in bundle["entry"]]
        pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
        body = hook_request("patient-view", resources)
        body["context"]["patientId"] = pid
        cards = strict(env.call("mbcnav-patient-view", body).json())
        assert any("red flags" in c["summary"] for c in cards), path.name


# ---- order-select ---------------------------------------------------------------------------------------------------
def draft(rid: str, code: str | None, name: str) -> dict[str, Any]:
    return med(rid, code, name, status="draft", start="2026-11-26")


def order_select(
    env: Env, resources: list[dict[str, Any]], *drafts: dict[str, Any], selections: list[str] | None = None
) -> list[dict[str, Any]]:
    context = {
        "selections": selections if selections is not None else [f"MedicationRequest/{d['id']}" for d in drafts],
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in drafts]},
    }
    r = env.call("mbcnav-order-select", hook_request("order-select", resources, **context))
    assert r.status_code == 200, r.text
    return strict(r.json())


def test_strong_cyp3a_inhibitor_with_palbociclib(env: Env) -> None:
    cards = order_select(env, record(), draft("d1", None, "Clarithromycin 500 MG Oral Tablet"))
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Clarithromycin with palbociclib")
    assert "75 mg" in card["detail"] and "IBRANCE" in card["source"]["label"]
    assert card["source"]["url"].startswith("https://dailymed.nlm.nih.gov/")


def test_qt_prolonging_drug_with_ribociclib(env: Env) -> None:
    regimen = (med("rx-letrozole", "72965", "letrozole"), med("rx-ribo", "1873916", "ribociclib"))
    cards = order_select(env, record(regimen=regimen), draft("d1", None, "Ondansetron 8 mg IV"))
    assert [c["summary"] for c in cards] == [
        "Ondansetron with ribociclib: both prolong the QT interval (KISQALI label: avoid)"
    ]
    assert "ECG" in cards[0]["detail"]


def test_ribociclib_drafted_while_on_clarithromycin_is_checked_both_ways(env: Env) -> None:
    regimen = (med("rx-clari", None, "clarithromycin 500 mg twice daily"), med("rx-letrozole", "72965", "letrozole"))
    cards = order_select(env, record(regimen=regimen), draft("d1", "1873916", "ribociclib"))
    ids = {c["summary"].split(":")[0] for c in cards}
    assert ids == {"Ribociclib with clarithromycin"}
    assert {c["indicator"] for c in cards} == {"warning"}
    assert len(cards) == 2  # CYP3A (exposure) and QT, two label sections


def test_anthracycline_with_trastuzumab_is_critical_and_suggests_cancelling(env: Env) -> None:
    regimen = (med("rx-trast", "224905", "trastuzumab"), med("rx-pert", "1298944", "pertuzumab"))
    cards = order_select(env, record(regimen=regimen), draft("d1", "3639", "doxorubicin"))
    assert [c["indicator"] for c in cards] == ["critical"]  # one card, not one per direction
    card = cards[0]
    assert "trastuzumab" in card["summary"].lower()
    action = card["suggestions"][0]["actions"][0]
    assert action == {
        "type": "delete",
        "description": "Remove the draft MedicationRequest for doxorubicin",
        "resourceId": "MedicationRequest/d1",
    }
    assert card["selectionBehavior"] == "at-most-one"


def test_trastuzumab_drafted_with_an_anthracycline(env: Env) -> None:
    regimen = (med("rx-epi", "3995", "epirubicin"), med("rx-cyclo", "3002", "cyclophosphamide"))
    cards = order_select(env, record(regimen=regimen), draft("d1", "224905", "trastuzumab"))
    assert [c["summary"] for c in cards] == [
        "Trastuzumab with epirubicin: additive cardiomyopathy risk (doxorubicin and trastuzumab labels)"
    ]
    # both drafted together (an order set): the trastuzumab order carries the card
    both = order_select(env, record(), draft("d1", "224905", "trastuzumab"), draft("d2", "3639", "doxorubicin"))
    assert len(both) == 1 and "another order being drafted" in both[0]["detail"]


def test_anthracycline_with_low_lvef(env: Env) -> None:
    lvef = {
        "resourceType": "Observation",
        "id": "obs-lvef",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "10230-1"}]},
        "valueQuantity": {"value": 40, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
        "effectiveDateTime": "2026-10-01",
        "subject": _ref(),
    }
    cards = order_select(env, record(lvef), draft("d1", "3995", "epirubicin"))
    card = next(c for c in cards if "LVEF" in c["summary"])
    assert card["indicator"] == "warning" and "LVEF 40%" in card["detail"]


def test_live_vaccine_during_chemotherapy(env: Env) -> None:
    regimen = (med("rx-pac", "56946", "paclitaxel"),)
    cards = order_select(env, record(regimen=regimen), draft("d1", None, "Zostavax (zoster vaccine live)"))
    assert [c["indicator"] for c in cards] == ["critical"]
    assert "IDSA" in cards[0]["summary"] and cards[0]["source"]["url"] == "https://doi.org/10.1093/cid/cit684"
    # the recombinant (non-live) zoster vaccine is fine
    assert order_select(env, record(regimen=regimen), draft("d2", None, "Shingrix (zoster vaccine recombinant)")) == []


def test_tdxd_with_ild_history(env: Env) -> None:
    ild = condition(
        "dx-ild", SNOMED, "233703007", "Interstitial lung disease", category="problem-list-item", onset="2023-01-01"
    )
    cards = order_select(env, record(ild), draft("d1", "2267582", "trastuzumab deruxtecan"))
    card = next(c for c in cards if "interstitial" in c["summary"].lower())
    assert card["indicator"] == "warning" and "ENHERTU" in card["source"]["label"]


def test_selections_limit_what_is_checked_and_unrelated_drafts_give_no_card(env: Env) -> None:
    clari = draft("d1", None, "clarithromycin")
    para = draft("d2", None, "paracetamol 1 g")
    assert order_select(env, record(), clari, para, selections=["MedicationRequest/d2"]) == []
    assert len(order_select(env, record(), clari, para, selections=["MedicationRequest/d1"])) == 1


# ---- prefetch missing: the EHR's FHIR server -----------------------------------------------------------------------
def test_missing_prefetch_is_read_from_the_fhir_server(env: Env) -> None:
    with FakeServer(resources=record()) as fhir:
        body = hook_request("patient-view", None)
        body["fhirServer"] = fhir.url
        body["fhirAuthorization"] = {
            "access_token": "opaque-ehr-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Condition.rs user/Patient.r",
            "subject": "mbcnav",
        }
        cards = strict(env.call("mbcnav-patient-view", body).json())
    assert any(c["summary"] == "Metastatic disease (bone) is not on the problem list" for c in cards)
    paths = {p.split("?")[0] for p, _ in fhir.seen}
    assert {"/Patient/ehr-123", "/Condition", "/Observation", "/MedicationRequest"} <= paths
    assert {auth for _, auth in fhir.seen} == {"Bearer opaque-ehr-token"}


def test_partial_prefetch_reads_only_the_missing_keys(env: Env) -> None:
    with FakeServer(resources=record()) as fhir:
        body = hook_request("patient-view", record())
        del body["prefetch"]["conditions"]
        body["fhirServer"] = fhir.url
        strict(env.call("mbcnav-patient-view", body).json())
    assert [p.split("?")[0] for p, _ in fhir.seen] == ["/Condition"]


@pytest.mark.parametrize("problem", ["slow", "failing", "unreachable"])
def test_slow_or_failing_fhir_server_answers_in_time_with_no_card(tmp_path: Path, problem: str) -> None:
    for env in make_env(tmp_path, cds_timeout=0.5):
        with FakeServer(
            resources=record(), delay=3.0 if problem == "slow" else 0.0, status=500 if problem == "failing" else 200
        ) as fhir:
            body = hook_request("patient-view", None)
            body["fhirServer"] = fhir.url if problem != "unreachable" else "http://127.0.0.1:9"
            started = time.perf_counter()
            r = env.call("mbcnav-patient-view", body)
            elapsed = time.perf_counter() - started
        assert r.status_code == 200 and r.json() == {"cards": []}
        assert elapsed < 2.0
        events, _ = env.registry.audit_events(subject="ehr-system")
        assert events[0]["outcome"] == "4" and "FHIR server" in events[0]["outcomeDesc"]


def test_no_prefetch_and_no_fhir_server_gives_no_card(env: Env) -> None:
    r = env.call("mbcnav-patient-view", hook_request("patient-view", None))
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_prefetch_null_means_the_ehr_found_nothing(env: Env) -> None:
    body = hook_request("patient-view", [patient()])
    assert all(body["prefetch"][k] is None for k in _TYPES)
    r = env.call("mbcnav-patient-view", body)
    assert r.status_code == 200 and strict(r.json()) == []


# ---- trust ----------------------------------------------------------------------------------------------------------
@dataclass
class Ehr:
    """An EHR with its own signing key, its JWKS served on 127.0.0.1."""

    issuer: str
    key: Any
    kid: str
    alg: str

    def jwt(self, audience: str, *, lifetime: int = 300, iat: int | None = None, jti: str | None = None) -> str:
        now = int(time.time()) if iat is None else iat
        claims = {
            "iss": self.issuer,
            "sub": "epic-client-1",
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti or str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.key, algorithm=self.alg, headers={"kid": self.kid})


def _jwks(*ehrs: Ehr) -> dict[str, Any]:
    keys = []
    for e in ehrs:
        algo: Any = jwt.algorithms.RSAAlgorithm if e.alg.startswith("RS") else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algo.to_jwk(e.key.public_key()))
        keys.append({**jwk, "kid": e.kid, "alg": e.alg, "use": "sig"})
    return {"keys": keys}


@pytest.fixture
def trusted(tmp_path: Path) -> Iterator[tuple[Env, Ehr, Ehr]]:
    rs = Ehr("https://ehr.example.org", rsa.generate_private_key(public_exponent=65537, key_size=2048), "rs1", "RS384")
    es = Ehr("https://other-ehr.example.org", ec.generate_private_key(ec.SECP384R1()), "es1", "ES384")
    with FakeServer() as keys:
        keys.documents["/rs/jwks.json"] = _jwks(rs)
        keys.documents["/es/jwks.json"] = _jwks(es)
        clients = (
            CdsClient(rs.issuer, f"{keys.url}/rs/jwks.json"),
            CdsClient(es.issuer, f"{keys.url}/es/jwks.json", audience="https://mbcnav.example.org/cds-services"),
        )
        for env in make_env(tmp_path, cds_issuers=clients):
            yield env, rs, es


SERVICE_URL = "http://testserver/cds-services/mbcnav-patient-view"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_trusted_ehr_jwt_rs384_and_es384(trusted: tuple[Env, Ehr, Ehr]) -> None:
    env, rs, es = trusted
    body = hook_request("patient-view", record())
    assert env.call("mbcnav-patient-view", body, _bearer(rs.jwt(SERVICE_URL))).status_code == 200
    # behind a proxy: the EHR calls the public URL, configured as the client's audience base
    public = "https://mbcnav.example.org/cds-services/mbcnav-patient-view"
    assert env.call("mbcnav-patient-view", body, _bearer(es.jwt(public))).status_code == 200
    users = {u["subject"]: u["role"] for u in env.registry.users()}
    assert users["epic-client-1"] == "ehr"


def test_untrusted_or_expired_jwt_is_401(trusted: tuple[Env, Ehr, Ehr]) -> None:
    env, rs, _ = trusted
    body = hook_request("patient-view", record())
    stranger = Ehr(
        "https://unknown-ehr.example.org", rsa.generate_private_key(public_exponent=65537, key_size=2048), "x1", "RS384"
    )
    impostor = Ehr(rs.issuer, rsa.generate_private_key(public_exponent=65537, key_size=2048), "rs1", "RS384")
    cases = {
        "unknown issuer": stranger.jwt(SERVICE_URL),
        "wrong key": impostor.jwt(SERVICE_URL),
        "expired": rs.jwt(SERVICE_URL, iat=int(time.time()) - 1000, lifetime=300),
        "wrong audience": rs.jwt("https://elsewhere.example.org/cds-services/mbcnav-patient-view"),
        "lives too long": rs.jwt(SERVICE_URL, lifetime=24 * 3600),
        "not a JWT": "opaque",
    }
    for why, token in cases.items():
        r = env.call("mbcnav-patient-view", body, _bearer(token))
        assert r.status_code == 401, why
        assert r.json()["resourceType"] == "OperationOutcome"
    assert env.client.post("/cds-services/mbcnav-patient-view", json=body).status_code == 401
    expired = issue_token(env.registry.token_secret(), sub="ehr-x", role="ehr", hours=1)
    payload = jwt.decode(expired, options={"verify_signature": False})
    payload.update(iat=payload["iat"] - 7200, nbf=payload["nbf"] - 7200, exp=payload["exp"] - 7200)
    stale = jwt.encode(payload, env.registry.token_secret(), algorithm="HS256")
    assert env.call("mbcnav-patient-view", body, _bearer(stale)).status_code == 401


def test_a_replayed_jti_is_refused(trusted: tuple[Env, Ehr, Ehr]) -> None:
    env, rs, _ = trusted
    token = rs.jwt(SERVICE_URL, jti="once-only")
    body = hook_request("patient-view", record())
    assert env.call("mbcnav-patient-view", body, _bearer(token)).status_code == 200
    assert env.call("mbcnav-patient-view", body, _bearer(token)).status_code == 401


def test_a_revoked_ehr_is_refused(env: Env) -> None:
    body = hook_request("patient-view", record())
    assert env.call("mbcnav-patient-view", body).status_code == 200
    env.client.post("/api/v1/admin/users/ehr-system/revoke", headers=env.token("admin", "root"))
    assert env.call("mbcnav-patient-view", body).status_code == 401


# ---- the ehr role's limits -----------------------------------------------------------------------------------------
def test_ehr_role_may_call_cds_services_only(env: Env) -> None:
    ehr = env.token("ehr")
    assert env.client.get("/api/v1/patients", headers=ehr).status_code == 403
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in record()]}
    assert env.client.post("/api/v1/patients", json=bundle, headers=ehr).status_code == 403
    assert env.client.get("/api/v1/audit", headers=ehr).status_code == 403
    body = hook_request("patient-view", record())
    for role in ("clinician", "admin"):
        r = env.call("mbcnav-patient-view", body, env.token(role, f"user-{role}"))
        assert r.status_code == 403, role
        assert r.json()["resourceType"] == "OperationOutcome"
    patient_token = env.token("patient", "pat", patient="whatever")
    assert env.call("mbcnav-patient-view", body, patient_token).status_code == 403
    refused, _ = env.registry.audit_events(subject="user-clinician")
    assert refused and refused[0]["outcome"] == "4"


# ---- requests the service refuses, feedback -----------------------------------------------------------------------
def test_bad_requests(env: Env) -> None:
    body = hook_request("patient-view", record())
    assert env.call("mbcnav-order-select", body).status_code == 400  # wrong hook for the service
    assert env.call("no-such-service", body).status_code == 404
    broken = copy.deepcopy(body)
    del broken["hookInstance"]
    r = env.call("mbcnav-patient-view", broken)
    assert r.status_code == 400 and r.json()["issue"]
    start = hook_request("encounter-start", record())  # encounter-start needs encounterId
    assert env.call("mbcnav-encounter-start", start).status_code == 400
    r = env.client.post("/cds-services/mbcnav-patient-view", content=b"{not json", headers=env.token())
    assert r.status_code == 400


def test_an_unreadable_record_gives_no_card(env: Env) -> None:
    body = hook_request("patient-view", record())
    body["prefetch"]["conditions"]["entry"][0]["resource"]["clinicalStatus"] = "active"  # STU3 shape: unusable
    r = env.call("mbcnav-patient-view", body)
    assert r.status_code == 200 and r.json() == {"cards": []}


@pytest.mark.parametrize("name", ["spec-feedback-1.json", "spec-feedback-2.json", "spec-feedback-3.json"])
def test_feedback(env: Env, name: str) -> None:
    r = env.client.post("/cds-services/mbcnav-patient-view/feedback", json=_shared(name), headers=env.token())
    assert r.status_code == 200 and r.json() == {"received": 1}
    events, _ = env.registry.audit_events(subject="ehr-system")
    detail = {d["type"]: d["valueString"] for d in events[0]["entity"][0]["detail"]}
    assert detail["card"] == _shared(name)["feedback"][0]["card"]
    assert "userComment" not in json.dumps(events[0])
    assert (
        env.client.post(
            "/cds-services/mbcnav-patient-view/feedback", json={"feedback": []}, headers=env.token()
        ).status_code
        == 400
    )
    assert env.client.post("/cds-services/mbcnav-patient-view/feedback", json=_shared(name)).status_code == 401


def test_cards_are_stable_for_the_same_chart(env: Env) -> None:
    first = env.call("mbcnav-patient-view", hook_request("patient-view", record())).json()
    second = env.call("mbcnav-patient-view", hook_request("patient-view", record())).json()
    assert [c["uuid"] for c in first["cards"]] == [c["uuid"] for c in second["cards"]]


# ---- the interaction knowledge ------------------------------------------------------------------------------------
def test_interactions_knowledge_is_clean_and_cited() -> None:
    from mbcnav.assess.facts import is_known_fact
    from mbcnav.knowledge.interactions import drug_matcher, interactions_kb, lint, load_unchecked
    from mbcnav.knowledge.kb import load_unchecked as load_kb

    kb = load_kb()
    assert lint(load_unchecked(), kb.evidence, is_known_fact) == []
    cited = {s.evidence for ix in interactions_kb().interactions for s in ix.sources}
    assert cited <= set(kb.guidelines) | set(kb.trials)
    for ix in interactions_kb().interactions:
        assert all(s.url is None or s.url.startswith("https://") for s in ix.sources)
    m = drug_matcher()
    # one matcher: catalogue drugs by RxNorm code or name, other drugs by name and synonyms
    assert m.match({"coding": [{"system": RXNORM, "code": "1601374"}]}) == ["palbociclib"]
    assert m.match({"text": "Paxlovid 300 mg-100 mg"}) == ["ritonavir"]
    assert m.match({"text": "Shingrix"}) == [] and m.match({"text": "Shingles vaccine recombinant"}) == []


def test_interactions_lint_finds_problems() -> None:
    from mbcnav.assess.facts import is_known_fact
    from mbcnav.knowledge.interactions import lint, load_unchecked
    from mbcnav.knowledge.kb import load_unchecked as load_kb

    doc = load_unchecked()
    doc["interactions"][0]["sources"][0]["evidence"] = "no-such-label"
    doc["interactions"][1]["pair"][0] = {"drugs": ["unobtainium"]}
    doc["agents"].append({"name": "letrozole", "classes": ["qt_prolonging"], "synonyms": []})
    problems = lint(doc, load_kb().evidence, is_known_fact)
    assert any("no-such-label" in p for p in problems)
    assert any("unobtainium" in p for p in problems)
    assert any("drug catalogue name" in p for p in problems)


def test_red_flags_follow_her_drugs(env: Env) -> None:
    """T-DXd: breathlessness or cough -> possible ILD (the triage rule ild-tdxd of knowledge/triage.yaml)."""
    regimen = (med("rx-tdxd", "2267582", "trastuzumab deruxtecan"),)
    cards = strict(env.call("mbcnav-patient-view", hook_request("patient-view", record(regimen=regimen))).json())
    flags = next(c for c in cards if "red flags" in c["summary"])
    assert "interstitial lung disease" in flags["detail"]
    assert "on a CDK4/6 inhibitor" not in flags["detail"]  # the CDK4/6 pneumonitis rule is not hers


def test_duplicate_site_and_missing_primary_cards(env: Env) -> None:
    resources = record()
    resources[1].pop("category")  # the breast cancer is not on the problem list
    resources[2]["category"][0]["coding"][0]["code"] = "problem-list-item"
    resources.append(
        condition(
            "dx-bone-icd", ICD10CM, "C79.51", "Secondary malignant neoplasm of bone", category="problem-list-item"
        )
    )
    cards = strict(env.call("mbcnav-patient-view", hook_request("patient-view", resources)).json())
    summaries = [c["summary"] for c in cards]
    assert "Metastatic breast cancer: the primary breast cancer is not on the problem list" in summaries
    dup = next(c for c in cards if "twice" in c["summary"])
    assert dup["indicator"] == "info" and dup["suggestions"][0]["actions"][0]["type"] == "update"
    primary = next(c for c in cards if "primary breast cancer" in c["summary"])
    created = primary["suggestions"][0]["actions"][0]["resource"]
    assert {c["code"] for c in created["code"]["coding"]} == {"254837009", "C50.912"}
