"""`mbcnav options` as text: the options for one patient, read from the JSON contract document (docs/options.md)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

_TIER_STYLE = {"preferred": "bold green", "recommended": "green", "consider": "yellow"}


def render_options(doc: dict[str, Any], console: Console | None = None) -> None:
    """The options document (`OptionsResult.as_json`): offered, not offered, tests, referrals."""
    con = console or Console(highlight=False)
    s = doc["summary"]
    con.rule(
        f"[bold]mbcnav options[/bold] — patient {escape(str(doc['patient']))} — knowledge base "
        f"{doc['kb']['version']} (reviewed {doc['kb']['reviewed']})"
    )
    con.print(
        escape(
            f"Stage {s['stage']}, {s['presentation'].replace('_', ' ')}, {s['subtype']} (HER2 {s['her2']}), "
            f"sites: {', '.join(s['sites']) or 'none recorded'}, endocrine resistance "
            f"{s['endocrine_resistance']}, lines so far {s['lines_so_far']}, ECOG {s['ecog']}, menopausal status "
            f"{s.get('menopausal_status', 'unknown')}, visceral crisis {s.get('visceral_crisis', 'unknown')}"
        )
    )
    con.print(doc["disclaimer"], style="italic")
    for n in doc["notes"]:
        con.print(f"note: {escape(n)}", style="yellow")
    con.print("\n[bold]Options to discuss[/bold]")
    for o in doc["options"]:
        con.print(f"• [{_TIER_STYLE[o['tier']]}]{o['tier'].upper()}[/] {escape(o['title'])}")
        con.print(f"    regimen: {escape(o['regimen'])}", style="dim")
        for line in component_lines(o):
            con.print(f"    {escape(line)}")
        con.print(f"    why: {escape('; '.join(dict.fromkeys(o['why'])))}")
        for c in o["cautions"]:
            con.print(f"    caution: {escape(c)}", style="yellow")
        for e in o["evidence"]:
            res = e["result"] or "(result not quoted: see publication)"
            ident = f"PMID {e['pmid']}" if e["pmid"] else (f"doi:{e['doi']}" if e["doi"] else "")
            con.print(
                f"    evidence: {escape(e['trial'])} — {escape(res)} — {escape(e['citation'])} {ident}", style="dim"
            )
        for g in o["source"]:
            con.print(f"    guideline: {escape(g['guideline'])}", style="dim")
        if o.get("regulatory"):
            con.print(f"    regulatory: {escape(o['regulatory'])}", style="dim")
        for line in approval_lines(o):
            con.print(f"    {escape(line)}", style="dim")
    if doc["not_offered"]:
        con.print("\n[bold]Not offered now[/bold]")
        for o in doc["not_offered"]:
            con.print(f"• {escape(o['title'])}: {escape('; '.join(o['why_not']))}")
    if doc["tests_recommended"]:
        con.print("\n[bold]Tests that would change the answer[/bold]")
        for t in doc["tests_recommended"]:
            con.print(f"• {escape(t['test'])} — {escape(t['why'])}")
    if doc["referrals"]:
        con.print("\n[bold]Referrals[/bold]")
        for r in doc["referrals"]:
            style = "bold red" if r["urgency"] == "urgent" else ""
            con.print(f"• [{style or 'default'}]{r['to'].replace('_', ' ')} ({r['urgency']})[/] — {escape(r['why'])}")


def component_lines(option: dict[str, Any]) -> list[str]:
    """'+ ovarian suppression: goserelin | leuprolide | ...' — one line per part of the regimen (one drug from each)."""
    out = []
    for i, c in enumerate(option.get("components", [])):
        lead = "take" if i == 0 else "+"
        extra = " (optional)" if c.get("optional") else ""
        note = f" — {c['note']}" if c.get("note") else ""
        out.append(f"{lead} {c['role'].replace('_', ' ')}{extra}: {' | '.join(c['alternatives'])}{note}")
    if not out and option.get("modality", "systemic") != "systemic":
        out.append(f"modality: {option['modality']}")
    return out


def approval_lines(option: dict[str, Any]) -> list[str]:
    out = []
    for a in option.get("approval", []):
        parts = []
        for region, label in (("fda", "FDA"), ("ema", "EU")):
            r = a.get(region) or {}
            if r:
                parts.append(f"{label} {r.get('status', 'not confirmed')}" + (f" {r['date']}" if r.get("date") else ""))
        out.append(f"label: {a['product'].replace('_', ' ')} — {', '.join(parts)}")
    return out
