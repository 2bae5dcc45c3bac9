"""`mbcnav chart PATH`: is the metastatic history on the problem list? The findings, each with the FHIR resource to
post. A face (like the modules of mbcnav.commands): it reads PATH, evaluates the patient and prints; the checks
themselves are mbcnav.chart.problems."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from mbcnav.outcome import EXIT_CODES_HELP, EXIT_OK, fail, read_patient
from mbcnav.record.inputs import Located, UnusableInput

_FORMAT_HELP = "text (readable, the default) or json (the versioned contract; an OperationOutcome when unusable)"
_PATH_HELP = (
    "FHIR R4 JSON (Bundle, resource, NDJSON), a .yaml case file, or a folder of such files read together as one "
    "patient (--patient ID picks one when it holds several)"
)


def _as_of_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "chart",
        help="problem-list integrity: metastatic disease, stage and status as other clinicians see them",
        epilog=EXIT_CODES_HELP,
    )
    c.add_argument("path", type=Path, help=_PATH_HELP)
    c.add_argument("--format", choices=["text", "json"], default="text", help=_FORMAT_HELP)
    c.add_argument(
        "--strict",
        action="store_true",
        help="reject the input when any problem is found (default: keep what can be read and list the problems)",
    )
    c.add_argument("--patient", metavar="ID", help="patient id, when the input holds more than one patient")
    c.add_argument(
        "--as-of",
        type=_as_of_date,
        metavar="YYYY-MM-DD",
        help="read the record and its problem list as known on this date (default: today)",
    )


def _resources(path: Path) -> list[Located]:
    """Every resource of PATH as written (the problem list lives in Condition.category, which the Record does not
    keep): a file, or each file of a folder."""
    from mbcnav.outcome import folder_files
    from mbcnav.record.reader import load_resources

    files = folder_files(path) if path.is_dir() else [path]
    out: list[Located] = []
    for f in files:
        try:
            out += load_resources(f)
        except OSError as exc:
            raise UnusableInput(f"{f}: cannot read ({exc.strerror})") from None
    return out


def run_chart(args: argparse.Namespace) -> int:
    from mbcnav.chart.problems import check_problem_list
    from mbcnav.pathway import evaluate

    try:
        record = read_patient(args.path, strict=args.strict, as_of=args.as_of, patient_id=args.patient)
        located = _resources(args.path)
    except UnusableInput as err:
        return fail(err, args.format)
    evaluation = evaluate(record, as_of=args.as_of)
    doc = check_problem_list(located, evaluation.assessment).as_json()
    if args.format == "json":
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        from mbcnav.render.chart import render_chart

        render_chart(doc)
    return EXIT_OK


run = run_chart  # the name every module of mbcnav.commands uses
