"""Criteria from the store's parse cache (parsing once per study version); the text report is mbcnav.render.trials."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mbcnav.trials.criteria import PARSER_VERSION, Criterion, criteria_from_json, criteria_to_json, parse_criteria
from mbcnav.trials.records import Trial
from mbcnav.trials.store import TrialStore

# Parsed criteria already decoded in this process, by (NCT id, study version, parser version): the key fixes the
# parse, so the entry is right for any store, and matching the next patient skips the cache query and the decoding
# (immutable Criterion objects; each caller gets its own list). Bounded: about the size of two corpora.
_DECODED: dict[tuple[str, str, str], list[Criterion]] = {}
_DECODED_MAX = 4096


def parsed_trials(
    store: TrialStore, *, status: Sequence[str] | None = None, country: str | None = None, include_all: bool = True
) -> Iterator[tuple[Trial, list[Criterion]]]:
    """Each stored study with its parsed criteria; a parse is computed once per study version and cached."""
    from mbcnav.trials.match import relevance

    for trial in store.iter_trials(status=status, country=country):
        if relevance(trial) == "other_cancer" and not include_all:
            yield trial, []
            continue
        key = (trial.nct_id, trial.version, PARSER_VERSION)
        criteria = _DECODED.get(key)
        if criteria is None:
            cached = store.get_parsed(*key)
            if cached is not None:
                criteria = criteria_from_json(cached)
            else:
                criteria = parse_criteria(trial.eligibility_text or "")
                store.put_parsed(*key, criteria_to_json(criteria))
            if len(_DECODED) >= _DECODED_MAX:
                _DECODED.pop(next(iter(_DECODED)))  # the oldest entry: a bound, not a recency order
            _DECODED[key] = criteria
        yield trial, list(criteria)
