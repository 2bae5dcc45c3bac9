"""Criteria from the store's parse cache (parsing once per study version), and the text report of matches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.markup import escape

from mbcnav.trials.criteria import PARSER_VERSION, Criterion, criteria_from_json, criteria_to_json, parse_criteria
from mbcnav.trials.match import MatchReport, StudyMatch
from mbcnav.trials.records import Trial
from mbcnav.trials.store import TrialStore


def parsed_trials(
    store: TrialStore, *, status: Sequence[str] | None = None, country: str | None = None, include_all: bool = True
) -> Iterator[tuple[Trial, list[Criterion]]]:
    """Each stored study with its parsed criteria; a parse is computed once per study version and cached."""
    from mbcnav.trials.match import relevance

    for trial in store.iter_trials(status=status, country=country):
        if relevance(trial) == "other_cancer" and not include_all:
            yield trial, []
            continue
        cached = store.get_parsed(trial.nct_id, trial.version, PARSER_VERSION)
        if cached is not None:
            criteria = criteria_from_json(cached)
        else:
            criteria = parse_criteria(trial.eligibility_text or "")
            store.put_parsed(trial.nct_id, trial.version, PARSER_VERSION, criteria_to_json(criteria))
        yield trial, criteria


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


def render_matches(report: MatchReport, console: Console | None = None) -> None:
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
