"""Monitoring in the service: the follow-up plan, the symptom questionnaire, symptom reports with triage, and the
care team's alert work list (API routes; the web page's forms call the same functions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mbcnav.record.reader import UnusableInput
from mbcnav.service.api import PHI_TAG, AsOf, _as_of, _body
from mbcnav.service.audit import audit_event
from mbcnav.service.context import Access, authenticate, patient_access, role_access, service
from mbcnav.service.errors import FHIR_JSON, ApiError, error_responses
from mbcnav.service.symptoms import StoredReport, SymptomStore, client_key

WORKLIST_TAG = "care team work list"
router = APIRouter(prefix="/api/v1")
_READ_ERRORS = error_responses(400, 401, 403, 404, 429)
MAX_REPORT_BYTES = 256 * 1024


def symptom_store(request: Request) -> SymptomStore:
    store: SymptomStore = request.app.state.symptoms
    return store


@router.get(
    "/questionnaires/symptoms",
    tags=["monitoring"],
    summary="The symptom questionnaire (FHIR Questionnaire; every item coded) — no patient data",
    responses={200: {"description": "A FHIR Questionnaire", "content": {FHIR_JSON: {"schema": {"type": "object"}}}},
               **error_responses(401, 429)},
)  # fmt: skip
def get_questionnaire(request: Request) -> JSONResponse:
    from mbcnav.monitoring.questionnaire import questionnaire

    authenticate(request)
    return JSONResponse(questionnaire(), media_type=FHIR_JSON)


@router.get(
    "/patients/{id}/plan",
    tags=[PHI_TAG],
    summary="The follow-up plan: `mbcnav plan --format json` (or a FHIR CarePlan with format=fhir)",
    responses=_READ_ERRORS,
)
def get_plan(request: Request, id: str, as_of: AsOf = None, format: Literal["json", "fhir"] = "json") -> JSONResponse:
    from mbcnav.monitoring.plan import plan_fhir, plan_json

    access = patient_access(request, id)
    access.version, ev = service(request).evaluation(id, _as_of(request, as_of))
    doc = plan_fhir(ev) if format == "fhir" else plan_json(ev)
    access.audit()
    return JSONResponse(doc, media_type=FHIR_JSON if format == "fhir" else "application/json")


def submit_report(access: Access, pid: str, response: Any, header_key: str | None) -> StoredReport:
    """Read, triage and store one QuestionnaireResponse (the API and the web form both come here)."""
    from mbcnav.monitoring.questionnaire import read_response
    from mbcnav.monitoring.triage import triage_json

    request = access.request
    svc = service(request)
    if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
        raise ApiError(422, "send one FHIR QuestionnaireResponse")
    try:
        report = read_response(response, where="QuestionnaireResponse")
    except UnusableInput as err:
        raise ApiError(422, err.message, err.problems) from None
    _, ev = svc.evaluation(pid)
    triage = triage_json(report, ev)
    event = audit_event(
        action="C",
        outcome="0",
        subject=access.principal.subject,
        role=access.principal.role,
        route=access.route,
        patient_id=pid,
        subtype="create",
    )
    stored = symptom_store(request).submit(
        pid, client_key(response, header_key), response, triage, subject=access.principal.subject, audit=event
    )
    if stored.duplicate:
        access.audit(subtype="read")  # a retry reads the stored report back: audited as a read
    else:
        access.recorded = True  # written with the report, in its transaction
        dispatcher = getattr(request.app.state, "dispatcher", None)
        if dispatcher is not None and stored.alert_id is not None:
            dispatcher.wake()
    return stored


@router.post(
    "/patients/{id}/symptom-reports",
    tags=[PHI_TAG],
    status_code=201,
    summary="Submit a symptom report (FHIR QuestionnaireResponse): triaged, stored once (retries are idempotent)",
    responses={
        200: {"description": "A retry of a report already stored: the stored report"},
        201: {"description": "Stored and triaged: level, reasons, advice, rules"},
        **error_responses(400, 401, 403, 404, 413, 415, 422, 429),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/fhir+json": {"schema": {"type": "object"}},
                        "application/json": {"schema": {"type": "object"}}},
        },
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}],
    },
)  # fmt: skip
async def post_symptom_report(request: Request, id: str) -> JSONResponse:
    from mbcnav.record.reader import parse_json_bytes

    access = await run_in_threadpool(patient_access, request, id, "C")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/fhir+json", "application/json"):
        raise ApiError(415, "send the QuestionnaireResponse as application/fhir+json or application/json")
    data = await _body(request, MAX_REPORT_BYTES)
    try:
        response = parse_json_bytes(data, "body")
    except UnusableInput as err:
        raise ApiError(400, err.message, err.problems) from None
    stored = await run_in_threadpool(submit_report, access, id, response, request.headers.get("idempotency-key"))
    return JSONResponse(stored.as_json(), status_code=200 if stored.duplicate else 201)


@router.get(
    "/patients/{id}/symptom-reports",
    tags=[PHI_TAG],
    summary="The patient's symptom reports with their triage, newest first",
    responses=_READ_ERRORS,
)
def get_symptom_reports(request: Request, id: str, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> JSONResponse:
    access = patient_access(request, id)
    reports = symptom_store(request).reports(id, limit)
    access.audit()
    return JSONResponse({"patient": id, "reports": [r.as_json() for r in reports]})


def _worklist_patients(request: Request, access: Access) -> set[str] | None:
    svc = service(request)
    if svc.settings.clinician_scope == "care-team":
        return svc.registry.care_team_patients(access.principal.subject)
    return None


@router.get(
    "/alerts",
    tags=[WORKLIST_TAG],
    summary="The care team's alerts (emergency and same-day reports): open ones, or all",
    responses=_READ_ERRORS,
)
def get_alerts(request: Request, state: Literal["open", "all"] = "open") -> JSONResponse:
    access = role_access(request, ("clinician",))
    alerts = symptom_store(request).alerts(open_only=state == "open", patients=_worklist_patients(request, access))
    access.audit(subtype="search-type")
    return JSONResponse({"state": state, "alerts": alerts})


@router.post(
    "/alerts/{alert_id}/acknowledge",
    tags=[WORKLIST_TAG],
    summary="Acknowledge an alert (who and when are recorded; the first acknowledgement stays)",
    responses={200: {"description": "Acknowledged"}, **error_responses(400, 401, 403, 404, 429)},
)
def acknowledge_alert(
    request: Request, alert_id: str, note: Annotated[str | None, Query(max_length=1000)] = None
) -> JSONResponse:
    access = role_access(request, ("clinician",), "U")
    store = symptom_store(request)
    pid = store.alert_patient(alert_id)
    allowed = _worklist_patients(request, access)
    if pid is None or (allowed is not None and pid not in allowed):
        access.audit("4", "no such alert")
        raise ApiError(404, "no such alert")
    access.patient_id = pid
    event = audit_event(
        action="U", outcome="0", subject=access.principal.subject, role="clinician", route=access.route, patient_id=pid
    )
    changed = store.acknowledge(alert_id, access.principal.subject, note, event)
    access.recorded = True
    return JSONResponse({"alert": alert_id, "acknowledged": True, "already": not changed})


def install(app: Any) -> None:
    """Add the monitoring routes, the symptom store and the outbox dispatcher to the app."""
    from mbcnav.service.outbox import Dispatcher

    svc = app.state.service
    app.state.symptoms = SymptomStore(svc.registry)
    app.state.dispatcher = Dispatcher(app.state.symptoms, svc.settings.alert_webhook, svc.settings.outbox_interval)
    app.include_router(router)
