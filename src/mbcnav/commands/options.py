"""`mbcnav options PATH`: guideline-concordant treatment options for this patient, with evidence."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbcnav.commands.common import AS_OF_HELP, FORMAT_HELP, PATH_HELP, PATIENT_HELP, STRICT_HELP, as_of_date
from mbcnav.outcome import EXIT_CODES_HELP, EXIT_OK, fail, read_patient
from mbcnav.record.reader import UnusableInput


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    o = sub.add_parser(
        "options",
        help="guideline-concordant treatment options for this patient, with evidence",
        epilog=EXIT_CODES_HELP,
    )
    o.add_argument("path", type=Path, help=PATH_HELP)
    o.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    o.add_argument("--strict", action="store_true", help=STRICT_HELP)
    o.add_argument("--patient", metavar="ID", help=PATIENT_HELP)
    o.add_argument("--as-of", type=as_of_date, metavar="YYYY-MM-DD", help=AS_OF_HELP)
    o.add_argument(
        "--visceral-crisis",
        choices=["yes", "no"],
        help="clinician's judgement of visceral crisis (overrides the record)",
    )


def run(args: argparse.Namespace) -> int:
    from mbcnav.pathway import evaluate

    try:
        record = read_patient(args.path, strict=args.strict, as_of=args.as_of, patient_id=args.patient)
    except UnusableInput as err:
        return fail(err, args.format)
    crisis = None if args.visceral_crisis is None else args.visceral_crisis == "yes"
    doc = evaluate(record, as_of=args.as_of, visceral_crisis=crisis).options_json()
    if args.format == "json":
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        from mbcnav.render.options import render_options

        render_options(doc)
    return EXIT_OK
