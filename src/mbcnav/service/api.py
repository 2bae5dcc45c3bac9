"""The REST API, version 1: patients (import, list, read), their evaluations, audit and users.

Each patient route returns exactly the JSON contract of the matching CLI command (docs/*.md); every error is a
FHIR OperationOutcome. Routes tagged PHI_TAG read or write patient data: they check access and record an
AuditEvent (tests enumerate them from the route table, so a new one cannot skip either)."""

from __future__ import annotations

import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mbcnav.record.reader import UnusableInput
from mbcnav.service.audit import audit_event
from mbcnav.service.context import Access, patient_access, role_access, service
from mbcnav.service.errors import FHIR_JSON, ApiError, error_responses
from mbcnav.service.migrations import RegistryError
from mbcnav.service.registry import RegistryConflict

PHI_TAG = "patient data"
ADMIN_TAG = "administration"
router = APIRouter(prefix="/api/v1")
_PLOT_LOCK = threading.Lock()  # matplotlib's pyplot is not thread-safe

AsOf = Annotated[
    str | None,
    Query(
        description="read the record as known on this date (YYYY-MM-DD); default today",
        alias="as_of",
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    ),
]
_READ_ERRORS = error_responses(400, 401, 403, 404, 429)
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
_JSON_TYPES = ("application/fhir+json", "application/json")


def _fhir(doc: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(doc, status_code=status, media_type=FHIR_JSON, headers=headers)


def _as_of(request: Request, text: str | None) -> date | None:
    """YYYY-MM-DD, not after today (a number is not a date: no Unix timestamps)."""
    if text is None:
        return None
    try:
        as_of = date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"as_of {text!r} is not a date (YYYY-MM-DD)") from None
    if as_of > service(request).today():
        raise ApiError(400, f"as_of {as_of.isoformat()} is in the future")
    return as_of


# ---- import -----------------------------------------------------------------------------------------------------
async def _body(request: Request, limit: int) -> bytes:
    """The request body, counted while it arrives: more than `limit` bytes is 413 without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body is larger than {limit // (1024 * 1024)} MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is larger than {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _document(data: bytes, media: str) -> Any:
    from mbcnav.record.casefile import case_to_bundle, load_case_bytes
    from mbcnav.record.reader import parse_json_bytes
    from mbcnav.service.records import document

    if not data.strip():
        raise ApiError(400, "the body is empty: send a FHIR Bundle (JSON) or a case file (YAML)")
    if media in _YAML_TYPES:
        try:
            return document(case_to_bundle(load_case_bytes(data, "body")), "case")
        except UnusableInput as err:
            status = 400 if "not valid YAML" in err.message or "UTF-8" in err.message else 422
            raise ApiError(status, err.message, err.problems) from None
    try:
        doc = parse_json_bytes(data, "body")
    except UnusableInput as err:
        raise ApiError(400, err.message, err.problems) from None
    try:
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
            raise UnusableInput("body: not a FHIR resource (no resourceType)")
        return document(doc, "fhir")
    except UnusableInput as err:
        raise ApiError(422, err.message, err.problems) from None


@router.post(
    "/patients",
    tags=[PHI_TAG],
    status_code=201,
    summary="Import a patient's record (a new version; merged with an earlier import of the same patient)",
    responses={
        201: {"description": "Stored: the registry id and the new version"},
        **error_responses(400, 401, 403, 409, 413, 415, 422, 429),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/fhir+json": {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_patient(request: Request) -> JSONResponse:
    access = role_access(request, ("clinician",), "C")
    svc = service(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _JSON_TYPES + _YAML_TYPES:
        raise ApiError(415, "send application/fhir+json, application/json or application/yaml (a case file)")
    data = await _body(request, svc.settings.max_body_bytes)
    return await run_in_threadpool(_store, access, data, media)


def _store(access: Access, data: bytes, media: str) -> JSONResponse:
    from mbcnav.service.importing import store

    svc = service(access.request)
    doc = _document(data, media)
    try:
        imported = store(
            svc.registry,
            doc,
            subject=access.principal.subject,
            role=access.principal.role,
            route=access.route,
            today=svc.today(),
        )
    except RegistryConflict as exc:
        raise ApiError(409, str(exc)) from None
    except RegistryError as exc:
        raise ApiError(503, str(exc)) from None
    access.recorded = True  # the import's AuditEvent was written in its own transaction
    body = {
        "id": imported.id,
        "version": imported.version,
        "created": imported.created,
        "issues": [{"location": i.location, "message": i.message, "severity": i.severity} for i in doc.issues],
    }
    return JSONResponse(body, status_code=201, headers={"Location": f"/api/v1/patients/{imported.id}"})


# ---- read -------------------------------------------------------------------------------------------------------
@router.get(
    "/patients",
    tags=[PHI_TAG],
    summary="Patients (paged; `q` searches name, birth date, identifiers)",
    responses=_READ_ERRORS,
)
def list_patients(
    request: Request,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JSONResponse:
    access = role_access(request, ("clinician", "patient"))
    svc = service(request)
    p = access.principal
    only: set[str] | None = None
    if p.role == "patient":
        only = {p.patient} if p.patient else set()
    elif svc.settings.clinician_scope == "care-team":
        only = svc.registry.care_team_patients(p.subject)
    rows, total = svc.registry.patients(query=q, offset=offset, limit=limit, only=only)
    access.audit(subtype="search-type")
    return JSONResponse({"total": total, "offset": offset, "limit": limit, "patients": [r.as_json() for r in rows]})


@router.get(
    "/patients/{id}",
    tags=[PHI_TAG],
    summary="One patient: latest version, list summary, versions",
    responses=_READ_ERRORS,
)
def get_patient(request: Request, id: str) -> JSONResponse:
    access = patient_access(request, id)
    svc = service(request)
    row = svc.registry.patient(id)
    assert row is not None
    access.version = row.latest_version
    doc = {**row.as_json(), "versions": svc.registry.versions(id)}
    access.audit()
    return JSONResponse(doc)


@router.get(
    "/patients/{id}/assessment",
    tags=[PHI_TAG],
    responses=_READ_ERRORS,
    summary="The assessment: exactly `mbcnav assess --format json` (docs/assessment.md)",
)
def get_assessment(request: Request, id: str, as_of: AsOf = None) -> JSONResponse:
    access = patient_access(request, id)
    access.version, ev = service(request).evaluation(id, _as_of(request, as_of))
    doc = ev.assessment_json()
    access.audit()
    return JSONResponse(doc)


@router.get(
    "/patients/{id}/options",
    tags=[PHI_TAG],
    responses=_READ_ERRORS,
    summary="Treatment options: exactly `mbcnav options --format json` (docs/options.md)",
)
def get_options(request: Request, id: str, as_of: AsOf = None) -> JSONResponse:
    access = patient_access(request, id)
    access.version, ev = service(request).evaluation(id, _as_of(request, as_of))
    doc = ev.options_json()
    access.audit()
    return JSONResponse(doc)


@router.get(
    "/patients/{id}/response",
    tags=[PHI_TAG],
    responses=_READ_ERRORS,
    summary="RECIST 1.1 response per line: exactly `mbcnav response --format json` (docs/response.md)",
)
def get_response(request: Request, id: str, as_of: AsOf = None) -> JSONResponse:
    access = patient_access(request, id)
    access.version, ev = service(request).evaluation(id, _as_of(request, as_of))
    doc = ev.response_json()
    access.audit()
    return JSONResponse(doc)


@router.get(
    "/patients/{id}/response/plots/{kind}.{fmt}",
    tags=[PHI_TAG],
    summary="A response plot of this patient: spider or swimmer, as SVG or PNG",
    responses={
        200: {"content": {"image/svg+xml": {}, "image/png": {}}, "description": "The plot"},
        **_READ_ERRORS,
    },
    response_class=Response,
)
def get_plot(
    request: Request, id: str, kind: Literal["spider", "swimmer"], fmt: Literal["svg", "png"], as_of: AsOf = None
) -> Response:
    from mbcnav.response import plots

    access = patient_access(request, id)
    day = _as_of(request, as_of)
    access.version, ev = service(request).evaluation(id, day)
    with _PLOT_LOCK, tempfile.TemporaryDirectory(prefix="mbcnav-plot-") as tmp:
        if kind == "spider":
            plots.spider(ev.response, Path(tmp))
        else:
            plots.swimmer(ev.response, Path(tmp), today=ev.as_of)
        data = (Path(tmp) / f"{kind}.{fmt}").read_bytes()
    access.audit()
    media = "image/svg+xml" if fmt == "svg" else "image/png"
    return Response(data, media_type=media, headers={"Cache-Control": "private, no-store"})


@router.get(
    "/patients/{id}/trials",
    tags=[PHI_TAG],
    responses={**_READ_ERRORS, **error_responses(503)},
    summary="Trial matches: exactly `mbcnav trials match --format json` (docs/trials.md)",
)
def get_trials(
    request: Request,
    id: str,
    top: Annotated[int, Query(ge=1, le=200)] = 20,
    as_of: AsOf = None,
    include_ineligible: Annotated[bool, Query(alias="all")] = False,
) -> JSONResponse:
    from mbcnav.trials.match import OPEN_STATUSES
    from mbcnav.trials.matching_io import parsed_trials

    access = patient_access(request, id)
    svc = service(request)
    access.version, ev = svc.evaluation(id, _as_of(request, as_of))
    store = svc.trial_store()
    if store.count() == 0:
        raise ApiError(503, "the trial store is empty: load studies with `mbcnav trials load DIR`")
    report = ev.match_trials(
        parsed_trials(store, status=list(OPEN_STATUSES)), top=top, include_ineligible=include_ineligible
    )
    doc = report.as_json()
    access.audit()
    return JSONResponse(doc)


@router.get(
    "/patients/{id}/fhir",
    tags=[PHI_TAG],
    responses={
        200: {"description": "A FHIR Bundle", "content": {FHIR_JSON: {"schema": {"type": "object"}}}},
        **_READ_ERRORS,
    },
    summary="The stored record as a FHIR Bundle (latest version, or `version`)",
)
def get_fhir(
    request: Request, id: str, version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
) -> JSONResponse:
    access = patient_access(request, id)
    stored = service(request).registry.bundle(id, version)
    if stored is None:
        access.audit("4", "no such version")
        raise ApiError(404, f"patient has no version {version}")
    access.version, bundle = stored
    doc = {**bundle, "meta": {"versionId": str(access.version)}}
    access.audit()
    return _fhir(doc)


@router.get(
    "/patients/{id}/versions",
    tags=[PHI_TAG],
    responses=_READ_ERRORS,
    summary="Every import of this patient: version, when, by whom, content hash",
)
def get_versions(request: Request, id: str) -> JSONResponse:
    access = patient_access(request, id)
    doc = {"patient": id, "versions": service(request).registry.versions(id)}
    access.audit()
    return JSONResponse(doc)


@router.put(
    "/patients/{id}/care-team/{subject}",
    tags=[PHI_TAG],
    responses={200: {"description": "On the care team"}, **error_responses(400, 401, 403, 404, 429)},
    summary="Add a clinician (token subject) to the patient's care team (admin)",
)
def add_care_team(request: Request, id: str, subject: str) -> JSONResponse:
    access = role_access(request, ("admin",), "U")
    access.patient_id = id
    svc = service(request)
    if svc.registry.patient(id) is None:
        access.audit("4", "no such patient")
        raise ApiError(404, "no such patient")
    event = audit_event(
        action="U", outcome="0", subject=access.principal.subject, role="admin", route=access.route, patient_id=id
    )
    added = svc.registry.add_to_care_team(id, subject, event)
    access.recorded = True
    return JSONResponse({"patient": id, "subject": subject, "added": added})


# ---- administration ---------------------------------------------------------------------------------------------
@router.get(
    "/audit",
    tags=[ADMIN_TAG],
    responses={
        200: {
            "description": "A FHIR searchset Bundle of AuditEvents",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        },
        **_READ_ERRORS,
    },
    summary="AuditEvents, newest first, as a FHIR searchset Bundle (admin)",
)
def get_audit(
    request: Request,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    access = role_access(request, ("admin",))
    events, total = service(request).registry.audit_events(
        patient_id=patient, subject=subject, offset=offset, limit=limit
    )
    access.audit(subtype="search-type")
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "entry": [{"fullUrl": f"urn:uuid:{e['id']}", "resource": e, "search": {"mode": "match"}} for e in events],
    }
    return _fhir(bundle)


@router.get(
    "/admin/users",
    tags=[ADMIN_TAG],
    responses=_READ_ERRORS,
    summary="Users seen by the service (subject, role, first and last seen, revoked) (admin)",
)
def get_users(request: Request) -> JSONResponse:
    access = role_access(request, ("admin",))
    users = service(request).registry.users()
    access.audit(subtype="search-type")
    return JSONResponse({"users": users})


@router.post(
    "/admin/users/{subject}/revoke",
    tags=[ADMIN_TAG],
    responses=_READ_ERRORS,
    summary="Refuse every token of this subject from now on (admin)",
)
def revoke_user(request: Request, subject: str) -> JSONResponse:
    access = role_access(request, ("admin",), "U")
    if subject == access.principal.subject:
        access.audit("4", "an admin cannot revoke herself")
        raise ApiError(400, "an admin cannot revoke her own access")
    event = audit_event(action="U", outcome="0", subject=access.principal.subject, role="admin", route=access.route)
    service(request).registry.revoke(subject, event)
    access.recorded = True
    return JSONResponse({"subject": subject, "revoked": True})
