"""`mbcnav auth token`: issue an access token for the web service (for a script, an EHR or a first sign-in)."""

from __future__ import annotations

import argparse

from mbcnav.commands.serve import DB_HELP
from mbcnav.outcome import EXIT_CODES_HELP

ROLES = ("clinician", "patient", "admin", "ehr")


def _hours(text: str) -> float:
    """A number of hours above 0 (a fraction allowed: 0.5 is half an hour)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 24 * 366:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"not a number of hours (above 0, at most a year): {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("auth", help="access to the web service: issue tokens", epilog=EXIT_CODES_HELP)
    asub = a.add_subparsers(dest="auth_command", required=True, help="what to do")
    t = asub.add_parser(
        "token", help="issue a signed access token (printed on stdout) for a user and role", epilog=EXIT_CODES_HELP
    )
    t.add_argument("--sub", required=True, metavar="NAME", help="who the token is for (user name or system id)")
    t.add_argument("--role", required=True, choices=ROLES, help="what the holder may do")
    t.add_argument(
        "--patient", metavar="ID", help="the one patient the token gives access to (required with --role patient)"
    )
    t.add_argument("--db", metavar="URL", help=DB_HELP)
    t.add_argument(
        "--hours", type=_hours, default=12.0, metavar="N", help="the token expires after N hours (default 12)"
    )


def argument_problem(args: argparse.Namespace) -> str | None:
    """What argparse cannot say by itself (one option needs another): a user error with the usage, exit 2."""
    if args.role == "patient" and not args.patient:
        return "--role patient needs --patient ID (the patient whose record the token opens)"
    return None


def run(args: argparse.Namespace) -> int:
    from mbcnav.service.auth import issue_token_cli

    return issue_token_cli(db_url=args.db, sub=args.sub, role=args.role, patient=args.patient, hours=args.hours)
