"""REST routes of the second-opinion packet: the IPS document, HTML page and PDF of one patient (PHI, audited)."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from mbcnav.service.api import _PLOT_LOCK, PHI_TAG, AsOf
from mbcnav.service.context import Service, patient_access, service
from mbcnav.service.errors import FHIR_JSON, ApiError, error_responses

if TYPE_CHECKING:
    from mbcnav.pathway import Evaluation
    from mbcnav.record.inputs import Located
    from mbcnav.summary.document import CaseSummary

router = APIRouter(prefix="/api/v1")

Audience = Annotated[
    Literal["clinician", "patient"],
    Query(description="clinician (evidence, plots) or patient (plain language, glossary)"),
]
_ERRORS = error_responses(400, 401, 403, 404, 429)
_NO_STORE = {"Cache-Control": "private, no-store"}


def _day(request: Request, value: date | str | None) -> date | None:
    """The as_of query (YYYY-MM-DD, as mbcnav.service.api reads it): not a date or after today is a 400."""
    if value is None:
        return None
    if isinstance(value, date):
        as_of = value
    else:
        try:
            as_of = date.fromisoformat(value)
        except ValueError:
            raise ApiError(400, f"as_of {value!r} is not a date (YYYY-MM-DD)") from None
    if as_of > service(request).today():
        raise ApiError(400, f"as_of {as_of.isoformat()} is in the future")
    return as_of


def _trials(svc: Service, ev: Evaluation) -> tuple[Any, str | None]:
    """Trial candidates when the service's trial store holds studies, else why trials were not searched."""
    from mbcnav.trials.match import OPEN_STATUSES
    from mbcnav.trials.matching_io import parsed_trials
    from mbcnav.trials.store import missing_store

    problem = missing_store(svc.settings.trials_db_url)
    if problem:  # a summary never creates a trial store as a side effect
        return None, f"Clinical trials were not searched: {problem}."
    try:
        store = svc.trial_store()
        if store.count() == 0:
            return None, "Clinical trials were not searched: the trial store holds no study."
        return ev.match_trials(parsed_trials(store, status=list(OPEN_STATUSES)), top=10), None
    except ApiError as exc:
        return None, f"Clinical trials were not searched: {exc.message}."


def _build(svc: Service, ev: Evaluation) -> CaseSummary:
    from mbcnav.summary.document import build_summary

    report, note = _trials(svc, ev)
    return build_summary(ev, trials=report, trials_note=note)


def _resources(svc: Service, pid: str, version: int | None) -> list[Located]:
    """The stored record's resources, located as the evaluation read them (so each fact finds its resource)."""
    from mbcnav.record.reader import flatten

    stored = svc.registry.bundle(pid, version)
    if stored is None:
        raise ApiError(404, "no such patient")
    return flatten(stored[1], "record:")


def _html(ev: Evaluation, summary: CaseSummary, audience: str) -> str:
    from mbcnav.summary.html import make_plots, render_html

    if audience != "clinician":
        return render_html(summary, audience=audience)
    with _PLOT_LOCK:  # matplotlib's pyplot is not thread-safe (the response plot route holds the same lock)
        plots = make_plots(ev)
    return render_html(summary, audience=audience, plots=plots)


@router.get(
    "/patients/{id}/summary",
    tags=[PHI_TAG],
    summary="The case summary as an HL7 International Patient Summary (FHIR R4 document Bundle; docs/summary.md)",
    responses={200: {"content": {FHIR_JSON: {}}, "description": "The IPS document Bundle"}, **_ERRORS},
    response_class=JSONResponse,
)
def get_summary(request: Request, id: str, as_of: AsOf = None) -> JSONResponse:
    from mbcnav.summary.ips import build_ips

    access = patient_access(request, id)
    svc = service(request)
    access.version, ev = svc.evaluation(id, _day(request, as_of))
    bundle = build_ips(ev, _build(svc, ev), _resources(svc, id, access.version))
    access.audit()
    return JSONResponse(bundle, media_type=FHIR_JSON, headers=_NO_STORE)


@router.get(
    "/patients/{id}/summary.html",
    tags=[PHI_TAG],
    summary="The case summary as an HTML page for the clinician or the patient (print CSS for A4)",
    responses={200: {"content": {"text/html": {}}, "description": "The summary page"}, **_ERRORS},
    response_class=HTMLResponse,
)
def get_summary_html(request: Request, id: str, audience: Audience = "clinician", as_of: AsOf = None) -> HTMLResponse:
    access = patient_access(request, id)
    svc = service(request)
    access.version, ev = svc.evaluation(id, _day(request, as_of))
    page = _html(ev, _build(svc, ev), audience)
    access.audit()
    return HTMLResponse(page, headers=_NO_STORE)


@router.get(
    "/patients/{id}/summary.pdf",
    tags=[PHI_TAG],
    summary="The case summary as a PDF (A4) for the clinician or the patient",
    responses={200: {"content": {"application/pdf": {}}, "description": "The summary as PDF"}, **_ERRORS},
    response_class=Response,
)
def get_summary_pdf(request: Request, id: str, audience: Audience = "clinician", as_of: AsOf = None) -> Response:
    from mbcnav.summary.pdf import html_to_pdf

    access = patient_access(request, id)
    svc = service(request)
    access.version, ev = svc.evaluation(id, _day(request, as_of))
    data = html_to_pdf(_html(ev, _build(svc, ev), audience))
    access.audit()
    name = re.sub(r"[^A-Za-z0-9._-]", "_", id)[:64] or "patient"
    headers = {**_NO_STORE, "Content-Disposition": f'inline; filename="summary-{name}-{audience}.pdf"'}
    return Response(data, media_type="application/pdf", headers=headers)


__all__ = ["router"]
