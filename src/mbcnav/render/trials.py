"""`mbcnav trials match` / `search` as text: ranked studies with the criterion-by-criterion evidence (rich)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from mbcnav.trials.match import CriterionResult, MatchReport, StudyMatch
    from mbcnav.trials.records import Trial

ATTRIBUTION = (
    "Source: ClinicalTrials.gov, a U.S. government database (National Library of Medicine). Records are normalised "
    "by mbcnav (see docs/trials.md); check ClinicalTrials.gov for the current record."
)

_VERDICT_STYLE = {"eligible": "bold green", "possibly_eligible": "yellow", "ineligible": "red"}
_VERDICT_WORD = {"eligible": "eligible", "possibly_eligible": "possibly", "ineligible": "ineligible"}
WIDTH = 100  # the text report fits 100 columns


def _cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _phase(m: StudyMatch) -> str:
    t = m.trial
    if t.is_expanded_access:
        return "EA"
    phases = [p.replace("PHASE", "").replace("EARLY_", "0") for p in t.phases if p != "NA"]
    return "/".join(phases) or t.study_type[:3].lower()


def nearest_sites(m: StudyMatch, near: tuple[float, float] | None, n: int = 3) -> list[str]:
    """Recruiting sites of a study, nearest first when `near` (lat, lon) is given (great-circle distance)."""
    sites = [s for s in m.trial.sites if s.status in (None, "RECRUITING", "NOT_YET_RECRUITING", "AVAILABLE")]
    if near is not None:
        located = [s for s in sites if s.lat is not None and s.lon is not None]
        located.sort(key=lambda s: _km(near, (s.lat or 0.0, s.lon or 0.0)))
        return [f"{s.describe()} — {_km(near, (s.lat or 0.0, s.lon or 0.0)):.0f} km" for s in located[:n]]
    return [s.describe() for s in sites[:n]]


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))  # mean Earth radius 6371 km


def _study_line(i: int, m: StudyMatch, con: Console) -> None:
    """Two lines per study: rank, id, phase, verdict and title; then the fit explanation (cohort, open items)."""
    t = m.trial
    style = _VERDICT_STYLE[m.verdict]
    head = f"{i:>2}. {t.nct_id}  {_phase(m):<5} [{style}]{_VERDICT_WORD[m.verdict]:<10}[/] "
    con.print(head + escape(_cut(t.title, WIDTH - 4 - 13 - 6 - 11)))
    con.print(f"    {escape(_cut(m.explanation, WIDTH - 4))}", style="dim")


def render_trials(report: MatchReport, console: Console | None = None) -> None:
    """The match report, compact: the top studies with how well each fits (details: `--explain NCT...`), then
    expanded-access programmes."""
    con = console or Console(highlight=False, width=WIDTH)
    con.print(
        f"[bold]Clinical trials[/bold] — patient {escape(str(report.patient_id))} — {report.studies_count_text()}"
    )
    if not report.matches:
        con.print("No eligible or possibly eligible study in the store.")
    for i, m in enumerate(report.matches, 1):
        _study_line(i, m, con)
    if report.matches:
        con.print(
            "Fit: decisive criteria met, of those decided or open. One study in full: --explain NCT…",
            style="italic",
        )
    if report.expanded_access:
        head = "[bold]Expanded access programmes[/bold]"
        if report.highlight_expanded_access:
            head += f" [bold red](highlighted: {escape(report.highlight_reason)})[/bold red]"
        con.print(head)
        for i, m in enumerate(report.expanded_access, 1):
            _study_line(i, m, con)
    from mbcnav.trials.compassionate import CompassionateUse

    cu = report.compassionate
    if isinstance(cu, CompassionateUse) and cu.needed:
        from mbcnav.render.compassionate import render_compassionate

        render_compassionate(cu, con)
    con.print(
        "Trial data: ClinicalTrials.gov (U.S. National Library of Medicine).\n"
        "Eligibility is decided by the study team.",
        style="italic",
    )


def _mark(r: CriterionResult) -> str:
    # ✓ the criterion does not stand in the way (inclusion met, exclusion does not apply); ✗ it excludes; ? open
    return {False: "✓", True: "✗", None: "?"}[r.excludes]


def render_explain(m: StudyMatch, console: Console | None = None, near: tuple[float, float] | None = None) -> None:
    """One study in full for a coordinator: cohort, the decisive criteria not met / unknown / met with the record's
    evidence, what to check next, screening items, free text, and the sites."""
    con = console or Console(highlight=False, width=WIDTH)
    t = m.trial
    con.print(f"[bold]{t.nct_id}[/bold] — {escape(t.title)}")
    con.print(
        f"{', '.join(t.phases) or t.study_type.lower()}; {t.status.lower().replace('_', ' ')}; "
        f"[{_VERDICT_STYLE[m.verdict]}]{m.verdict.replace('_', ' ')}[/]; score {m.score:.2f}"
    )
    con.print(f"Fit: {escape(m.explanation)}")
    if m.cohort:
        con.print(f"Cohort: {escape(m.cohort)} (the cohort whose criteria the patient fits best)")
    applicable = [r for r in m.criteria if r.applies]
    decisive = [r for r in applicable if r.criterion.constraints and r.decisive]
    groups = (
        ("Not met — these exclude", [r for r in decisive if r.excludes is True]),
        ("Unknown — to resolve", [r for r in decisive if r.excludes is None]),
        ("Met", [r for r in decisive if r.excludes is False]),
    )
    for title, rows in groups:
        if not rows:
            continue
        con.print(f"[bold]{title} ({len(rows)})[/bold]")
        for r in rows:
            con.print(f"  {_mark(r)} {r.criterion.kind}: {escape(_cut(r.criterion.text, WIDTH - 16))}")
            evidence = "; ".join(r.evidence)
            if r.group_note:
                evidence = f"{r.group_note}; {evidence}"
            con.print(f"      record: {escape(_cut(evidence, WIDTH - 14))}", style="dim")
    if m.fit is not None and m.fit.unknown:
        from mbcnav.trials.ranking import next_checks

        con.print("[bold]What to check next[/bold]")
        for line in next_checks(m.fit.unknown):
            con.print(f"  - {escape(_cut(line, WIDTH - 4))}")
    screening = [r for r in applicable if r.criterion.constraints and not r.decisive and not r.not_applicable]
    if screening:
        con.print(f"[bold]Confirmed by the study team at screening ({len(screening)})[/bold]")
        for r in screening:
            con.print(f"  - {escape(_cut(r.criterion.text, WIDTH - 4))}", style="dim")
    free = [r for r in applicable if not r.criterion.constraints]
    if free:
        con.print(f"[bold]Free text — a person reads these ({len(free)})[/bold]")
        for r in free:
            con.print(f"  - {r.criterion.kind}: {escape(_cut(r.criterion.text, WIDTH - 16))}", style="dim")
    moot = [r for r in applicable if r.not_applicable]
    if moot:
        con.print(f"[bold]Not applicable — addressed to a subgroup the patient is not in ({len(moot)})[/bold]")
        for r in moot:
            con.print(f"  - {r.criterion.kind}: {escape(_cut(r.criterion.text, WIDTH - 16))}", style="dim")
            con.print(f"      record: {escape(_cut('; '.join(r.evidence), WIDTH - 14))}", style="dim")
    other = [r for r in m.criteria if not r.applies]
    if other:
        con.print(f"Criteria of other cohorts not applied: {len(other)}", style="dim")
    sites = nearest_sites(m, near)
    if sites:
        con.print("[bold]Sites[/bold]" + (" (nearest first)" if near else ""))
        for line in sites:
            con.print(f"  - {escape(_cut(line, WIDTH - 4))}")
    elif t.countries:
        con.print(f"Sites: in {escape(_cut(', '.join(t.countries), WIDTH - 10))} (the record lists countries only)")
    con.print(f"https://clinicaltrials.gov/study/{t.nct_id}", style="dim")


def render_search(found: Sequence[Trial], console: Console | None = None) -> None:
    """Full-text search results: one row per study, when ClinicalTrials.gov processed them, the attribution."""
    con = console or Console(highlight=False)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("NCT id", "status", "type / phase", "title"):
        table.add_column(col, overflow="fold")
    for t in found:
        phases = "/".join(p.lower().replace("phase", "phase ").replace("_", " ") for p in t.phases if p != "NA")
        kind = "expanded access" if t.is_expanded_access else phases or t.study_type.lower()
        table.add_row(t.nct_id, t.status.lower().replace("_", " "), kind, t.title)
    con.print(table)
    dates = Counter(t.processed_on or "not recorded" for t in found)
    con.print(
        "Processed by ClinicalTrials.gov on: " + ", ".join(f"{d} ({n})" for d, n in sorted(dates.items())),
        markup=False,
    )
    con.print(ATTRIBUTION, markup=False)
