"""`mbcnav assess` as text: the readable terminal report of an assessment (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mbcnav.assess import Assessment
from mbcnav.assess.labs import display_number
from mbcnav.assess.therapy import Line
from mbcnav.record.fhir import AS_OF_LOCATION


def _yn(v: bool | None) -> str:
    return "unknown" if v is None else ("yes" if v else "no")


def _fact(main: str, *why: str) -> Group:
    """A finding in bold-free text with its reasons dimmed underneath."""
    parts: list[Any] = [Text.from_markup(main)]
    parts += [Text(w, style="dim") for w in why if w]
    return Group(*parts)


_WHY = {"patient_choice": "patient choice", "other": "another reason"}


def line_stops(line: Line) -> str:
    """Why a line stopped; for a line still going, which drug stopped (when, why) and which go on — e.g.
    "nab-paclitaxel stopped 2024-05-02 for toxicity; pembrolizumab ongoing"."""
    if not line.ongoing:
        return (line.reason_stopped or "").replace("_", " ")
    stopped = line.drugs_stopped()
    if not stopped:
        return ""
    names = {s["drug"] for s in stopped}
    going_on = [d for d in dict.fromkeys(c.drug for c in line.courses) if d not in names]
    said = [
        f"{s['drug']} completed {s['end']}"
        if s["reason"] == "completed"
        else f"{s['drug']} stopped {s['end']}" + (f" for {_WHY.get(s['reason'], s['reason'])}" if s["reason"] else "")
        for s in stopped
    ]
    return "; ".join(said + ([f"{', '.join(going_on)} ongoing"] if going_on else []))


def render_assessment(a: Assessment, console: Console | None = None) -> None:
    """The assessment, finding by finding with its reasons (default console: standard output)."""
    con = console or Console(highlight=False)
    j = a.to_json()
    p = j["patient"]
    st = j["subtype"]
    con.rule(f"[bold]mbcnav assessment[/bold] — patient {escape(p['id'] or '(no id)')} — as of {j['as_of']}")
    con.print("Decision support, not a decision: each finding shows the facts it used.", style="italic")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")  # wrap at words, fold a long word: never an ellipsis that hides meaning
    grid.add_row(
        "Patient",
        escape(f"{p['sex']}, born {p['birth_date'] or 'unknown'}")
        + (" — [bold red]PREGNANT[/bold red]" if p["pregnant"] else ""),
    )
    meno = j.get("menopause") or {}
    if meno and meno.get("status") != "not_applicable":
        grid.add_row("Menopausal status", _fact(escape(meno["status"]), escape(meno.get("basis") or "")))
    stage = j["stage"]
    grid.add_row("Stage", _fact(f"{stage['group']} (metastatic: {_yn(j['metastatic'])})", escape(stage["basis"])))
    mfi = j["metastasis_free_interval_months"]
    pres = j["presentation"].replace("_", " ")
    if mfi is not None:
        pres += f", metastasis-free interval {mfi:g} months"
        if j["metastasis_free_interval_approximate"]:
            pres += " (approx., partial dates)"
    grid.add_row("Presentation", _fact(pres, escape(j["presentation_basis"])))
    after = [
        f"on {r['label']} ({r['drug']})"
        if r["on_treatment"]
        else f"{'~' if r['approximate'] else ''}{r['months']:g} months after {r['label']} "
        f"({r['drug']}, ended {r['ended']})"
        for r in j.get("relapse_after_early_treatment") or []
    ]
    if after:
        grid.add_row("Relapse", escape("; ".join(after)))
    sub = (
        f"{st['group']} — ER {st['er']}"
        + (f" ({st['er_percent']:g}%)" if st["er_percent"] is not None else "")
        + f", PR {st['pr']}, HER2 {st['her2']} ({st['her2_category'].replace('_', ' ')})"
        + (f", PD-L1 CPS {st['pdl1_cps']:g}" if st["pdl1_cps"] is not None else "")
    )
    why = [f"from {st['specimen_dated']}"]
    why += [
        f"discordance {d['marker']}: primary {d['primary']} ({d['primary_date']}) vs metastasis "
        f"{d['metastasis']} ({d['metastasis_site']}, {d['metastasis_date']}); metastasis result used (ASCO 2015)"
        for d in st["discordance"]
    ]
    why += [f"note: {n}" for n in st["notes"]]
    grid.add_row("Subtype", _fact(escape(sub), *map(escape, why)))
    flags = [
        name
        for name, v in (
            ("bone-only", j["bone_only"]),
            ("visceral", j["visceral"]),
            ("CNS", j["cns"]),
            # ABC counts lesions; amenability to local treatment aiming at complete remission is the board's call
            (f"oligometastatic by count: {j['lesion_count']} lesions", j["oligometastatic"]),
        )
        if v
    ]
    sites = ", ".join(s.replace("_", " ") for s in j["sites"]) or "none active"
    grid.add_row("Sites", escape(sites + (f" ({', '.join(flags)})" if flags else "")))
    locoregional = [x for x in j.get("locoregional_disease", []) if x.get("status") != "resolved"]
    if locoregional:
        grid.add_row(
            "Locoregional",
            escape("; ".join(x["detail"] for x in locoregional) + " (not distant: not counted among the sites)"),
        )
    grid.add_row(
        "Endocrine resistance",
        _fact(j["endocrine_resistance"].replace("_", " "), *map(escape, j["endocrine_resistance_basis"])),
    )
    crisis = j.get("visceral_crisis") or {}
    if crisis and crisis.get("status") not in (None, "not_applicable"):
        style = "bold red" if crisis["status"] in ("present", "suspected") else ""
        head = f"[{style}]{escape(crisis['status'].replace('_', ' '))}[/{style}]" if style else escape(crisis["status"])
        grid.add_row(
            "Visceral crisis",
            _fact(
                head,
                *map(escape, crisis.get("evidence") or []),
                *([escape(crisis["confirm"])] if crisis.get("confirm") else []),
            ),
        )
    grid.add_row(
        "ECOG",
        (str(j["ecog"]) + (f" ({j['ecog_date']})" if j["ecog_date"] else "")) if j["ecog"] is not None else "unknown",
    )
    early = [t for t in j["therapies"] if t["setting"] in ("neoadjuvant", "adjuvant")]
    if early:
        grid.add_row(
            "Early-disease therapy",
            escape(
                "; ".join(
                    f"{t['drug']} ({t['setting']}, {t['start'] or '?'} to "
                    f"{t['end'] or ('ongoing' if t.get('ongoing') else '?')})"
                    for t in early
                )
            ),
        )
    if j["biomarkers"]:
        grid.add_row(
            "Biomarkers",
            escape(
                "; ".join(
                    f"{b['gene']} {b['origin']} {b['result'].replace('_', ' ')}"
                    + (f" {b['variant']}" if b["variant"] else "")
                    # dated: a gene tested twice (ESR1 not detected, then D538G) shows which is current (fresh8 q09)
                    + (f" ({b['date']})" if b.get("date") else "")
                    for b in j["biomarkers"]
                )
            ),
        )
    if j.get("comorbidities"):
        grid.add_row(
            "Comorbidities",
            escape(
                "; ".join(
                    c["condition"].replace("_", " ")
                    + (f" ({c['text']})" if c["text"] and c["text"] != c["condition"].replace("_", " ") else "")
                    + (f", {c['date']}" if c["date"] else "")
                    + (", resolved" if c.get("status") == "resolved" else "")
                    for c in j["comorbidities"]
                )
            ),
        )
    con.print(grid)
    if j.get("labs"):
        lt = Table(title="Latest laboratory values", title_justify="left")
        for col in ("test", "value", "date", "× ULN", "flag", "trend", "range"):
            lt.add_column(col, overflow="fold")
        for lab in j["labs"]:
            rr = lab.get("reference_range") or {}
            # as the laboratory reported it (µmol/L, g/L), the canonical value after it: the report is what the
            # clinician holds (fresh10-12 writers)
            reported = lab.get("reported") or {}
            shown = reported.get("reference_range") or rr
            rng = (
                "–".join("" if shown.get(k) is None else display_number(shown[k]) for k in ("low", "high"))
                + (" (assumed)" if rr.get("assumed") else "")
                if rr
                else "none"
            )
            value = f"{display_number(lab['value'])} {lab['unit']}"
            if reported:
                value = f"{display_number(reported['value'])} {reported['unit']} ({value})"
            name = lab["analyte"].replace("_", " ")
            lt.add_row(
                escape(name.upper() if len(name) <= 3 else name),
                escape(value),
                lab["date"] or "?",
                "" if lab["times_uln"] is None else f"{lab['times_uln']:g}",
                lab["flag"] or "",
                lab["trend"],
                escape(rng),
            )
        con.print(lt)
    if j.get("local_treatments"):
        con.print(
            "[bold]Local treatment[/bold]  "
            + escape(
                "; ".join(
                    f"{t['kind']}: {t['description']} ({t['start'] or '?'}"
                    + (f" to {t['end']}" if t["end"] and t["end"] != t["start"] else "")
                    + ")"
                    for t in j["local_treatments"]
                )
            )
        )
    if j.get("latest_disease_status"):
        ds = j["latest_disease_status"]
        con.print(f"[bold]Disease status[/bold]  {escape(ds['status'].replace('_', ' '))} ({ds['date']})")
    if j["lines"]:
        t = Table(title="Lines of therapy in the metastatic setting", title_justify="left")
        for col in ("line", "drugs", "start", "end", "stopped because"):
            t.add_column(col, overflow="fold")
        for line, obj in zip(j["lines"], a.lines, strict=False):
            t.add_row(
                str(line["number"]),
                escape(", ".join(line["drugs"])),
                line["start"] or "?",
                line["end"] or ("ongoing" if line["ongoing"] else "?"),
                escape(
                    "; ".join(
                        x
                        for x in (
                            line_stops(obj),
                            f"progression documented {line['progression_documented']['date']}"
                            if line.get("progression_documented")
                            else "",
                        )
                        if x
                    )
                ),
            )
        con.print(t)
    else:
        con.print("[bold]Lines of therapy[/bold]  none in the metastatic setting")
    if j["unknowns"]:
        con.print("[bold]Unknown but matters[/bold]")
        for u in j["unknowns"]:
            con.print(f"  • [bold]{escape(u['item'])}[/bold]: {escape(u['why'])} → [cyan]{escape(u['action'])}[/cyan]")
    if j["conflicts"]:
        con.print("[bold red]Conflicts in the record[/bold red]")
        for c in j["conflicts"]:
            con.print(f"  • {escape(c)}")
    for note in (i for i in j["input_issues"] if i["location"] == AS_OF_LOCATION):
        con.print(escape(note["message"].capitalize()), style="italic")  # said once, not one issue per fact
    issues = [i for i in j["input_issues"] if i["location"] != AS_OF_LOCATION]
    if issues:
        con.print(f"[bold]Input issues[/bold] ({len(issues)})")
        for i in issues[:20]:
            con.print(f"  • {escape(i['location'])}: {escape(i['message'])}", style="dim")
        if len(issues) > 20:
            con.print(f"  … and {len(issues) - 20} more (see --format json)", style="dim")
