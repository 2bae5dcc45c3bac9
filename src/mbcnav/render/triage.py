"""`mbcnav triage` as text: the level, what to do now, the reasons and the rules that decided (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

STYLE = {"emergency": "bold white on red", "same_day": "bold black on yellow", "routine": "bold white on green"}


def render_triage_text(doc: dict[str, Any], console: Console | None = None) -> None:
    """The triage document of triage_json(): advice first (plain language), then reasons and cited rules."""
    con = console or Console(highlight=False)
    level = doc.get("level", "routine")
    con.print(f"[{STYLE.get(level, 'bold')}] {escape(doc.get('title', level))} [/] ({level})")
    con.print(escape(doc.get("advice", "")))
    con.print("[bold]Why[/bold]")
    for r in doc.get("reasons", []):
        con.print(f"  • {escape(r)}")
    if doc.get("unanswered_red_flags"):
        con.print(
            "Not answered (red-flag questions): " + escape(", ".join(doc["unanswered_red_flags"])), style="yellow"
        )
    if doc.get("rules"):
        con.print("[bold]Rules[/bold] (triage.yaml; sources in evidence.yaml)", style="dim")
        for rule in doc["rules"]:
            con.print(
                f"  {escape(rule['id'])} → {rule['level']} [{escape(rule['basis'])}] "
                f"{escape(', '.join(rule['sources']))}",
                style="dim",
            )
    con.print("Decision support, not a decision: if you are worried, call your team whatever this says.", style="dim")
