"""Sign-in: bearer tokens (signed JWTs) from the embedded issuer or an external OpenID Connect issuer, and roles.

Roles (deny by default): clinician (patients of her care team, or all in the embedded default), patient (her own
record only, plain-language views), admin (users and audit, no patient data), ehr (CDS Hooks services only)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt

Role = Literal["clinician", "patient", "admin", "ehr"]
ROLES: tuple[str, ...] = ("clinician", "patient", "admin", "ehr")
EMBEDDED_ISSUER = "urn:mbcnav:embedded"
AUDIENCE = "mbcnav"
ROLE_CLAIM = "mbcnav_role"
PATIENT_CLAIM = "mbcnav_patient"
MAX_TOKEN_HOURS = 24 * 30


class AuthError(Exception):
    """The request's credentials are missing, malformed, expired or untrusted (401)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: the token's subject, role, and (for a patient) the registry id of her record."""

    subject: str
    role: str
    patient: str | None = None
    issuer: str = EMBEDDED_ISSUER


@dataclass(frozen=True)
class OidcIssuer:
    """An external OpenID Connect issuer trusted in deployment: its `iss`, JWKS URL and expected audience."""

    issuer: str
    jwks_url: str
    audience: str = AUDIENCE
    role_claim: str = ROLE_CLAIM
    patient_claim: str = PATIENT_CLAIM


def issue_token(secret: str, *, sub: str, role: str, patient: str | None = None, hours: float = 12) -> str:
    """A token of the embedded issuer (HS256, signed with the registry's secret)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "patient" and not patient:
        raise ValueError("a patient token names the patient's record (--patient ID)")
    if not 0 < hours <= MAX_TOKEN_HOURS:
        raise ValueError(f"--hours must be between 0 and {MAX_TOKEN_HOURS}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": EMBEDDED_ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "nbf": now - 5,
        "exp": now + int(hours * 3600),
        ROLE_CLAIM: role,
    }
    if patient:
        claims[PATIENT_CLAIM] = patient
    return jwt.encode(claims, secret, algorithm="HS256")


class Verifier:
    """Checks bearer tokens: the embedded issuer's (HS256) and, when configured, an OIDC issuer's (by JWKS)."""

    def __init__(self, secret: str | None, oidc: OidcIssuer | None = None, *, leeway: int = 30) -> None:
        self.secret = secret
        self.oidc = oidc
        self.leeway = leeway
        self._jwks: jwt.PyJWKClient | None = None
        if oidc is not None:
            self._jwks = jwt.PyJWKClient(oidc.jwks_url, cache_keys=True, lifespan=3600, timeout=5)

    def verify(self, token: str) -> Principal:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("the token is not a JWT") from None
        iss = unverified.get("iss")
        if iss == EMBEDDED_ISSUER and self.secret is not None:
            if header.get("alg") != "HS256":
                raise AuthError("the token's algorithm is not accepted")
            claims = self._decode(token, self.secret, ["HS256"], EMBEDDED_ISSUER, AUDIENCE)
            return self._principal(claims, ROLE_CLAIM, PATIENT_CLAIM, EMBEDDED_ISSUER)
        if self.oidc is not None and iss == self.oidc.issuer and self._jwks is not None:
            try:
                key = self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWTError as exc:
                raise AuthError(f"the issuer's signing key cannot be found ({type(exc).__name__})") from None
            claims = self._decode(
                token, key, ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"], iss, self.oidc.audience
            )
            return self._principal(claims, self.oidc.role_claim, self.oidc.patient_claim, iss)
        raise AuthError("the token's issuer is not trusted")

    def _decode(self, token: str, key: Any, algorithms: list[str], iss: str, aud: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=iss,
                audience=aud,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"the token is not valid ({type(exc).__name__})") from None
        return claims

    @staticmethod
    def _principal(claims: dict[str, Any], role_claim: str, patient_claim: str, iss: str) -> Principal:
        role = claims.get(role_claim)
        if isinstance(role, list):  # some issuers send roles as a list: the first mbcnav role counts
            role = next((r for r in role if r in ROLES), None)
        if role not in ROLES:
            raise AuthError("the token carries no mbcnav role")
        patient = claims.get(patient_claim)
        if role == "patient" and not isinstance(patient, str):
            raise AuthError("a patient token must name the patient's record")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthError("the token has no subject")
        return Principal(sub, str(role), patient if isinstance(patient, str) else None, iss)


def issue_token_cli(*, db_url: str | None, sub: str, role: str, patient: str | None = None, hours: float = 12) -> int:
    """`mbcnav auth token`: print a token that the service on this database accepts (exit 2 on a user error)."""
    from mbcnav.outcome import EXIT_OK, user_error
    from mbcnav.service.migrations import RegistryError
    from mbcnav.service.registry import Registry

    try:
        registry = Registry(db_url)
    except RegistryError as exc:
        return user_error(str(exc))
    with registry:
        if role == "patient" and patient is not None and registry.patient(patient) is None:
            return user_error(
                f"no patient {patient!r} in the registry (`GET /api/v1/patients` or `mbcnav import` lists ids)"
            )
        try:
            token = issue_token(registry.token_secret(), sub=sub, role=role, patient=patient, hours=hours)
        except ValueError as exc:
            return user_error(str(exc))
    print(token)
    print(
        f"mbcnav: a {role} token for {sub!r}, valid {hours:g} h; send it as 'Authorization: Bearer …'", file=sys.stderr
    )
    return EXIT_OK
