"""`mbcnav response`: one patient (text or JSON, optional plots) or a folder of patients (cohort + waterfall)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import track
from rich.table import Table

from mbcnav.record.reader import UnusableInput, read_path
from mbcnav.response.engine import ResponseReport, assess_with_response


def _one(path: Path, args: argparse.Namespace, today: date) -> ResponseReport:
    record = read_path(path, strict=args.strict, today=today)
    _, report = assess_with_response(record, as_of=today, baseline=args.baseline)
    return report


def _cohort_files(path: Path) -> list[Path] | None:
    """A folder is a cohort when it holds several patient files; a folder of loose resources is one patient."""
    if not path.is_dir():
        return None
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".ndjson", ".yaml", ".yml"))
    try:
        read_path(path, today=date.today())
        return None
    except UnusableInput as err:
        if "different patients" in err.message or any(p.suffix in (".yaml", ".yml") for p in files):
            return files
        raise


def run_response(args: argparse.Namespace) -> int:
    from mbcnav.cli import EXIT_OK, fail

    today = args.as_of or date.today()
    try:
        cohort = _cohort_files(args.path)
        if cohort is None:
            reports = [_one(args.path, args, today)]
        else:
            reports = []
            errors = []
            for f in track(
                cohort, description="RECIST per patient", console=Console(stderr=True), disable=not sys.stderr.isatty()
            ):
                try:
                    reports.append(_one(f, args, today))
                except UnusableInput as err:
                    errors.append(f"{f.name}: {err.message}")
            for e in errors:
                print(f"mbcnav: skipped {e}", file=sys.stderr)
    except UnusableInput as err:
        return fail(err, args.format)
    if args.format == "json":
        doc = (
            reports[0].as_json()
            if cohort is None
            else {"schema_version": "1.0", "patients": [r.as_json() for r in reports]}
        )
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        con = Console(highlight=False)
        for r in reports if cohort is None else reports[:50]:
            render_report(r, con)
        if cohort is not None and len(reports) > 50:
            con.print(f"… {len(reports) - 50} more patients (use --format json)")
    sys.stdout.flush()
    if args.plot:
        from mbcnav.response import plots

        written: list[Path] = []
        if cohort is None:
            written += plots.spider(reports[0], args.plot)
            written += plots.swimmer(reports[0], args.plot, today=today)
        else:
            written += plots.waterfall(reports, args.plot)
        for p in written:
            print(f"plot written: {p}", file=sys.stderr)
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
            for col in ("date", "sum mm", "vs baseline", "vs nadir", "target", "non-target", "new", "overall"):
                t.add_column(col)
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
        bor = f"  best overall response: [bold]{line.best_overall_response}[/bold]"
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
