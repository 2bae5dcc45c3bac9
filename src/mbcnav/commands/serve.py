"""`mbcnav serve`: the web service (API and pages) — the same pathway and renderers as the command line."""

from __future__ import annotations

import argparse

from mbcnav.outcome import EXIT_CODES_HELP

DB_HELP = "the service's database URL (default: $MBCNAV_DATABASE_URL, else SQLite in the user data folder)"


def _cds_issuer(text: str) -> tuple[str, str, str | None]:
    """ISS=JWKS_URL[,AUD] (an EHR trusted to call the CDS services)."""
    iss, sep, rest = text.partition("=")
    jwks, _, aud = rest.partition(",")
    if not sep or not iss.strip() or not jwks.strip().startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"not ISS=JWKS_URL[,AUD]: {text!r}")
    return iss.strip(), jwks.strip(), aud.strip() or None


def _port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port (0-65535): {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "serve", help="run the web service (API and pages) for clinicians, patients and EHRs", epilog=EXIT_CODES_HELP
    )
    s.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine)")
    s.add_argument("--port", type=_port, default=8000, metavar="PORT", help="the port to listen on (default 8000)")
    s.add_argument("--db", metavar="URL", help=DB_HELP)
    s.add_argument(
        "--trials-db",
        metavar="URL",
        help="the trial store URL (default: as for `mbcnav trials`: $MBCNAV_DATABASE_URL, else SQLite in the user "
        "data folder)",
    )
    s.add_argument(
        "--oidc-issuer",
        metavar="URL",
        help="deployment: trust tokens of this OpenID Connect issuer (its `iss`), checked with its JWKS",
    )
    s.add_argument("--oidc-jwks-url", metavar="URL", help="the issuer's JWKS URL (required with --oidc-issuer)")
    s.add_argument("--oidc-audience", default="mbcnav", metavar="AUD", help="the `aud` the issuer's tokens must carry")
    s.add_argument(
        "--no-embedded-issuer",
        action="store_true",
        help="refuse tokens of `mbcnav auth token` (deployment behind an OpenID Connect issuer)",
    )
    s.add_argument(
        "--clinician-scope",
        choices=["all", "care-team"],
        default="all",
        help="which patients a clinician sees: all (the embedded default) or her care team's",
    )
    s.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow cross-origin reads from this origin (repeatable; default: none, CORS closed)",
    )
    s.add_argument(
        "--cds-issuer",
        action="append",
        default=[],
        type=_cds_issuer,
        metavar="ISS=JWKS_URL[,AUD]",
        help="an EHR whose CDS Hooks JWTs are trusted: its `iss`, its JWKS URL and optionally the CDS base URL it "
        "calls (the JWT `aud`) (repeatable)",
    )
    s.add_argument("--public-url", metavar="URL", help="the service's address as EHRs see it (card links, SMART)")
    s.add_argument("--smart-client-id", metavar="ID", help="SMART on FHIR: this app's client id at the EHR")
    s.add_argument(
        "--smart-issuer",
        action="append",
        default=[],
        metavar="URL",
        help="SMART on FHIR: an EHR FHIR base URL allowed to launch the app (repeatable)",
    )
    s.add_argument(
        "--no-sign-in-link",
        action="store_true",
        help="do not print the sign-in link at start (by default, when the service issues its own tokens: a link "
        "that signs in as a clinician for 12 hours)",
    )


def argument_problem(args: argparse.Namespace) -> str | None:
    """What argparse cannot say by itself (one option needs another): a user error with the usage, exit 2."""
    if bool(args.oidc_issuer) != bool(args.oidc_jwks_url):
        return "--oidc-issuer and --oidc-jwks-url go together"
    if args.no_embedded_issuer and not args.oidc_issuer:
        return "--no-embedded-issuer needs --oidc-issuer (else no token would be accepted)"
    return None


def run(args: argparse.Namespace) -> int:
    from mbcnav.service.auth import OidcIssuer
    from mbcnav.service.cds_models import CdsClient
    from mbcnav.service.server import serve
    from mbcnav.service.settings import Settings

    oidc = OidcIssuer(args.oidc_issuer, args.oidc_jwks_url, args.oidc_audience) if args.oidc_issuer else None
    settings = Settings(
        db_url=args.db,
        trials_db_url=args.trials_db,
        oidc=oidc,
        embedded_issuer=not args.no_embedded_issuer,
        clinician_scope=args.clinician_scope,
        cors_origins=tuple(args.cors_origin),
        cds_issuers=tuple(CdsClient(iss, jwks, aud) for iss, jwks, aud in args.cds_issuer),
        public_url=args.public_url,
        smart_client_id=args.smart_client_id,
        smart_issuers=tuple(args.smart_issuer),
    )
    return serve(host=args.host, port=args.port, sign_in_link=not args.no_sign_in_link, settings=settings)
