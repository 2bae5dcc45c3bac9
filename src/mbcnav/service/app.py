"""The service application: API and web page on one app, with access checks, limits, audit and error handling.

`create_app(Settings())` is the embedded default (SQLite in the user data folder, the embedded token issuer).
Later features (CDS Hooks, monitoring, second opinion) add routers with `app.include_router`; the core below
(who asks, may she, audit, errors, limits) applies to them unchanged."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mbcnav import __version__
from mbcnav.service import api, cds_hooks, monitoring_routes, smart, summary_routes
from mbcnav.service.audit import audit_event
from mbcnav.service.auth import AuthError
from mbcnav.service.context import TOKEN_COOKIE, Service, route_template
from mbcnav.service.errors import (
    ApiError,
    api_error_handler,
    http_error_handler,
    outcome_response,
    validation_error_handler,
)
from mbcnav.service.registry import Registry
from mbcnav.service.settings import Settings

log = logging.getLogger("mbcnav.service")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    ),
]


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class Limits:
    """Per-caller token buckets: `rate` requests a second, bursts up to `burst` (0 turns the limit off)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                if len(self._buckets) > 100_000:  # bounded memory under a flood of distinct callers
                    self._buckets.clear()
                b = self._buckets[key] = _Bucket(float(self.burst), now)
            b.tokens = min(self.burst, b.tokens + (now - b.stamp) * self.rate)
            b.stamp = now
            if b.tokens < 1:
                return False
            b.tokens -= 1
            return True


def _subject(token: str) -> str | None:
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return sub if isinstance(sub, str) else None


def _caller(scope: Scope) -> str:
    """The rate-limit key: the token's subject from the Authorization header or the web page's sign-in cookie (read
    without verifying: only to count), else the client address."""
    token = None
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            token = value.decode("latin-1").partition(" ")[2].strip()
        elif name == b"cookie" and token is None:
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == TOKEN_COOKIE:
                    token = val.strip()
    sub = _subject(token) if token else None
    if sub is not None:
        return "sub:" + sub
    client = scope.get("client")
    return "addr:" + (client[0] if client else "?")


class Guard:
    """Outermost layer: rate limit (429), security headers, and one log line per request with the route template
    (never the URL: it holds patient ids), status and time — no patient data in logs."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        if scope.get("path") != "/healthz" and not self.limits.allow(_caller(scope)):
            response = outcome_response(429, "too many requests: slow down", headers={"Retry-After": "1"})
            await response(scope, receive, send)
            log.info("%s (rate limited) 429", scope.get("method"))
            return

        started = False

        async def send_wrapped(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = list(message.get("headers", [])) + _SECURITY_HEADERS
            await send(message)

        try:
            await self.app(scope, receive, send_wrapped)
        except Exception as exc:  # a defect in mbcnav: an OperationOutcome, no traceback, no patient data in the log
            status = 500
            log.error("internal error: %s", type(exc).__name__)
            await _audit_failure(scope, exc)
            if not started:
                response = outcome_response(500, f"internal error ({type(exc).__name__}); please report it")
                await response(scope, receive, send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(no route)"
            log.info("%s %s %d %.1f ms", scope.get("method"), template, status, (time.perf_counter() - start) * 1000)


def _auth_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    route = route_template(request)
    if route.startswith("/api/v1/"):  # a refused attempt on the API (patient data, work list, audit) is audited too
        svc: Service = request.app.state.service
        pid = request.path_params.get("id")
        known = pid if isinstance(pid, str) and svc.registry.patient(pid) is not None else None
        svc.registry.audit(
            audit_event(
                action="C" if request.method == "POST" else "R",
                outcome="4",
                subject="(unauthenticated)",
                role="none",
                route=route,
                patient_id=known,
                description=str(exc),
            ),
            known,  # so that an admin finds the attempts on a patient's record with ?patient=
        )
    return outcome_response(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="mbcnav"'})


async def _auth_handler(request: Request, exc: Exception) -> JSONResponse:
    from fastapi.concurrency import run_in_threadpool

    return await run_in_threadpool(_auth_error_handler, request, exc)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    access = getattr(request.state, "access", None)
    if access is not None and not access.recorded and isinstance(exc, ApiError):
        from fastapi.concurrency import run_in_threadpool

        await run_in_threadpool(access.audit, "4" if exc.status < 500 else "8", exc.message)
    return await api_error_handler(request, exc)


async def _audit_failure(scope: Scope, exc: Exception) -> None:
    access = (scope.get("state") or {}).get("access")
    if access is None or access.recorded:
        return
    from fastapi.concurrency import run_in_threadpool

    try:
        await run_in_threadpool(access.audit, "8", f"internal error ({type(exc).__name__})")
    except Exception:  # the audit store itself failing must not hide the original error
        log.error("audit not recorded for a failed request")


def create_app(settings: Settings | None = None, *, registry: Registry | None = None) -> FastAPI:
    """The app: /api/v1 (JSON), the web page (/), /healthz, /openapi.json."""
    settings = settings or Settings()
    svc = Service(settings, registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.warm_trials:
            threading.Thread(target=svc.warm_trials, name="mbcnav-warm-trials", daemon=True).start()
        if settings.deliver_alerts:
            app.state.dispatcher.start()
        yield
        app.state.dispatcher.stop()
        svc.close()

    app = FastAPI(
        title="mbcnav",
        version=__version__,
        summary="Decision support for metastatic breast cancer: patients over time, options, response, trials.",
        description="Every patient route checks the caller's token and role and records a FHIR AuditEvent. "
        "Errors are FHIR OperationOutcome resources. See docs/api.md.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = svc
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(AuthError, _auth_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)

    @app.get("/healthz", tags=["service"], summary="Liveness and the registry's schema version (no patient data)")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "registry_schema": svc.registry.schema_version}

    app.include_router(api.router)
    monitoring_routes.install(app)
    app.include_router(summary_routes.router)
    app.include_router(cds_hooks.router)
    app.include_router(smart.router)
    from mbcnav.service import web

    web.install(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(Guard, limits=Limits(settings.rate_per_second, settings.rate_burst))
    return app
