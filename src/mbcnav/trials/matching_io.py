"""Criteria from the store's parse cache (parsing once per study version); the text report is mbcnav.render.trials."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mbcnav.trials.criteria import PARSER_VERSION, Criterion, criteria_from_json, criteria_to_json, parse_criteria
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
