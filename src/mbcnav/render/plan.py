"""`mbcnav plan` as text: the follow-up plan with due dates, what is overdue and each interval's source (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

KIND_LABEL = {"imaging": "imaging", "lab": "lab", "cardiac": "heart", "review": "review", "vigilance": "watch for"}


def _status(a: dict[str, Any]) -> str:
    if a.get("overdue") is True:
        return f"[bold red]OVERDUE[/bold red] (due {a['due']})"
    if a.get("due"):
        window = f"{a['due_from']} to {a['due']}" if a.get("due_from") else f"by {a['due']}"
        return window + ("" if a.get("evidence_read", True) else " [yellow](not readable: check)[/yellow]")
    return "[dim]no fixed date[/dim]"


def render_plan_text(doc: dict[str, Any], console: Console | None = None) -> None:
    """The plan document of plan_json(): regimen, activities (overdue first), unknowns and the sources cited."""
    con = console or Console(highlight=False)
    patient = doc.get("patient", {}).get("id") or "?"
    con.rule(f"[bold]Follow-up plan[/bold] — patient {escape(patient)} — as of {doc.get('as_of')}")
    con.print(f"Treatment now: {escape(doc.get('regimen', {}).get('text', '?'))}")
    acts = sorted(doc.get("activities", []), key=lambda a: (a.get("overdue") is not True, a.get("due") or "9999"))
    table = Table(show_lines=False, expand=True)
    table.add_column("What", ratio=4)
    table.add_column("How often", ratio=4)
    table.add_column("Due", ratio=3)
    table.add_column("Last done", ratio=2)
    table.add_column("Source", ratio=2)
    for a in acts:
        table.add_row(
            escape(f"[{KIND_LABEL.get(a['kind'], a['kind'])}] {a['what']}"),
            escape(a["interval"]["text"]),
            _status(a),
            escape(a.get("last_done") or "—"),
            escape(a["source"]),
        )
    con.print(table)
    for a in acts:
        if a.get("overdue") is True:
            con.print(f"[red]overdue[/red] {escape(a['what'])}: " + escape("; ".join(a.get("why", []))))
    for u in doc.get("unknowns", []):
        con.print(f"unknown: {escape(u)}", style="yellow")
    for n in doc.get("notes", []):
        con.print(f"note: {escape(n)}", style="dim")
    evidence = doc.get("evidence", {})
    if evidence:
        con.print("[bold]Sources[/bold]")
        for key, e in evidence.items():
            ident = ", ".join(x for x in (f"PMID {e['pmid']}" if e.get("pmid") else "", e.get("doi") or "") if x)
            con.print(f"  {escape(key)}: {escape(e.get('citation', ''))}" + (f" ({escape(ident)})" if ident else ""))
