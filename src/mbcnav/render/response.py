"""`mbcnav response` as text: RECIST 1.1 per line of therapy for one patient (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mbcnav.response.engine import ResponseReport


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v:+.1f}%" if pct else f"{v:g}"


def render_response(r: ResponseReport, console: Console | None = None) -> None:
    """One patient's response report: per line, its baseline, targets, time points and best overall response."""
    con = console or Console(highlight=False)
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
