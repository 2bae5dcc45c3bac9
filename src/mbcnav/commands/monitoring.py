"""`mbcnav plan` (the follow-up plan) and `mbcnav triage` (a symptom report): parsers and runners."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mbcnav.commands.common import AS_OF_HELP, FORMAT_HELP, PATH_HELP
from mbcnav.commands.common import as_of_date as _as_of_date
from mbcnav.outcome import EXIT_CODES_HELP, EXIT_OK, fail, read_patient
from mbcnav.record.inputs import UnusableInput


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `plan` and `triage` to the command's subparsers (the lead maps them to run_plan and run_triage)."""
    p = sub.add_parser(
        "plan",
        help="the follow-up plan: cited monitoring intervals, due dates and what is overdue",
        epilog=EXIT_CODES_HELP,
    )
    p.add_argument("path", type=Path, help=PATH_HELP)
    p.add_argument(
        "--format", choices=["text", "json", "fhir"], default="text", help=FORMAT_HELP + "; fhir: a CarePlan"
    )
    p.add_argument("--as-of", type=_as_of_date, metavar="YYYY-MM-DD", help=AS_OF_HELP)
    p.add_argument("--patient", metavar="ID", help="patient id, when the input holds more than one patient")
    p.add_argument("--strict", action="store_true", help="reject the input when any problem is found")
    t = sub.add_parser(
        "triage",
        help="triage a symptom report (QuestionnaireResponse): emergency, same day or routine, with reasons",
        epilog=EXIT_CODES_HELP,
    )
    t.add_argument("response", type=Path, metavar="RESPONSE.json", help="a FHIR QuestionnaireResponse (JSON)")
    t.add_argument("--patient", type=Path, required=True, metavar="PATH", help="the patient's record: " + PATH_HELP)
    t.add_argument("--patient-id", metavar="ID", help="patient id, when the record holds more than one patient")
    t.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    t.add_argument("--as-of", type=_as_of_date, metavar="YYYY-MM-DD", help=AS_OF_HELP)


def run_plan(args: argparse.Namespace) -> int:
    from mbcnav.monitoring.plan import build_plan, plan_fhir, plan_json
    from mbcnav.pathway import evaluate

    fmt = "json" if args.format in ("json", "fhir") else "text"
    try:
        record = read_patient(args.path, strict=args.strict, as_of=args.as_of, patient_id=args.patient)
    except UnusableInput as err:
        return fail(err, fmt)
    plan = build_plan(evaluate(record, as_of=args.as_of))
    if args.format == "fhir":
        print(json.dumps(plan_fhir(plan), indent=2, ensure_ascii=False))
    elif args.format == "json":
        print(json.dumps(plan_json(plan), indent=2, ensure_ascii=False))
    else:
        from mbcnav.render.plan import render_plan_text

        render_plan_text(plan_json(plan))
    return EXIT_OK


def read_response_file(path: Path) -> Any:
    """The QuestionnaireResponse of a JSON file: the resource itself, or the only one in a Bundle."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UnusableInput(f"{path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnusableInput(f"{path}: not JSON ({exc})") from None
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        found = [
            e.get("resource")
            for e in data.get("entry", []) or []
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "QuestionnaireResponse"
        ]
        if len(found) != 1:
            raise UnusableInput(f"{path}: the Bundle holds {len(found)} QuestionnaireResponse resources (one expected)")
        return found[0]
    return data


def run_triage(args: argparse.Namespace) -> int:
    from mbcnav.monitoring.questionnaire import read_response
    from mbcnav.monitoring.triage import triage_json
    from mbcnav.pathway import evaluate

    try:
        report = read_response(read_response_file(args.response), where=args.response.name)
        record = read_patient(args.patient, as_of=args.as_of, patient_id=args.patient_id)
    except UnusableInput as err:
        return fail(err, args.format)
    doc = triage_json(report, evaluate(record, as_of=args.as_of))
    if args.format == "json":
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        from mbcnav.render.triage import render_triage_text

        render_triage_text(doc)
    return EXIT_OK


__all__ = ["add_parsers", "read_response_file", "run_plan", "run_triage"]
