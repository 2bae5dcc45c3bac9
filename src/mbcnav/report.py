"""The readable terminal report of an assessment (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mbcnav.assess import Assessment


def render_assessment(a: Assessment, console: Console | None = None) -> None:
    con = console or Console(highlight=False)
    j = a.to_json()
    p = j["patient"]
    st = j["subtype"]
    con.rule(f"[bold]mbcnav assessment[/bold] — patient {p['id'] or '(no id)'} — as of {j['as_of']}")
    con.print("Decision support, not a decision: every line below shows the facts it used.", style="italic")
    con.print(
        f"[bold]Patient[/bold]   {p['sex']}, born {p['birth_date'] or 'unknown'}, "
        f"menopausal status {p['menopausal_status']}" + (", PREGNANT" if p["pregnant"] else "")
    )
    stage = j["stage"]
    con.print(f"[bold]Stage[/bold]     {stage['group']}  (metastatic: {_yn(j['metastatic'])})")
    con.print(f"          {stage['basis']}", style="dim")
    mfi = j["metastasis_free_interval_months"]
    con.print(
        f"[bold]Presentation[/bold] {j['presentation'].replace('_', ' ')}"
        + (
            f", metastasis-free interval {mfi:g} months"
            + (" (approx.)" if j["metastasis_free_interval_approximate"] else "")
            if mfi is not None
            else ""
        )
    )
    con.print(f"          {j['presentation_basis']}", style="dim")
    con.print(
        f"[bold]Subtype[/bold]   {st['group']}   ER {st['er']}"
        + (f" ({st['er_percent']:g}%)" if st["er_percent"] is not None else "")
        + f", PR {st['pr']}, HER2 {st['her2']} ({st['her2_category'].replace('_', ' ')})"
        + (f", PD-L1 CPS {st['pdl1_cps']:g}" if st["pdl1_cps"] is not None else "")
    )
    con.print(f"          from {st['specimen']}{', ' + st['date'] if st['date'] else ''}", style="dim")
    for d in st["discordance"]:
        con.print(
            f"          [yellow]discordance[/yellow] {d['marker']}: primary {d['primary']} "
            f"({d['primary_date']}) vs metastasis {d['metastasis']} ({d['metastasis_site']}, "
            f"{d['metastasis_date']}) — metastasis result used (ASCO 2015)"
        )
    for n in st["notes"]:
        con.print(f"          note: {n}", style="yellow")
    flags = [
        name
        for name, v in (
            ("bone-only", j["bone_only"]),
            ("visceral", j["visceral"]),
            ("CNS", j["cns"]),
            ("oligometastatic", j["oligometastatic"]),
        )
        if v
    ]
    con.print(
        f"[bold]Sites[/bold]     {', '.join(s.replace('_', ' ') for s in j['sites']) or 'none recorded'}"
        + (f"   ({', '.join(flags)})" if flags else "")
    )
    con.print(f"[bold]Endocrine resistance[/bold] {j['endocrine_resistance'].replace('_', ' ')}")
    for b in j["endocrine_resistance_basis"]:
        con.print(f"          {b}", style="dim")
    con.print(
        f"[bold]ECOG[/bold]      {j['ecog'] if j['ecog'] is not None else 'unknown'}"
        + (f" ({j['ecog_date']})" if j["ecog_date"] else "")
    )
    if j["lines"]:
        t = Table(title="Lines of therapy (metastatic setting)", title_justify="left")
        for col in ("line", "drugs", "start", "end", "stopped because"):
            t.add_column(col)
        for line in j["lines"]:
            t.add_row(
                str(line["number"]),
                ", ".join(line["drugs"]),
                line["start"] or "?",
                line["end"] or ("ongoing" if line["ongoing"] else "?"),
                line["reason_stopped"] or "",
            )
        con.print(t)
    else:
        con.print("[bold]Lines[/bold]     none in the metastatic setting")
    early = [t for t in j["therapies"] if t["setting"] in ("neoadjuvant", "adjuvant")]
    if early:
        con.print(
            "[bold]Early-disease therapy[/bold] "
            + "; ".join(f"{t['drug']} ({t['setting']}, {t['start'] or '?'} to {t['end'] or '?'})" for t in early)
        )
    if j["biomarkers"]:
        con.print(
            "[bold]Biomarkers[/bold] "
            + "; ".join(
                f"{b['gene']} {b['origin']} {b['result']}" + (f" {b['variant']}" if b["variant"] else "")
                for b in j["biomarkers"]
            )
        )
    if j["unknowns"]:
        con.print("[bold]Unknown but matters[/bold]")
        for u in j["unknowns"]:
            con.print(f"  • {u['item']}: {u['why']} → [cyan]{u['action']}[/cyan]")
    if j["conflicts"]:
        con.print("[bold red]Conflicts in the record[/bold red]")
        for c in j["conflicts"]:
            con.print(f"  • {c}")
    if j["input_issues"]:
        con.print(f"[bold]Input issues[/bold] ({len(j['input_issues'])})")
        for i in j["input_issues"][:20]:
            con.print(f"  • {i['location']}: {i['message']}", style="dim")


def _yn(v: bool | None) -> str:
    return "unknown" if v is None else ("yes" if v else "no")
