"""What every route shares: the registry, who is asking, may she see this patient, audit, and evaluations."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from fastapi import Request

from mbcnav.service.audit import Action, Outcome, audit_event
from mbcnav.service.auth import AuthError, Principal, Verifier
from mbcnav.service.errors import ApiError
from mbcnav.service.registry import Registry
from mbcnav.service.settings import Settings

if TYPE_CHECKING:
    from mbcnav.pathway import Evaluation
    from mbcnav.trials.store import TrialStore

log = logging.getLogger("mbcnav.service")
TOKEN_COOKIE = "mbcnav_token"


class Service:
    """One per app: settings, the registry, the token verifier, the trial store (opened when first used)."""

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry or Registry(settings.db_url)
        secret = self.registry.token_secret() if settings.embedded_issuer else None
        self.verifier = Verifier(secret, settings.oidc)
        self._cache: OrderedDict[tuple[str, int, date], Evaluation] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._trials: TrialStore | None = None
        self._trials_lock = threading.Lock()
        self.trials_ready = threading.Event()

    def close(self) -> None:
        self.registry.close()
        if self._trials is not None:
            self._trials.close()

    def today(self) -> date:
        return self.settings.today or date.today()

    # ---- the trial store -----------------------------------------------------------------------------------------
    def trial_store(self) -> TrialStore:
        from mbcnav.trials.migrations import StoreError
        from mbcnav.trials.store import TrialStore

        with self._trials_lock:
            if self._trials is None:
                try:
                    self._trials = TrialStore(self.settings.trials_db_url)
                except StoreError as exc:
                    raise ApiError(503, f"the trial store cannot be opened: {exc}") from None
            return self._trials

    def warm_trials(self) -> None:
        """Parse the stored studies' criteria once (seconds after a load), so the first match is quick."""
        from mbcnav.trials.criteria import fill_parse_cache
        from mbcnav.trials.match import OPEN_STATUSES

        try:
            store = self.trial_store()
            if store.count():
                fill_parse_cache(store, status=list(OPEN_STATUSES), country=None)
        except Exception as exc:  # warming is an optimisation: a failure is logged, the request path still works
            log.warning("trial criteria not pre-parsed: %s", type(exc).__name__)
        finally:
            self.trials_ready.set()

    # ---- evaluations ---------------------------------------------------------------------------------------------
    def evaluation(self, pid: str, as_of: date | None = None) -> tuple[int, Evaluation]:
        """The patient's latest version evaluated as of a date (cached per version and date)."""
        from mbcnav.pathway import evaluate
        from mbcnav.service.records import read_bundle

        stored = self.registry.bundle(pid)
        if stored is None:
            raise ApiError(404, "no such patient")
        version, bundle = stored
        day = as_of or self.today()
        key = (pid, version, day)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return version, hit
        record = read_bundle(bundle, as_of=as_of, today=self.today())
        ev = evaluate(record, as_of=day)
        with self._cache_lock:
            self._cache[key] = ev
            while len(self._cache) > self.settings.evaluation_cache:
                self._cache.popitem(last=False)
        return version, ev


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def bearer(request: Request) -> str | None:
    """The token: `Authorization: Bearer …` (API clients), else the sign-in cookie (the web page)."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("the Authorization header is not 'Bearer <token>'")
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE)


def authenticate(request: Request) -> Principal:
    """Who is asking, or 401. A revoked subject is refused as if the token were invalid."""
    svc = service(request)
    token = bearer(request)
    if not token:
        raise AuthError("sign in: send 'Authorization: Bearer <token>' (`mbcnav auth token` makes one)")
    principal = svc.verifier.verify(token)
    if not svc.registry.seen(principal.subject, principal.role):
        raise AuthError("this user's access has been revoked")
    request.state.principal = principal
    return principal


@dataclass
class Access:
    """A PHI request in progress: who, which patient, and its audit (recorded once, success or failure)."""

    request: Request
    principal: Principal
    action: Action
    route: str
    patient_id: str | None = None
    recorded: bool = False
    version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def audit(self, outcome: Outcome = "0", description: str | None = None, subtype: str | None = None) -> None:
        if self.recorded:
            return
        self.recorded = True
        service(self.request).registry.audit(
            audit_event(
                action=self.action,
                outcome=outcome,
                subject=self.principal.subject,
                role=self.principal.role,
                route=self.route,
                patient_id=self.patient_id,
                version=self.version,
                description=description,
                subtype=subtype,
            ),
            self.patient_id,
        )


def route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "")) or "(unknown route)"


def _refuse(access: Access, status: int, message: str) -> ApiError:
    access.audit("4", message)
    return ApiError(status, message)


def may_read(svc: Service, principal: Principal, pid: str) -> bool:
    """Deny by default: a patient reads her own record; a clinician her care team's (or all, embedded default)."""
    if principal.role == "patient":
        return principal.patient == pid
    if principal.role == "clinician":
        return svc.settings.clinician_scope == "all" or svc.registry.on_care_team(pid, principal.subject)
    return False  # admin (users, audit) and ehr (CDS Hooks only) never read the patient API


def patient_access(request: Request, pid: str, action: Action = "R") -> Access:
    """Authenticate, authorise and find the patient: 401, 403 or 404 (each audited), else the Access to finish."""
    principal = authenticate(request)
    svc = service(request)
    access = Access(request, principal, action, route_template(request), pid)
    request.state.access = access
    if not may_read(svc, principal, pid):
        raise _refuse(access, 403, "not allowed to see this patient's record")
    if svc.registry.patient(pid) is None:
        raise _refuse(access, 404, "no such patient")
    return access


def role_access(request: Request, roles: tuple[str, ...], action: Action = "R", *, audited: bool = True) -> Access:
    """Routes without one patient (the list, imports, audit, users): the role must be one of `roles` (else 403)."""
    principal = authenticate(request)
    access = Access(request, principal, action, route_template(request))
    request.state.access = access
    if principal.role not in roles:
        raise _refuse(access, 403, f"the {principal.role} role may not use this route")
    if not audited:
        access.recorded = True
    return access
