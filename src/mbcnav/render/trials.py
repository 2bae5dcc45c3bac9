"""`mbcnav trials match` / `search` as text: ranked studies with the criterion-by-criterion evidence (rich)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from mbcnav.trials.match import MatchReport, StudyMatch
    from mbcnav.trials.records import Trial

ATTRIBUTION = (
    "Source: ClinicalTrials.gov, a U.S. government database (National Library of Medicine). Records are normalised "
    "by mbcnav (see docs/trials.md); check ClinicalTrials.gov for the current record."
)

_VERDICT_STYLE = {"eligible": "bold green", "possibly_eligible": "yellow", "ineligible": "red"}


def _study(m: StudyMatch, con: Console) -> None:
    t = m.trial
    con.print(
        f"[{_VERDICT_STYLE[m.verdict]}]{m.verdict.replace('_', ' ').upper()}[/] {t.nct_id} "
        f"({', '.join(t.phases) or t.study_type.lower()}, {t.status.lower().replace('_', ' ')}) — "
        f"{escape(t.title)}  score {m.score:.2f}"
    )
    for c in m.criteria:
        if c.verdict == "unknown" and not c.criterion.constraints:
            continue
        # ✓ the criterion does not stand in the way (inclusion met, exclusion does not apply); ✗ it excludes
        mark = {False: "✓", True: "✗", None: "?"}[c.excludes]
        label = (
            c.criterion.kind
            if c.criterion.kind == "inclusion"
            else (
                "exclusion applies"
                if c.excludes
                else "exclusion (does not apply)"
                if c.excludes is False
                else "exclusion"
            )
        )
        con.print(f"    {mark} {label}: {escape(c.criterion.text[:140])}", style="dim")
        if c.evidence:
            con.print(f"        record: {escape('; '.join(c.evidence)[:200])}", style="dim")
    if m.questions:
        con.print(f"    to resolve ({len(m.questions)}): " + escape(" | ".join(q[:90] for q in m.questions[:3])))


def render_trials(report: MatchReport, console: Console | None = None) -> None:
    """The match report: eligible and possibly eligible studies, then expanded-access programmes."""
    con = console or Console(highlight=False)
    con.rule(f"[bold]Clinical trials[/bold] — patient {escape(str(report.patient_id))} — {report.studies_count_text()}")
    if not report.matches:
        con.print("No eligible or possibly eligible study in the store.")
    for m in report.matches:
        _study(m, con)
    if report.expanded_access:
        head = "[bold]Expanded access programmes[/bold]"
        if report.highlight_expanded_access:
            head += f" [bold red](highlighted: {escape(report.highlight_reason)})[/bold red]"
        con.print(head)
        for m in report.expanded_access:
            _study(m, con)
    con.print(
        "Trial data: ClinicalTrials.gov (U.S. National Library of Medicine); eligibility is decided by the study team.",
        style="italic",
    )


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
