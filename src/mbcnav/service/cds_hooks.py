"""CDS Hooks 2.0 services (https://cds-hooks.hl7.org/2.0/): cards for every clinician who sees the patient.

- `GET /cds-services` — discovery: mbcnav-patient-view (patient-view), mbcnav-encounter-start (encounter-start),
  mbcnav-order-select (order-select), each with its prefetch templates.
- `POST /cds-services/{id}` — the cards. The patient data is the EHR's: the prefetch, or what the service reads from
  `fhirServer` with `fhirAuthorization` when a prefetch key is missing (a short time budget). It is read with the
  normal record reader and evaluated with mbcnav.pathway.evaluate — never the registry's copy. A slow or failing
  FHIR server, or a record that cannot be read, gives an answer in time with no card (`{"cards": []}`), never an
  error page for the EHR.
- `POST /cds-services/{id}/feedback` — what the clinician did with a card, kept as an AuditEvent.

Trust (CDS Hooks 2.0, "Trusting CDS Clients"): the EHR's JWT in `Authorization: Bearer`, signed by an issuer of the
allow-list (`Settings.cds_issuers`, each with its JWKS URL; `aud` is the service's URL, `jti` is not replayed), or a
token of mbcnav's embedded issuer (or its OpenID Connect issuer) with the role `ehr`. Anything else is 401; a valid
token of another role is 403. The `ehr` role may call these services only (the patient API refuses it). Each call
that reads patient data is audited (who, which service, which patient, outcome)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
import jwt
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import bindparam, text

from mbcnav.chart.cards import RedFlag, evidence_label, interaction_cards, problem_list_cards, red_flag_card
from mbcnav.chart.interactions import check_draft_orders, current_drugs
from mbcnav.chart.problems import check_problem_list, site_label
from mbcnav.record.inputs import Located, UnusableInput, flatten
from mbcnav.service.audit import Outcome, audit_event
from mbcnav.service.auth import AuthError, Principal
from mbcnav.service.cds_models import (
    HOOK_CONTEXTS,
    CdsClient,
    CdsRequest,
    Discovery,
    Feedback,
    StrictCdsResponse,
)
from mbcnav.service.context import bearer, route_template, service
from mbcnav.service.errors import ApiError, error_responses
from mbcnav.service.records import identity_keys

if TYPE_CHECKING:
    from mbcnav.pathway import Evaluation
    from mbcnav.service.context import Service
    from mbcnav.service.registry import Registry

log = logging.getLogger("mbcnav.service")
CDS_TAG = "CDS Hooks"
router = APIRouter(tags=[CDS_TAG])

DEFAULT_TIMEOUT = 2.0  # seconds for everything read from the EHR's FHIR server (Settings.cds_timeout)
MAX_PAGES = 5  # pages of one search followed (`next` links on the same server)
_MAX_BODY = 10 * 1024 * 1024
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384"]  # the spec: ES384, RS384
MAX_JWT_LIFETIME = 3600  # seconds between iat and exp a CDS client token may span (the spec recommends 5 minutes)

# ---- discovery ------------------------------------------------------------------------------------------------------
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "specimens": "Specimen?patient={{context.patientId}}",
}
_USAGE = (
    "Reads the patient's conditions, observations, medicines, procedures and specimens (prefetch, or the FHIR server "
    "with fhirAuthorization, e.g. user/Condition.rs user/Observation.rs user/MedicationRequest.rs). The caller's JWT "
    "must come from an issuer mbcnav trusts (docs/cds-hooks.md). Decision support, not a decision."
)
SERVICES: list[dict[str, Any]] = [
    {
        "hook": "patient-view",
        "id": "mbcnav-patient-view",
        "title": "Metastatic breast cancer: problem list and red flags",
        "description": "For a patient with metastatic breast cancer: metastatic disease missing from the problem list "
        "(with the mCODE Condition to add), a stale stage or a resolved breast cancer, and the red flags that matter "
        "for her metastatic sites and drugs (spinal cord compression, brain metastases, hypercalcaemia, pneumonitis, "
        "neutropenic sepsis), each with its cited urgent action.",
        "prefetch": PREFETCH,
        "usageRequirements": _USAGE,
    },
    {
        "hook": "encounter-start",
        "id": "mbcnav-encounter-start",
        "title": "Metastatic breast cancer: what this encounter must not miss",
        "description": "At the start of an encounter (emergency department, primary care, another specialty): the same "
        "problem-list checks and red flags as mbcnav-patient-view.",
        "prefetch": PREFETCH,
        "usageRequirements": _USAGE,
    },
    {
        "hook": "order-select",
        "id": "mbcnav-order-select",
        "title": "Metastatic breast cancer: interactions of a drafted medicine",
        "description": "A drafted MedicationRequest (context.draftOrders) against her current anticancer regimen and "
        "record: anthracyclines with trastuzumab or a low LVEF, QT-prolonging drugs or strong CYP3A inhibitors with "
        "CDK4/6 inhibitors, live vaccines during chemotherapy, trastuzumab deruxtecan with a history of ILD - each "
        "citing the label section or guideline.",
        "prefetch": PREFETCH,
        "usageRequirements": _USAGE,
    },
]
_BY_ID = {s["id"]: s for s in SERVICES}


@router.get(
    "/cds-services",
    summary="CDS Hooks discovery: the services, their hooks and prefetch templates (no patient data)",
    response_model=Discovery,
)
def discovery() -> dict[str, Any]:
    return {"services": SERVICES}


# ---- trust ----------------------------------------------------------------------------------------------------------
class CdsTrust:
    """Verifies the JWT of a CDS client of the allow-list: signature by the issuer's JWKS, `aud` = the service URL,
    `exp`/`iat`, and a `jti` never seen before (replay)."""

    def __init__(self) -> None:
        self._jwks: dict[str, jwt.PyJWKClient] = {}
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def _client(self, c: CdsClient) -> jwt.PyJWKClient:
        with self._lock:
            found = self._jwks.get(c.jwks_url)
            if found is None:
                found = self._jwks[c.jwks_url] = jwt.PyJWKClient(c.jwks_url, cache_keys=True, lifespan=3600, timeout=5)
            return found

    def _replayed(self, jti: str, exp: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) > 50_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            if jti in self._seen and self._seen[jti] > now:
                return True
            self._seen[jti] = exp + 60
        return False

    def verify(self, token: str, client: CdsClient, audiences: list[str]) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("the token is not a JWT") from None
        if header.get("alg") not in JWT_ALGORITHMS:
            raise AuthError("the token's algorithm is not accepted")
        jku = header.get("jku")
        if jku is not None and jku != client.jwks_url:
            raise AuthError("the token's jku is not the issuer's JWKS URL")
        try:
            key = self._client(client).get_signing_key_from_jwt(token).key
        except jwt.PyJWTError as exc:
            raise AuthError(f"the issuer's signing key cannot be found ({type(exc).__name__})") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=JWT_ALGORITHMS,
                issuer=client.issuer,
                audience=audiences,
                leeway=30,
                options={"require": ["exp", "iat", "iss", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"the token is not valid ({type(exc).__name__})") from None
        if float(claims["exp"]) - float(claims["iat"]) > MAX_JWT_LIFETIME:
            raise AuthError("the token lives too long for a CDS client token")
        if self._replayed(str(claims["jti"]), float(claims["exp"])):
            raise AuthError("the token was already used (jti replay)")
        sub = claims.get("sub")
        return Principal(str(sub) if isinstance(sub, str) and sub else client.issuer, "ehr", None, client.issuer)


_TRUST = CdsTrust()


def cds_clients(svc: Service) -> tuple[CdsClient, ...]:
    """The trusted CDS clients (`Settings.cds_issuers`)."""
    clients = getattr(svc.settings, "cds_issuers", ()) or ()
    return tuple(c for c in clients if isinstance(c, CdsClient))


def _audiences(request: Request, svc: Service, service_id: str, client: CdsClient) -> list[str]:
    own = str(request.url).split("?")[0].rstrip("/")
    out = [own]
    public = getattr(svc.settings, "public_url", None)
    if isinstance(public, str) and public:
        out.append(f"{public.rstrip('/')}/cds-services/{service_id}")
    if client.audience:
        base = client.audience.rstrip("/")
        out += [f"{base}/{service_id}", base]
    return out


def authenticate_cds(request: Request, service_id: str) -> Principal:
    """Who is calling: a trusted CDS client (by its issuer's JWKS), else a token of mbcnav's own issuers. 401 when
    there is no token or it is not trusted; a revoked subject is refused as well."""
    svc = service(request)
    token = bearer(request)
    if not token:
        raise AuthError("a CDS client sends 'Authorization: Bearer <JWT>' (CDS Hooks 2.0, Trusting CDS Clients)")
    try:
        iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise AuthError("the token is not a JWT") from None
    client = next((c for c in cds_clients(svc) if c.issuer == iss), None)
    if client is not None:
        principal = _TRUST.verify(token, client, _audiences(request, svc, service_id, client))
    else:
        principal = svc.verifier.verify(token)
    if not _still_allowed(svc, principal):
        raise AuthError("this user's access has been revoked")
    request.state.principal = principal
    return principal


_SEEN: dict[tuple[int, str, str], float] = {}
SEEN_SECONDS = 60.0  # the user list is written at most once a minute per caller (Registry.seen does the same)


def _still_allowed(svc: Service, principal: Principal) -> bool:
    """Not revoked, and noted in the user list: a write once a minute per caller, a read otherwise (an EHR calls
    many times a second; each write would queue behind the audit writes on SQLite)."""
    key = (id(svc), principal.subject, principal.role)
    now = time.monotonic()
    last = _SEEN.get(key)
    if last is not None and now - last < SEEN_SECONDS:
        return not svc.registry.revoked(principal.subject)
    allowed = svc.registry.seen(principal.subject, principal.role)
    if allowed:
        if len(_SEEN) > 10_000:
            _SEEN.clear()
        _SEEN[key] = now
    return allowed


# ---- the EHR's data -------------------------------------------------------------------------------------------------
class FhirUnavailable(Exception):
    """The EHR's FHIR server was needed and did not answer usefully in time."""


def _fill(template: str, context: dict[str, Any]) -> str:
    out = template
    for key, value in context.items():
        if isinstance(value, str):
            out = out.replace("{{context." + key + "}}", quote(value, safe=""))
    return out


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """One read or search (following `next` on the same server), as a list of resources."""
    host = urlsplit(url).netloc
    out: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        response = await client.get(url, headers=headers)
        if response.status_code == 404 and "?" not in url:
            return out  # a read of a resource that does not exist
        if response.status_code != 200:
            raise FhirUnavailable(f"the FHIR server answered {response.status_code}")
        try:
            doc = response.json()
        except ValueError:
            raise FhirUnavailable("the FHIR server did not answer JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
            raise FhirUnavailable("the FHIR server did not answer a FHIR resource")
        if doc["resourceType"] == "OperationOutcome":
            raise FhirUnavailable("the FHIR server answered an OperationOutcome")
        out.append(doc)
        nxt = next(
            (x.get("url") for x in doc.get("link") or [] if isinstance(x, dict) and x.get("relation") == "next"), None
        )
        if doc["resourceType"] != "Bundle" or not isinstance(nxt, str) or urlsplit(nxt).netloc != host:
            return out
        url = nxt
    return out


async def gather_resources(req: CdsRequest, timeout: float) -> list[Located]:
    """The patient's resources: each prefetch key as sent (null = the EHR found nothing), the missing ones read from
    `fhirServer`. FhirUnavailable when a key is missing and cannot be read in time."""
    prefetch = req.prefetch or {}
    located: list[Located] = []
    for key in PREFETCH:
        value = prefetch.get(key)
        if isinstance(value, dict):
            located += flatten(value, f"prefetch.{key}:")
    missing = [k for k in PREFETCH if k not in prefetch]
    if not missing:
        return located
    if not req.fhirServer:
        raise FhirUnavailable(f"prefetch {', '.join(missing)} missing and no fhirServer to read it from")
    base = req.fhirServer.rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        raise FhirUnavailable("fhirServer is not an http(s) URL")
    headers = {"Accept": "application/fhir+json"}
    if req.fhirAuthorization is not None:
        headers["Authorization"] = f"Bearer {req.fhirAuthorization.access_token}"
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
        tasks = [_get(client, f"{base}/{_fill(PREFETCH[k], req.context)}", headers) for k in missing]
        try:
            results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=timeout)
        except TimeoutError:
            raise FhirUnavailable(f"the FHIR server did not answer within {timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise FhirUnavailable(f"the FHIR server cannot be read ({type(exc).__name__})") from None
    for key, docs in zip(missing, results, strict=True):
        for n, doc in enumerate(docs):
            located += flatten(doc, f"fhir.{key}[{n}]:")
    return located


# ---- evaluation (cached per content: an EHR calls patient-view again and again for the same chart) ---------------
_CACHE: OrderedDict[str, Evaluation] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 256


def _content_key(located: Sequence[Located], pid: str, today: date) -> str:
    digest = hashlib.sha256()
    digest.update(f"{pid}|{today.isoformat()}|".encode())
    for item in sorted(json.dumps(x.resource, sort_keys=True, separators=(",", ":")) for x in located):
        digest.update(item.encode())
    return digest.hexdigest()


def evaluate_ehr_record(located: Sequence[Located], pid: str, today: date) -> Evaluation:
    """The EHR's record of one patient, read with the normal reader and evaluated as of `today`."""
    from mbcnav.pathway import evaluate
    from mbcnav.record.fhir import record_from_resources

    key = _content_key(located, pid, today)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    has_patient = any(x.resource.get("resourceType") == "Patient" and x.resource.get("id") == pid for x in located)
    record = record_from_resources(list(located), today=today, patient_id=pid if has_patient else None)
    ev = evaluate(record, as_of=today)
    with _CACHE_LOCK:
        _CACHE[key] = ev
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ev


# ---- red flags (from the triage rules of mbcnav.monitoring) --------------------------------------------------------
def _evidence_url(evidence_id: str) -> str | None:
    from mbcnav.knowledge.kb import knowledge_base

    kb = knowledge_base()
    entry = kb.guidelines.get(evidence_id) or kb.trials.get(evidence_id) or {}
    if entry.get("doi"):
        return f"https://doi.org/{entry['doi']}"
    if entry.get("pmid"):
        return f"https://pubmed.ncbi.nlm.nih.gov/{entry['pmid']}/"
    seen = str(entry.get("seen_at") or "")
    for word in seen.split():  # where it was seen: linked only when that is the publisher itself
        host = urlsplit(word.rstrip(";,)")).netloc
        if word.startswith("https://") and host.endswith(_PUBLISHERS):
            return word.rstrip(";,)")
    return None


_PUBLISHERS = ("nice.org.uk", "doi.org", "nih.gov", "fda.gov", "hl7.org", "esmo.org", "asco.org", "who.int", "cdc.gov")


def _possible(cond: dict[str, Any], sites: frozenset[str], groups: frozenset[str], why: list[str]) -> bool | None:
    """Would the rule fire if she had the symptoms it asks about? Symptom questions count as present; her sites
    and drug groups are read as they are. `why` collects the sites and groups that made it hold."""
    if "all" in cond:
        parts = [_possible(c, sites, groups, why) for c in cond["all"]]
        return False if False in parts else (None if None in parts else True)
    if "any" in cond:
        parts = [_possible(c, sites, groups, why) for c in cond["any"]]
        return True if True in parts else (None if None in parts else False)
    if "not" in cond:
        inner = _possible(cond["not"], sites, groups, [])
        return None if inner is None else not inner
    if "group" in cond:
        held = cond["group"] in groups
        if held:
            why.append(f"group:{cond['group']}")
        return held
    if "site" in cond:
        wanted = cond["site"] if isinstance(cond["site"], list) else [cond["site"]]
        found = [s for s in wanted if s in sites]
        why += [f"site:{s}" for s in found]
        return bool(found)
    return True  # a symptom question: assumed answered "yes"


def red_flags(ev: Evaluation) -> list[RedFlag]:
    """The triage rules (knowledge/triage.yaml, mbcnav.monitoring.triage) that matter for this patient, read for the
    clinician: the rules whose reason names a complication ("possible ..."), when they are emergencies or when her
    sites or drugs make them apply. The rules are the monitoring module's, not a copy."""
    from mbcnav.knowledge.kb import triage_kb
    from mbcnav.monitoring.triage import patient_facts

    tri = triage_kb()
    facts = patient_facts(ev.assessment, tri)
    urgency = {"emergency": "Emergency", "same_day": "Same day"}
    out: list[RedFlag] = []
    for rule in tri.rules:
        if rule.level not in urgency:
            continue
        why: list[str] = []
        if _possible(rule.when, facts.sites, facts.groups, why) is not True:
            continue
        reason = " ".join(rule.reason.split())
        if "possible" not in reason.lower():
            continue  # a rule that names no complication (a grade of a side effect) is not a red flag for others
        if not why and rule.level != "emergency":
            continue  # same-day rules only where her sites or drugs make them apply
        symptoms, _, meaning = reason.partition(" - ")
        labels = []
        for w in dict.fromkeys(why):
            kind, _, name = w.partition(":")
            labels.append(
                f"{site_label(name)} metastases"
                if kind == "site"
                else tri.groups[name].label
                if name in tri.groups
                else name
            )
        out.append(
            RedFlag(
                symptoms=symptoms.rstrip("."),
                meaning=(meaning or "needs assessment").rstrip("."),
                urgency=urgency[rule.level],
                action=" ".join(tri.tool.mapping.get(rule.level, "").split()) or urgency[rule.level],
                sources=tuple(
                    {"label": evidence_label(s), **({"url": u} if (u := _evidence_url(s)) else {})}
                    for s in rule.sources
                ),
                why_her="(" + "; ".join(labels) + ")" if labels else "",
            )
        )
    rank = {"Emergency": 0, "Same day": 1}
    return sorted(out, key=lambda f: rank[f.urgency])


# ---- cards ----------------------------------------------------------------------------------------------------------
def registry_patient_id(registry: Registry, patient: dict[str, Any] | None) -> str | None:
    """The registry's id of this EHR patient, found by identifier (system|value), else None."""
    if not patient:
        return None
    return _registry_id_of(registry, identity_keys({"entry": [{"resource": patient}]}))


def _registry_id_of(registry: Registry, keys: list[str]) -> str | None:
    if not keys:
        return None
    stmt = text("SELECT patient_id FROM registry_identifiers WHERE key IN :keys").bindparams(
        bindparam("keys", expanding=True)
    )
    with registry.read() as conn:
        found = {r.patient_id for r in conn.execute(stmt, {"keys": keys}).all()}
    return next(iter(found)) if len(found) == 1 else None


def _base_url(request: Request, svc: Service) -> str:
    public = getattr(svc.settings, "public_url", None)
    return (public if isinstance(public, str) and public else str(request.base_url)).rstrip("/")


def card_links(request: Request, svc: Service, registry_id: str | None) -> list[dict[str, Any]]:
    base = _base_url(request, svc)
    if registry_id:
        links = [
            {"label": "Open the patient in mbcnav", "url": f"{base}/patients/{quote(registry_id)}", "type": "absolute"}
        ]
    else:
        links = [
            {"label": "mbcnav: how these cards are made (API documentation)", "url": f"{base}/docs", "type": "absolute"}
        ]
    if getattr(svc.settings, "smart_client_id", None):
        links.append(
            {"label": "Open mbcnav for this patient (SMART launch)", "url": f"{base}/smart/launch", "type": "smart"}
        )
    return links


def build_cards(
    hook: str, ev: Evaluation, located: Sequence[Located], context: dict[str, Any], links: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The cards of one hook call (pure: the EHR's data evaluated, in; CDS Hooks cards, out)."""
    a = ev.assessment
    pid = a.record.patient.id or str(context.get("patientId") or "")
    if hook == "order-select":
        bundle = context.get("draftOrders") or {}
        drafts = [
            e["resource"]
            for e in bundle.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
        selections = [s for s in context.get("selections") or [] if isinstance(s, str)]
        hits = check_draft_orders(a, drafts, selected=selections or None)
        return interaction_cards(pid, hits, links)
    cards = problem_list_cards(check_problem_list(located, a), links)
    if a.stage.metastatic:
        drugs = [d.name for d in current_drugs(a)]
        card = red_flag_card(pid, red_flags(ev), sites=a.spread.sites, drugs=drugs, links=links)
        if card is not None:
            cards.append(card)
    return cards


# ---- the service call ---------------------------------------------------------------------------------------------
def _audit(
    request: Request,
    principal: Principal,
    outcome: Outcome,
    *,
    registry_id: str | None = None,
    ehr_patient: str | None = None,
    fhir_server: str | None = None,
    description: str | None = None,
    subtype: str = "operation",
) -> None:
    event = audit_event(
        action="E",
        outcome=outcome,
        subject=principal.subject,
        role=principal.role,
        route=route_template(request),
        patient_id=registry_id,
        description=description,
        subtype=subtype,
    )
    if ehr_patient:
        event["entity"].append(
            {
                "what": {"identifier": {"system": fhir_server or "urn:mbcnav:ehr", "value": f"Patient/{ehr_patient}"}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
                "description": "the EHR's patient (CDS Hooks context.patientId)",
            }
        )
    service(request).registry.audit(event, registry_id)
    access = getattr(request.state, "access", None)
    if access is not None:
        access.recorded = True


def _authorize(request: Request, service_id: str) -> Principal:
    from mbcnav.service.context import Access

    principal = authenticate_cds(request, service_id)
    request.state.access = Access(request, principal, "E", route_template(request))
    if principal.role != "ehr":
        _audit(request, principal, "4", description=f"the {principal.role} role may not call CDS services")
        raise ApiError(403, f"the {principal.role} role may not call CDS services (the ehr role may)")
    return principal


async def _raw_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > _MAX_BODY:
        raise ApiError(413, "the body is larger than 10 MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY:
            raise ApiError(413, "the body is larger than 10 MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not JSON") from None


async def _json_body(request: Request) -> Any:
    return _parse(await _raw_body(request))


def _problems(exc: ValidationError) -> list[Any]:
    from mbcnav.record.model import InputIssue

    return [
        InputIssue(".".join(str(x) for x in e.get("loc", ())), str(e.get("msg", "invalid"))[:200], "error")
        for e in exc.errors()[:20]
    ]


# ---- answers to a chart already seen: an EHR sends the same prefetch each time the chart is opened -----------------
_HOOK_INSTANCE = re.compile(rb'"hookInstance"\s*:\s*"[^"]*"')
ANSWER_SECONDS = 60.0  # how long an answer is reused for the same request (the registry link may change after)


@dataclass(frozen=True, slots=True)
class _Answer:
    doc: dict[str, Any]
    registry_id: str | None
    ehr_patient: str
    fhir_server: str | None
    at: float
    keys: tuple[str, ...] = ()  # the patient's identity keys: a later import into the registry changes the link


_ANSWERS: OrderedDict[str, _Answer] = OrderedDict()


def _answer_key(service_id: str, body: bytes, request: Request, svc: Service) -> str:
    """The request without its hookInstance, for this service, day and base URL."""
    digest = hashlib.sha256(_HOOK_INSTANCE.sub(b"", body))
    digest.update(f"|{id(svc)}|{service_id}|{svc.today().isoformat()}|{_base_url(request, svc)}".encode())
    return digest.hexdigest()


def _authorize_and_reuse(request: Request, service_id: str, key: str) -> tuple[Principal, _Answer | None]:
    """Who is calling (401/403), and the answer already given to this very request, audited as a new call."""
    principal = _authorize(request, service_id)
    seen = _reuse(key)
    imported_since = (
        seen is not None
        and seen.registry_id is None
        and _registry_id_of(service(request).registry, list(seen.keys)) is not None
    )
    if imported_since:
        seen = None  # she has been imported since: the card now links to her page
    if seen is not None:
        _audit(
            request,
            principal,
            "0",
            registry_id=seen.registry_id,
            ehr_patient=seen.ehr_patient,
            fhir_server=seen.fhir_server,
        )
    return principal, seen


def _reuse(key: str) -> _Answer | None:
    with _CACHE_LOCK:
        hit = _ANSWERS.get(key)
        if hit is None or time.monotonic() - hit.at > ANSWER_SECONDS:
            return None
        _ANSWERS.move_to_end(key)
        return hit


def _keep(key: str, answer: _Answer) -> None:
    with _CACHE_LOCK:
        _ANSWERS[key] = answer
        while len(_ANSWERS) > _CACHE_SIZE:
            _ANSWERS.popitem(last=False)


@router.post(
    "/cds-services/{service_id}",
    summary="A CDS Hooks service call: the cards for this hook (CDS Hooks 2.0)",
    responses={200: {"description": "The cards (possibly none)"}, **error_responses(400, 401, 403, 404, 413, 429)},
)
async def call_service(request: Request, service_id: str) -> JSONResponse:
    svc = service(request)
    spec = _BY_ID.get(service_id)
    if spec is None:
        raise ApiError(404, f"no CDS service {service_id!r} (GET /cds-services lists them)")
    raw = await _raw_body(request)
    key = _answer_key(service_id, raw, request, svc)
    principal, seen = await run_in_threadpool(_authorize_and_reuse, request, service_id, key)
    if seen is not None:
        return JSONResponse(seen.doc)
    body = _parse(raw)
    try:
        req = CdsRequest.model_validate(body)
        if req.hook != spec["hook"]:
            raise ApiError(400, f"the service {service_id} answers the {spec['hook']} hook, not {req.hook!r}")
        HOOK_CONTEXTS[req.hook].model_validate(req.context)
    except ValidationError as exc:
        await run_in_threadpool(_audit, request, principal, "4", description="malformed CDS Hooks request")
        raise ApiError(400, "the CDS Hooks request is malformed", _problems(exc)) from None
    ehr_patient = str(req.context["patientId"])
    timeout = float(getattr(svc.settings, "cds_timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT)
    started = time.perf_counter()
    try:
        located = await gather_resources(req, timeout)
    except FhirUnavailable as exc:
        log.warning("CDS %s: no card, %s", service_id, exc)
        await run_in_threadpool(
            _audit, request, principal, "4", ehr_patient=ehr_patient, fhir_server=req.fhirServer, description=str(exc)
        )
        return JSONResponse({"cards": []})
    result, registry_id, ok = await run_in_threadpool(_answer, request, svc, req, located, ehr_patient)
    if ok and req.prefetch is not None and all(k in req.prefetch for k in PREFETCH):  # nothing read from the EHR
        patient = req.prefetch.get("patient")
        keys = tuple(identity_keys({"entry": [{"resource": patient}]})) if isinstance(patient, dict) else ()
        _keep(key, _Answer(result, registry_id, ehr_patient, req.fhirServer, time.monotonic(), keys))
    log.info("CDS %s answered in %.1f ms", service_id, (time.perf_counter() - started) * 1000)
    return JSONResponse(result)


def _answer(
    request: Request, svc: Service, req: CdsRequest, located: list[Located], ehr_patient: str
) -> tuple[dict[str, Any], str | None, bool]:
    """The cards, the registry id of the patient, and whether the answer may be reused."""
    principal: Principal = request.state.principal
    registry_id: str | None = None
    try:
        patient = next(
            (
                x.resource
                for x in located
                if x.resource.get("resourceType") == "Patient" and x.resource.get("id") == ehr_patient
            ),
            None,
        )
        registry_id = registry_patient_id(svc.registry, patient)
        ev = evaluate_ehr_record(located, ehr_patient, svc.today())
        cards = build_cards(req.hook, ev, located, req.context, card_links(request, svc, registry_id))
        doc = StrictCdsResponse.model_validate({"cards": cards}).model_dump(exclude_none=True)
    except UnusableInput as err:
        log.warning("CDS %s: no card, the record cannot be read", req.hook)
        _audit(
            request,
            principal,
            "4",
            registry_id=registry_id,
            ehr_patient=ehr_patient,
            fhir_server=req.fhirServer,
            description=f"the record cannot be read: {err.message[:200]}",
        )
        return {"cards": []}, registry_id, False
    except Exception as exc:  # decision support never blocks the EHR: a defect is logged and audited, no card
        log.error("CDS %s: internal error %s; no card", req.hook, type(exc).__name__)
        _audit(
            request,
            principal,
            "8",
            registry_id=registry_id,
            ehr_patient=ehr_patient,
            fhir_server=req.fhirServer,
            description=f"internal error ({type(exc).__name__})",
        )
        return {"cards": []}, registry_id, False
    _audit(request, principal, "0", registry_id=registry_id, ehr_patient=ehr_patient, fhir_server=req.fhirServer)
    return doc, registry_id, True


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="CDS Hooks feedback: which cards were accepted or overridden (kept as AuditEvents)",
    responses={200: {"description": "Received"}, **error_responses(400, 401, 403, 404, 413, 429)},
)
async def feedback(request: Request, service_id: str) -> JSONResponse:
    if service_id not in _BY_ID:
        raise ApiError(404, f"no CDS service {service_id!r} (GET /cds-services lists them)")
    principal = await run_in_threadpool(_authorize, request, service_id)
    body = await _json_body(request)
    try:
        doc = Feedback.model_validate(body)
    except ValidationError as exc:
        raise ApiError(400, "the feedback is malformed", _problems(exc)) from None

    def store() -> None:
        for item in doc.feedback:
            event = audit_event(
                action="C",
                outcome="0",
                subject=principal.subject,
                role=principal.role,
                route=route_template(request),
            )
            detail = [
                {"type": "service", "valueString": service_id},
                {"type": "card", "valueString": item.card},
                {"type": "outcome", "valueString": item.outcome},
                {"type": "outcomeTimestamp", "valueString": item.outcomeTimestamp},
            ]
            detail += [{"type": "acceptedSuggestion", "valueString": s.id} for s in item.acceptedSuggestions or []]
            reason = item.overrideReason.reason if item.overrideReason else None
            if reason is not None:
                detail.append({"type": "overrideReason", "valueString": f"{reason.system or ''}|{reason.code}"})
            event["entity"][0]["detail"] = detail  # the clinician's free-text comment is not kept (it may hold PHI)
            service(request).registry.audit(event, None)
        access = getattr(request.state, "access", None)
        if access is not None:
            access.recorded = True

    await run_in_threadpool(store)
    return JSONResponse({"received": len(doc.feedback)})


__all__ = [
    "PREFETCH",
    "SERVICES",
    "CdsTrust",
    "FhirUnavailable",
    "authenticate_cds",
    "build_cards",
    "card_links",
    "evaluate_ehr_record",
    "gather_resources",
    "red_flags",
    "registry_patient_id",
    "router",
]
