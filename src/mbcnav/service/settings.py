"""How a service instance is configured: databases, trusted issuers, limits (the embedded default needs none)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from mbcnav.service.auth import OidcIssuer
from mbcnav.service.cds_models import CdsClient

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    db_url: str | None = None  # the registry: --db, else $MBCNAV_DATABASE_URL, else SQLite in the user data folder
    trials_db_url: str | None = None  # the trial store: --trials-db, else the trial store's own default
    max_body_bytes: int = 10 * MIB  # one patient's record; a larger body is refused with 413
    rate_per_second: float = 50.0  # per signed-in subject (or client address); 0 turns the limit off
    rate_burst: int = 200
    cors_origins: tuple[str, ...] = ()  # closed by default: no cross-origin reads unless an origin is listed
    oidc: OidcIssuer | None = None  # deployment: an external OpenID Connect issuer, trusted by its JWKS
    embedded_issuer: bool = True  # accept tokens from `mbcnav auth token` (signed with the registry's secret)
    clinician_scope: Literal["all", "care-team"] = "all"  # embedded default: a clinician sees every patient
    today: date | None = None  # tests: evaluate as of this date instead of the real today
    evaluation_cache: int = 256  # evaluations kept in memory (per patient version and date)
    warm_trials: bool = True  # parse the trial store's criteria in the background at start
    alert_webhook: str | None = None  # deliver care-team alerts here too (a FHIR Communication, POSTed as JSON)
    outbox_interval: float = 2.0  # seconds between outbox polls (alerts are also sent at once when stored)
    deliver_alerts: bool = True  # run the outbox dispatcher (tests turn it off to drive it by hand)
    cds_issuers: tuple[CdsClient, ...] = ()  # EHRs whose CDS Hooks JWTs are trusted (issuer, JWKS URL, audience)
    cds_timeout: float = 2.0  # seconds a CDS call may spend fetching from the EHR's FHIR server
    public_url: str | None = None  # the service's address as the EHR sees it (card links, SMART redirect)
    smart_client_id: str | None = None  # SMART on FHIR: this app's client id at the EHR
    smart_issuers: tuple[str, ...] = ()  # SMART on FHIR: EHR FHIR base URLs allowed to launch the app
    smart_scope: str | None = None  # SMART on FHIR: the scopes asked for (default: see service/smart.py)
    smart_redirect_uri: str | None = None  # SMART on FHIR: the registered redirect URI (default public_url + path)
