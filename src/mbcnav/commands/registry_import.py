"""`mbcnav import`: store records in the service's registry (each import a new version of its patient)."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from mbcnav.commands.serve import DB_HELP
from mbcnav.outcome import EXIT_CODES_HELP


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    i = sub.add_parser(
        "import",
        help="store patient records in the service's registry (each a new version; merged by identifier)",
        epilog=EXIT_CODES_HELP,
    )
    i.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="FHIR R4 JSON (one patient per file) or .yaml case files, or folders of them (each file one patient)",
    )
    i.add_argument("--db", metavar="URL", help=DB_HELP)
    i.add_argument(
        "--as",
        dest="subject",
        metavar="NAME",
        help="who imports, for the audit trail and the care team (default: the login name)",
    )


def run(args: argparse.Namespace) -> int:
    from mbcnav.service.importing import import_cli

    subject = args.subject or f"cli:{getpass.getuser()}"
    return import_cli(list(args.paths), db_url=args.db, subject=subject)
