"""`mbcnav response PATH`: one patient (text or JSON, optional plots) or a folder of patients (cohort + waterfall)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from mbcnav.commands.common import AS_OF_HELP, FORMAT_HELP, PATIENT_HELP, STRICT_HELP, as_of_date
from mbcnav.outcome import (
    EXIT_CODES_HELP,
    EXIT_OK,
    EXIT_PARTIAL,
    Cohort,
    OutputError,
    fail,
    output_error,
    read_patients,
    writable_folder,
)
from mbcnav.record.reader import UnusableInput

MAX_TEXT_PATIENTS = 50


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "response",
        help="RECIST 1.1 response per line of therapy, with spider/swimmer plots; "
        "a folder of patient files gives a cohort waterfall plot",
        epilog=EXIT_CODES_HELP,
    )
    r.add_argument(
        "path",
        type=Path,
        help="one patient (as for assess), or a folder of several patients' files: a cohort (one report per "
        "patient; a file that cannot be read is reported and skipped, and the exit code is 1)",
    )
    r.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    r.add_argument("--baseline", type=as_of_date, metavar="YYYY-MM-DD", help="use this assessment date as the baseline")
    r.add_argument("--plot", type=Path, metavar="DIR", help="write PNG and SVG plots into DIR (created if needed)")
    r.add_argument("--as-of", type=as_of_date, metavar="YYYY-MM-DD", help=AS_OF_HELP)
    r.add_argument("--strict", action="store_true", help=STRICT_HELP)
    r.add_argument("--patient", metavar="ID", help=PATIENT_HELP + " (in a folder: only that patient)")


def run(args: argparse.Namespace) -> int:
    """One patient, or a cohort (a folder of several patients: each file read on its own; a file that cannot be
    read is reported, the others are still evaluated, and the exit code is 1)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mbcnav.pathway import evaluate
    from mbcnav.response.engine import SCHEMA_VERSION

    today = args.as_of or date.today()
    if args.plot is not None:
        try:
            writable_folder(args.plot)  # before any work: a file or a read-only folder is said at once
        except OutputError as err:
            return fail(err, args.format)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
        transient=True,
    )
    with progress:
        reading = progress.add_task("reading files", total=None)
        try:
            read = read_patients(
                args.path,
                strict=args.strict,
                as_of=args.as_of,
                patient_id=args.patient,
                on_file=lambda done, total: progress.update(reading, completed=done, total=total),
            )
        except UnusableInput as err:
            progress.stop()
            return fail(err, args.format)
        problems = read.problems if isinstance(read, Cohort) else []
        reports = []
        if isinstance(read, Cohort):
            recist = progress.add_task("RECIST per patient", total=len(read.records))
            for _, record in read.records:
                reports.append(evaluate(record, as_of=today, baseline=args.baseline).response)
                progress.advance(recist)
        else:
            reports.append(evaluate(read, as_of=today, baseline=args.baseline).response)
    if isinstance(read, Cohort) and not reports:
        return fail(UnusableInput(f"{args.path}: no patient in the folder could be read", problems), args.format)
    written: list[Path] = []
    if args.plot is not None:
        from mbcnav.response import plots

        try:
            if isinstance(read, Cohort):
                written += plots.waterfall(reports, args.plot)
            else:
                written += plots.spider(reports[0], args.plot)
                written += plots.swimmer(reports[0], args.plot, today=today)
        except OSError as exc:
            return fail(output_error(args.plot, exc), args.format)
    if args.format == "json":
        doc = (
            reports[0].as_json()
            if not isinstance(read, Cohort)
            else {
                "schema_version": SCHEMA_VERSION,
                "patients": [r.as_json() for r in reports],
                "problems": [{"file": p.location, "message": p.message} for p in problems],
            }
        )
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        from mbcnav.render.response import render_response

        con = Console(highlight=False)
        for r in reports[:MAX_TEXT_PATIENTS]:
            render_response(r, con)
        if len(reports) > MAX_TEXT_PATIENTS:
            con.print(f"… {len(reports) - MAX_TEXT_PATIENTS} more patients (use --format json)")
    sys.stdout.flush()
    for w in written:
        print(f"plot written: {w}", file=sys.stderr)
    if problems:
        print(
            f"mbcnav: {len(problems)} problem(s) in the cohort; {len(reports)} patient(s) evaluated:",
            file=sys.stderr,
        )
        for p in problems[:MAX_TEXT_PATIENTS]:
            print(f"  {p.location}: {p.message}", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK
