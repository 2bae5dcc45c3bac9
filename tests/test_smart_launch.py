"""SMART on FHIR EHR launch (mbcnav.service.smart) against a small local test EHR: smart-configuration, authorize
(auto-approves, records the PKCE challenge), token (checks the verifier) and a FHIR endpoint serving the patient."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient

from mbcnav.service import cds_hooks, smart
from mbcnav.service.app import create_app
from mbcnav.service.context import TOKEN_COOKIE
from mbcnav.service.registry import Registry
from tests.test_cds_hooks import PID, TODAY, CdsSettings, record

CLIENT_ID = "mbcnav-test"


# ---- the test EHR -------------------------------------------------------------------------------------------------
@dataclass
class LocalEhr:
    resources: list[dict[str, Any]]
    supports_s256: bool = True
    launches: set[str] = field(default_factory=lambda: {"launch-abc"})
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    base: str = ""
    seen_challenges: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/fhir/.well-known/smart-configuration")
        def configuration() -> dict[str, Any]:
            return {
                "authorization_endpoint": f"{self.base}/auth/authorize",
                "token_endpoint": f"{self.base}/auth/token",
                "code_challenge_methods_supported": ["S256"] if self.supports_s256 else ["plain"],
                "capabilities": ["launch-ehr", "client-public", "context-ehr-patient", "sso-openid-connect"],
            }

        @app.get("/auth/authorize", response_model=None)
        def authorize(request: Request) -> Any:
            q = request.query_params
            problems = []
            if q.get("response_type") != "code" or q.get("client_id") != CLIENT_ID:
                problems.append("client")
            if q.get("launch") not in self.launches:
                problems.append("launch")
            if q.get("aud") != f"{self.base}/fhir":
                problems.append("aud")
            if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) != 43:
                problems.append("pkce")
            if problems:
                return JSONResponse({"error": "invalid_request", "problems": problems}, status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
            self.seen_challenges.append(q["code_challenge"])
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

        @app.post("/auth/token")
        def token(
            grant_type: str = Form(),
            code: str = Form(),
            redirect_uri: str = Form(),
            client_id: str = Form(),
            code_verifier: str = Form(),
        ) -> JSONResponse:
            issued = self.codes.pop(code, None)
            if grant_type != "authorization_code" or issued is None or client_id != CLIENT_ID:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            digest = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != issued["challenge"] or redirect_uri != issued["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE check failed"}, 400)
            access = secrets.token_urlsafe(16)
            self.tokens.add(access)
            id_token = jwt.encode(
                {
                    "iss": f"{self.base}/fhir",
                    "sub": "u-77",
                    "aud": CLIENT_ID,
                    "fhirUser": f"{self.base}/fhir/Practitioner/dr-ward",
                },
                "ehr-secret-not-checked-by-mbcnav",
                algorithm="HS256",
            )
            return JSONResponse(
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": "launch openid fhirUser patient/*.read",
                    "patient": PID,
                    "id_token": id_token,
                }
            )

        @app.get("/fhir/{rtype}/{rid}")
        def read(rtype: str, rid: str, request: Request) -> JSONResponse:
            if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
                return JSONResponse({"resourceType": "OperationOutcome", "issue": []}, status_code=401)
            found = next((r for r in self.resources if r["resourceType"] == rtype and r.get("id") == rid), None)
            return JSONResponse(
                found or {"resourceType": "OperationOutcome", "issue": []}, status_code=200 if found else 404
            )

        @app.get("/fhir/{rtype}")
        def search(rtype: str, request: Request, patient: str = "") -> JSONResponse:
            if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
                return JSONResponse({"resourceType": "OperationOutcome", "issue": []}, status_code=401)
            hits = [r for r in self.resources if r["resourceType"] == rtype]
            return JSONResponse(
                {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in hits]}
            )

        return app


@pytest.fixture
def ehr() -> Iterator[LocalEhr]:
    test_ehr = LocalEhr(record())
    config = uvicorn.Config(test_ehr.app(), host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    test_ehr.base = f"http://127.0.0.1:{port}"
    yield test_ehr
    server.should_exit = True
    thread.join(timeout=5)


@dataclass
class Mbcnav:
    client: TestClient
    registry: Registry


def make_mbcnav(tmp_path: Path, ehr: LocalEhr, **overrides: Any) -> Iterator[Mbcnav]:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    registry = Registry(url)
    values: dict[str, Any] = {
        "db_url": url,
        "trials_db_url": f"sqlite:///{tmp_path / 'trials.db'}",
        "rate_per_second": 0,
        "warm_trials": False,
        "today": TODAY,
        "smart_client_id": CLIENT_ID,
        "smart_issuers": (f"{ehr.base}/fhir",),
    }
    values.update(overrides)
    app = create_app(CdsSettings(**values), registry=registry)
    app.include_router(cds_hooks.router)
    app.include_router(smart.router)
    with TestClient(app) as client:
        yield Mbcnav(client, registry)


@pytest.fixture
def mbcnav(tmp_path: Path, ehr: LocalEhr) -> Iterator[Mbcnav]:
    yield from make_mbcnav(tmp_path, ehr)


def launch(m: Mbcnav, ehr: LocalEhr, launch_id: str = "launch-abc") -> httpx.Response:
    """The EHR launch as a browser runs it: mbcnav -> EHR authorize -> mbcnav callback."""
    r = m.client.get("/smart/launch", params={"iss": f"{ehr.base}/fhir", "launch": launch_id}, follow_redirects=False)
    assert r.status_code == 302, r.text
    authorize = r.headers["location"]
    assert authorize.startswith(f"{ehr.base}/auth/authorize?")
    r = httpx.get(authorize, follow_redirects=False)
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["location"])
    assert back.path == "/smart/callback"
    return m.client.get(f"{back.path}?{back.query}", follow_redirects=False)


# ---- the launch ---------------------------------------------------------------------------------------------------
def test_ehr_launch_imports_the_patient_signs_in_and_opens_her_page(mbcnav: Mbcnav, ehr: LocalEhr) -> None:
    r = mbcnav.client.get(
        "/smart/launch", params={"iss": f"{ehr.base}/fhir", "launch": "launch-abc"}, follow_redirects=False
    )
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["aud"] == [f"{ehr.base}/fhir"] and query["client_id"] == [CLIENT_ID]
    assert "launch" in query["scope"][0] and query["redirect_uri"] == ["http://testserver/smart/callback"]
    assert "code_verifier" not in r.headers["location"]  # the verifier stays on the server

    done = launch(mbcnav, ehr)
    assert done.status_code == 303
    rid = done.headers["location"].removeprefix("/patients/")
    assert mbcnav.registry.patient(rid) is not None
    cookie = done.cookies.get(TOKEN_COOKIE)
    assert cookie
    assert "samesite=lax" in done.headers["set-cookie"].lower() and "httponly" in done.headers["set-cookie"].lower()
    claims = jwt.decode(cookie, options={"verify_signature": False})
    assert claims["mbcnav_role"] == "clinician" and claims["sub"].endswith("/Practitioner/dr-ward")
    mbcnav.client.cookies.clear()
    mbcnav.client.cookies.set(TOKEN_COOKIE, cookie)
    page = mbcnav.client.get(f"/patients/{rid}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # a second launch of the same patient finds her by identifier: no new registry patient
    again = launch(mbcnav, ehr)
    assert again.headers["location"] == f"/patients/{rid}"
    _, total = mbcnav.registry.patients()
    assert total == 1


def test_care_team_scope_adds_the_launching_user(tmp_path: Path, ehr: LocalEhr) -> None:
    for m in make_mbcnav(tmp_path, ehr, clinician_scope="care-team"):
        rid = launch(m, ehr).headers["location"].removeprefix("/patients/")
        assert m.registry.care_team_patients(f"{urlsplit(ehr.base).netloc}/Practitioner/dr-ward") == {rid}


def test_unknown_ehr_is_refused(mbcnav: Mbcnav) -> None:
    r = mbcnav.client.get(
        "/smart/launch", params={"iss": "https://evil.example.org/fhir", "launch": "x"}, follow_redirects=False
    )
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_launch_without_iss_or_launch(mbcnav: Mbcnav) -> None:
    assert mbcnav.client.get("/smart/launch", follow_redirects=False).status_code == 400


def test_not_configured(tmp_path: Path, ehr: LocalEhr) -> None:
    for m in make_mbcnav(tmp_path, ehr, smart_client_id=None):
        r = m.client.get("/smart/launch", params={"iss": f"{ehr.base}/fhir", "launch": "l"}, follow_redirects=False)
        assert r.status_code == 503


def test_ehr_without_s256_is_refused(mbcnav: Mbcnav, ehr: LocalEhr) -> None:
    ehr.supports_s256 = False
    r = mbcnav.client.get(
        "/smart/launch", params={"iss": f"{ehr.base}/fhir", "launch": "launch-abc"}, follow_redirects=False
    )
    assert r.status_code == 502 and "S256" in r.json()["issue"][0]["diagnostics"]


def test_unknown_or_replayed_state_is_refused(mbcnav: Mbcnav, ehr: LocalEhr) -> None:
    assert mbcnav.client.get("/smart/callback?code=x&state=forged", follow_redirects=False).status_code == 400
    r = mbcnav.client.get(
        "/smart/launch", params={"iss": f"{ehr.base}/fhir", "launch": "launch-abc"}, follow_redirects=False
    )
    back = urlsplit(httpx.get(r.headers["location"], follow_redirects=False).headers["location"])
    assert mbcnav.client.get(f"{back.path}?{back.query}", follow_redirects=False).status_code == 303
    assert mbcnav.client.get(f"{back.path}?{back.query}", follow_redirects=False).status_code == 400  # one use


def test_a_wrong_verifier_fails_at_the_token_endpoint(mbcnav: Mbcnav, ehr: LocalEhr) -> None:
    """The test EHR checks the verifier against the challenge: a tampered pending launch cannot get a token."""
    r = mbcnav.client.get(
        "/smart/launch", params={"iss": f"{ehr.base}/fhir", "launch": "launch-abc"}, follow_redirects=False
    )
    state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
    pending = smart._PENDING._items[state]
    smart._PENDING._items[state] = smart.Pending(
        pending.iss, "x" * 64, pending.token_endpoint, pending.redirect_uri, pending.created
    )
    back = urlsplit(httpx.get(r.headers["location"], follow_redirects=False).headers["location"])
    failed = mbcnav.client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert failed.status_code == 502 and "token endpoint" in failed.json()["issue"][0]["diagnostics"]
    assert failed.cookies.get(TOKEN_COOKIE) is None


def test_the_ehr_refusing_the_launch(mbcnav: Mbcnav, ehr: LocalEhr) -> None:
    r = mbcnav.client.get(
        "/smart/launch", params={"iss": f"{ehr.base}/fhir", "launch": "launch-abc"}, follow_redirects=False
    )
    state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
    refused = mbcnav.client.get(f"/smart/callback?error=access_denied&state={state}", follow_redirects=False)
    assert refused.status_code == 400 and "access_denied" in refused.json()["issue"][0]["diagnostics"]


def test_pkce_pair() -> None:
    verifier, challenge = smart.pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert challenge == base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
