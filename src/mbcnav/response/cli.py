"""`mbcnav response`: one patient (text or JSON, optional plots) or a folder of patients (cohort + waterfall)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mbcnav.outcome import (
    EXIT_OK,
    EXIT_PARTIAL,
    Cohort,
    OutputError,
    fail,
    output_error,
    read_patients,
    writable_folder,
)
from mbcnav.record.model import Record
from mbcnav.record.reader import UnusableInput
from mbcnav.response.engine import SCHEMA_VERSION, ResponseReport, assess_with_response

MAX_TEXT_PATIENTS = 50


def _report(record: Record, args: argparse.Namespace, today: date) -> ResponseReport:
    _, report = assess_with_response(record, as_of=today, baseline=args.baseline)
    return report


def run_response(args: argparse.Namespace) -> int:
    """One patient, or a cohort (a folder of several patients: each file read on its own; a file that cannot be
    read is reported, the others are still evaluated, and the exit code is 1)."""
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
                reports.append(_report(record, args, today))
                progress.advance(recist)
        else:
            reports.append(_report(read, args, today))
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
        con = Console(highlight=False)
        for r in reports[:MAX_TEXT_PATIENTS]:
            render_report(r, con)
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


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v:+.1f}%" if pct else f"{v:g}"


def render_report(r: ResponseReport, con: Console) -> None:
    con.rule(f"[bold]RECIST 1.1 response[/bold] — patient {escape(r.patient_id or '?')}")
    for note in r.notes:
        con.print(f"note: {escape(note)}", style="yellow")
    for line in r.lines:
        head = (
            f"[bold]Line {line.line}[/bold] ({escape(', '.join(line.drugs))}) from {line.start} — "
            f"baseline {line.baseline_date or 'none'}"
        )
        if line.baseline_sum is not None:
            head += f", sum of target diameters {line.baseline_sum:g} mm"
        con.print(head)
        if line.targets:
            con.print(
                "  targets: " + escape("; ".join(f"{t.lesion_id} {t.site} {s:g} mm" for t, s in line.targets)),
                style="dim",
            )
        if line.non_targets:
            con.print(
                "  non-targets: " + escape("; ".join(f"{n.lesion_id} {n.site}" for n in line.non_targets)), style="dim"
            )
        if line.timepoints:
            t = Table(show_edge=False, pad_edge=False)
            # fold, never an ellipsis: a cut "non-CR/no…" would change the meaning
            # (headers short enough for 80 columns: sum = sum of target diameters in mm, % change vs baseline/nadir)
            for col in ("date", "sum", "vs base", "vs nadir", "target", "non-target", "new", "overall"):
                t.add_column(col, overflow="fold", no_wrap=col != "overall")
            for tp in line.timepoints:
                t.add_row(
                    tp.date.isoformat(),
                    _fmt(tp.sum_mm),
                    _fmt(tp.change_from_baseline_pct, True),
                    _fmt(tp.change_from_nadir_pct, True),
                    tp.target or "—",
                    tp.non_target or "—",
                    "yes" if tp.new_lesions else "no",
                    f"[bold]{tp.overall}[/bold]"
                    + (f" ({tp.overall_detail})" if tp.overall_detail not in (tp.overall,) else ""),
                )
            con.print(t)
        bor = f"  best overall response: [bold]{line.best_overall_detail}[/bold]"
        bor += (
            " (confirmed)"
            if line.confirmed
            else (" (unconfirmed)" if line.best_overall_response in ("CR", "PR") else "")
        )
        if line.progression_date:
            bor += f"; progression {line.progression_date}"
        if line.duration_of_response_days is not None:
            bor += f"; duration of response {line.duration_of_response_days} days"
        con.print(bor)
        for note in line.notes:
            con.print(f"  note: {escape(note)}", style="yellow")
