"""SMART on FHIR EHR launch of the patient page (SMART App Launch 2.x, https://hl7.org/fhir/smart-app-launch/).

- `GET /smart/launch?iss=&launch=` — the EHR opens mbcnav with its FHIR base URL (`iss`, which must be on the
  allow-list `Settings.smart_issuers`) and a launch token. mbcnav reads the EHR's `.well-known/smart-configuration`
  and redirects the browser to its authorize endpoint with PKCE (S256: the code challenge is the SHA-256 of a secret
  verifier kept on the server) and a one-time `state`.
- `GET /smart/callback?code=&state=` — mbcnav exchanges the code at the token endpoint (with the verifier), reads the
  `patient` of the token response, finds her in the registry by identifier (or imports her record from the EHR's
  FHIR server), signs the launching user in (the sign-in cookie holds a clinician token of mbcnav's embedded issuer)
  and redirects to `/patients/{id}`.

The identity of the launching user comes from the `id_token` of the token response (`fhirUser`, else `sub`), read
without checking its signature: it was received directly from the token endpoint over the back channel (OpenID
Connect Core 1.0, 3.1.3.7). Pending launches live in memory for ten minutes (one process; see docs/cds-hooks.md)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import jwt
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from mbcnav.record.inputs import UnusableInput, flatten
from mbcnav.service.audit import audit_event
from mbcnav.service.auth import issue_token
from mbcnav.service.cds_hooks import PREFETCH, registry_patient_id
from mbcnav.service.context import TOKEN_COOKIE, route_template, service
from mbcnav.service.errors import ApiError

if TYPE_CHECKING:
    from mbcnav.service.context import Service

router = APIRouter(prefix="/smart", tags=["SMART on FHIR"], include_in_schema=False)

DEFAULT_SCOPE = "launch openid fhirUser patient/*.read"
PENDING_SECONDS = 600
SESSION_HOURS = 8
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Pending:
    iss: str
    verifier: str
    token_endpoint: str
    redirect_uri: str
    created: float


class PendingLaunches:
    """Launches between the redirect to the EHR and its callback: state -> PKCE verifier (never sent to the browser)."""

    def __init__(self) -> None:
        self._items: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def add(self, state: str, item: Pending) -> None:
        now = time.time()
        with self._lock:
            if len(self._items) > 10_000:
                self._items = {k: v for k, v in self._items.items() if now - v.created < PENDING_SECONDS}
            self._items[state] = item

    def pop(self, state: str) -> Pending | None:
        with self._lock:
            item = self._items.pop(state, None)
        if item is None or time.time() - item.created > PENDING_SECONDS:
            return None
        return item


_PENDING = PendingLaunches()


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier (RFC 7636: 43-128 characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _setting(svc: Service, name: str, default: Any = None) -> Any:
    return getattr(svc.settings, name, default)


def _redirect_uri(request: Request, svc: Service) -> str:
    configured = _setting(svc, "smart_redirect_uri")
    if isinstance(configured, str) and configured:
        return configured
    public = _setting(svc, "public_url")
    base = public if isinstance(public, str) and public else str(request.base_url)
    return f"{base.rstrip('/')}/smart/callback"


def _normal_iss(iss: str) -> str:
    return iss.rstrip("/")


def _allowed(svc: Service, iss: str) -> bool:
    allowed = {_normal_iss(x) for x in _setting(svc, "smart_issuers", ()) or ()}
    return _normal_iss(iss) in allowed


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise ApiError(502, f"the EHR's {what} answered {response.status_code}")
    try:
        doc = response.json()
    except ValueError:
        raise ApiError(502, f"the EHR's {what} did not answer JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(502, f"the EHR's {what} did not answer a JSON object")
    return doc


def _https_or_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))


@router.get("/launch", response_model=None)
def launch(request: Request, iss: str | None = None, launch: str | None = None) -> RedirectResponse:
    svc = service(request)
    client_id = _setting(svc, "smart_client_id")
    if not client_id:
        raise ApiError(503, "SMART launch is not configured (no SMART client id)")
    if not iss or not launch:
        raise ApiError(400, "an EHR launch gives iss (the EHR's FHIR base URL) and launch")
    if not _allowed(svc, iss):
        raise ApiError(400, "this EHR (iss) is not on mbcnav's list of SMART issuers")
    iss = _normal_iss(iss)
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            config = _json(http.get(f"{iss}/.well-known/smart-configuration"), "smart-configuration")
    except httpx.HTTPError as exc:
        raise ApiError(502, f"the EHR's smart-configuration cannot be read ({type(exc).__name__})") from None
    authorize, token = config.get("authorization_endpoint"), config.get("token_endpoint")
    if not isinstance(authorize, str) or not isinstance(token, str):
        raise ApiError(502, "the EHR's smart-configuration has no authorization or token endpoint")
    if not (_https_or_local(authorize) and _https_or_local(token)):
        raise ApiError(502, "the EHR's endpoints are not https")
    methods = config.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise ApiError(502, "the EHR does not support PKCE with S256")
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    redirect_uri = _redirect_uri(request, svc)
    _PENDING.add(state, Pending(iss, verifier, token, redirect_uri, time.time()))
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "launch": launch,
        "scope": _setting(svc, "smart_scope") or DEFAULT_SCOPE,
        "state": state,
        "aud": iss,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    sep = "&" if "?" in authorize else "?"
    return RedirectResponse(f"{authorize}{sep}{urlencode(query)}", status_code=302)


def _user(token: dict[str, Any], iss: str) -> str:
    """The launching user: the id_token's fhirUser (else sub), named with the EHR's host."""
    host = urlsplit(iss).netloc
    raw = token.get("id_token")
    claims: dict[str, Any] = {}
    if isinstance(raw, str):
        try:
            claims = jwt.decode(raw, options={"verify_signature": False})
        except jwt.PyJWTError:
            claims = {}
    who = claims.get("fhirUser") or claims.get("sub")
    if isinstance(who, str) and who:
        who = who.split("/_history")[0]
        if who.startswith(("http://", "https://")):
            who = "/".join(who.rstrip("/").split("/")[-2:])
        return f"{host}/{who}"
    return f"{host}/smart-user"


def _fetch_record(http: httpx.Client, iss: str, access_token: str, patient_id: str) -> dict[str, Any]:
    """The patient's record on the EHR's FHIR server as a collection Bundle (the searches of the CDS prefetch)."""
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/fhir+json"}
    entries: list[dict[str, Any]] = []
    for template in PREFETCH.values():
        url = f"{iss}/{template.replace('{{context.patientId}}', quote(patient_id, safe=''))}"
        response = http.get(url, headers=headers)
        if response.status_code in (403, 404) and "?" in url:
            continue  # a search the EHR does not grant: the record is imported without it
        doc = _json(response, "FHIR server")
        entries += [{"resource": loc.resource} for loc in flatten(doc, "smart:")]
    if not any(e["resource"].get("resourceType") == "Patient" for e in entries):
        raise ApiError(502, "the EHR's FHIR server did not return the launch patient")
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


@router.get("/callback", response_model=None)
def callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> RedirectResponse:
    from mbcnav.service.importing import store
    from mbcnav.service.records import document

    svc = service(request)
    pending = _PENDING.pop(state) if state else None
    if pending is None:
        raise ApiError(400, "unknown or expired launch (state): start again from the EHR")
    if error:
        raise ApiError(400, f"the EHR refused the launch: {error} {error_description or ''}".strip()[:300])
    if not code:
        raise ApiError(400, "the EHR sent no authorization code")
    client_id = _setting(svc, "smart_client_id")
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            token = _json(
                http.post(
                    pending.token_endpoint,
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": pending.redirect_uri,
                        "client_id": client_id,
                        "code_verifier": pending.verifier,
                    },
                    headers={"Accept": "application/json"},
                ),
                "token endpoint",
            )
            access_token, patient_id = token.get("access_token"), token.get("patient")
            if not isinstance(access_token, str) or not isinstance(patient_id, str) or not patient_id:
                raise ApiError(502, "the EHR's token response has no access token or no patient")
            headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/fhir+json"}
            patient = _json(
                http.get(f"{pending.iss}/Patient/{quote(patient_id, safe='')}", headers=headers), "FHIR server"
            )
            user = _user(token, pending.iss)
            if svc.registry.revoked(user):
                raise ApiError(403, "this user's access has been revoked")
            rid = registry_patient_id(svc.registry, patient)
            imported = False
            if rid is None:
                bundle = _fetch_record(http, pending.iss, access_token, patient_id)
                try:
                    doc = document(bundle, "fhir")
                except UnusableInput as exc:
                    raise ApiError(502, f"the EHR's record cannot be imported: {exc.message}") from None
                rid = store(
                    svc.registry, doc, subject=user, role="clinician", route=route_template(request), today=svc.today()
                ).id
                imported = True
    except httpx.HTTPError as exc:
        raise ApiError(502, f"the EHR cannot be reached ({type(exc).__name__})") from None
    event = audit_event(
        action="E",
        outcome="0",
        subject=user,
        role="clinician",
        route=route_template(request),
        patient_id=rid,
        subtype="operation",
    )
    if not imported and svc.settings.clinician_scope == "care-team" and not svc.registry.on_care_team(rid, user):
        svc.registry.add_to_care_team(rid, user, event)  # the EHR launched her chart for this user
    elif not imported:
        svc.registry.audit(event, rid)
    session = issue_token(svc.registry.token_secret(), sub=user, role="clinician", hours=SESSION_HOURS)
    response = RedirectResponse(f"/patients/{quote(rid, safe='')}", status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        session,
        httponly=True,
        samesite="lax",  # the callback is reached by a redirect from the EHR: a strict cookie would not be sent
        max_age=SESSION_HOURS * 3600,
        secure=request.url.scheme == "https",
    )
    return response


__all__ = ["DEFAULT_SCOPE", "PendingLaunches", "callback", "launch", "pkce_pair", "router"]
