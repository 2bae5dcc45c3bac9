"""`mbcnav assess PATH`: read a record and state what the disease is, with reasons."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbcnav.assess.config import AssessmentConfig
from mbcnav.commands.common import AS_OF_HELP, FORMAT_HELP, PATH_HELP, PATIENT_HELP, STRICT_HELP, as_of_date
from mbcnav.outcome import EXIT_CODES_HELP, EXIT_OK, fail, read_patient
from mbcnav.record.reader import UnusableInput


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser(
        "assess", help="read a record and state what the disease is, with reasons", epilog=EXIT_CODES_HELP
    )
    a.add_argument("path", type=Path, help=PATH_HELP)
    a.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    a.add_argument("--strict", action="store_true", help=STRICT_HELP)
    a.add_argument("--patient", metavar="ID", help=PATIENT_HELP)
    a.add_argument("--as-of", type=as_of_date, metavar="YYYY-MM-DD", help=AS_OF_HELP)
    a.add_argument(
        "--de-novo-window-months",
        type=float,
        default=AssessmentConfig().de_novo_window_months,
        metavar="N",
        help="months after diagnosis within which metastases count as de novo (default 4, AJCC)",
    )


def run(args: argparse.Namespace) -> int:
    from mbcnav.pathway import evaluate

    if not 0 < args.de_novo_window_months <= 24:
        return fail(UnusableInput("--de-novo-window-months must be between 0 and 24"), args.format)
    try:
        record = read_patient(args.path, strict=args.strict, as_of=args.as_of, patient_id=args.patient)
    except UnusableInput as err:
        return fail(err, args.format)
    evaluation = evaluate(
        record, as_of=args.as_of, config=AssessmentConfig(de_novo_window_months=args.de_novo_window_months)
    )
    if args.format == "json":
        print(json.dumps(evaluation.assessment_json(), indent=2, ensure_ascii=False))
    else:
        from mbcnav.render.assessment import render_assessment

        render_assessment(evaluation.assessment)
    return EXIT_OK
