"""Monitoring in the service: the follow-up plan, the symptom questionnaire, symptom reports with triage, and the
care team's alert work list (API routes; the web page's forms call the same functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from mbcnav.record.reader import UnusableInput
from mbcnav.service.api import _PLOT_LOCK, PHI_TAG, AsOf, _as_of, _body
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


# ---- the symptom trend: severity per symptom family over time (a picture; the web page gives its text) ---------
TREND_REPORTS = 100  # the latest reports drawn
SEVERITY_SCORE = {"none": 0, "mild": 1, "moderate": 2, "severe": 3}


@dataclass(frozen=True)
class TrendPoint:
    """One report on the trend: when (the answers' time, else the time received), its level, and per symptom family
    the worst severity answered (0 none … 3 severe; a family left unanswered is absent, never 0)."""

    when: datetime
    level: str
    severities: dict[str, int]
    answers: dict[str, Any]


def trend_families() -> list[str]:
    """The symptom families asked with a severity scale, in the questionnaire's order."""
    from mbcnav.knowledge.kb import triage_kb

    return list(dict.fromkeys(q.family or q.link_id for q in triage_kb().questions if q.type == "severity"))


def report_time(report: StoredReport) -> datetime:
    """When the symptoms were reported: the response's `authored` (the patient's device), else the time received."""
    for text in (report.authored, report.received_at):
        if not text:
            continue
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
    return datetime(1970, 1, 1)


def symptom_trend(reports: Sequence[StoredReport], until: date | None = None) -> list[TrendPoint]:
    """The reports as trend points, oldest first (reports after `until` left out)."""
    from mbcnav.knowledge.kb import triage_kb

    family = {q.link_id: q.family or q.link_id for q in triage_kb().questions if q.type == "severity"}
    points = []
    for r in reports:
        when = report_time(r)
        if until is not None and when.date() > until:
            continue
        answers = r.triage.get("answers") if isinstance(r.triage.get("answers"), dict) else {}
        severities: dict[str, int] = {}
        for link, value in (answers or {}).items():
            score = SEVERITY_SCORE.get(value) if isinstance(value, str) else None
            if link in family and score is not None:
                severities[family[link]] = max(score, severities.get(family[link], 0))
        points.append(TrendPoint(when, r.level, severities, dict(answers or {})))
    return sorted(points, key=lambda p: p.when)


# Okabe-Ito colours (distinguishable with colour-vision deficiency), with markers and dashes that differ as well
_TREND_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#E69F00", "#56B4E9")
_TREND_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_TREND_DASHES = ("-", "--", ":", "-.")
_LEVEL_MARKS = {"routine": ("o", "white", "routine"), "same_day": ("^", "#E69F00", "same day"),
                "emergency": ("X", "#B00020", "emergency")}  # fmt: skip


def trend_svg(points: Sequence[TrendPoint]) -> bytes:
    """Severity (0-3) of each symptom family reported above "none" at least once, over the report dates, with each
    report's triage level on a strip above. Call under `_PLOT_LOCK` (matplotlib)."""
    import io

    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    families = [f for f in trend_families() if any(p.severities.get(f, 0) > 0 for p in points)]
    fig = Figure(figsize=(7.5, 4.2 + 0.25 * ((len(families) + 3) // 4)))
    strip, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 5], "hspace": 0.08})
    xs = [p.when for p in points]
    for level, (marker, colour, name) in _LEVEL_MARKS.items():
        at = [p.when for p in points if p.level == level]
        if at:
            strip.plot(at, [0] * len(at), linestyle="none", marker=marker, markersize=9, markerfacecolor=colour,
                       markeredgecolor="black", label=name)  # fmt: skip
    strip.set_yticks([0], ["triage"])
    strip.set_ylim(-1, 1)
    strip.tick_params(axis="x", which="both", bottom=False)
    if points:
        strip.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    for i, fam in enumerate(families):
        ys = [float(p.severities[fam]) if fam in p.severities else float("nan") for p in points]
        ax.plot(xs, ys, color=_TREND_COLOURS[i % len(_TREND_COLOURS)], marker=_TREND_MARKERS[i % len(_TREND_MARKERS)],
                linestyle=_TREND_DASHES[(i // len(_TREND_COLOURS)) % len(_TREND_DASHES)], linewidth=1.6,
                markersize=6, label=fam.replace("-", " "))  # fmt: skip
    ax.set_ylim(-0.3, 3.3)
    ax.set_yticks([0, 1, 2, 3], ["none", "mild", "moderate", "severe"])
    ax.grid(axis="y", color="0.85", linewidth=0.6)
    ax.set_ylabel("severity reported")
    if points:
        first, last = min(xs), max(xs)
        pad = max((last - first) * 0.04, timedelta(days=1))
        ax.set_xlim(first - pad, last + pad)
        span = last - first
        if span < timedelta(days=3):
            ax.xaxis.set_major_locator(mdates.DayLocator())  # type: ignore[no-untyped-call]
        else:
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=7))  # type: ignore[no-untyped-call]
        fmt = "%b %Y" if span > timedelta(days=300) else "%d %b"
        ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))  # type: ignore[no-untyped-call]
        ax.set_xlabel(f"date reported ({first:%d %b %Y} to {last:%d %b %Y}, UTC)" if span else f"date reported "
                      f"({first:%d %b %Y}, UTC)", fontsize=9)  # fmt: skip
    if families:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=8, frameon=False)
    else:
        text = "no symptom reported above 'none'" if points else "no symptom reports yet"
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10)
    strip.set_title("Patient-reported symptoms over time (worst answer per symptom)", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


@router.get(
    "/patients/{id}/symptom-reports/trend.svg",
    tags=[PHI_TAG],
    summary="The patient's symptom severity (0-3 per symptom family) and triage level over time, as an SVG picture",
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The picture"}, **_READ_ERRORS},
    response_class=Response,
)
def get_symptom_trend(request: Request, id: str, as_of: AsOf = None) -> Response:
    access = patient_access(request, id)
    points = symptom_trend(symptom_store(request).reports(id, TREND_REPORTS), _as_of(request, as_of))
    with _PLOT_LOCK:
        data = trend_svg(points)
    access.audit()
    return Response(data, media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})


def install(app: Any) -> None:
    """Add the monitoring routes, the symptom store and the outbox dispatcher to the app."""
    from mbcnav.service.outbox import Dispatcher

    svc = app.state.service
    app.state.symptoms = SymptomStore(svc.registry)
    app.state.dispatcher = Dispatcher(app.state.symptoms, svc.settings.alert_webhook, svc.settings.outbox_interval)
    app.include_router(router)
