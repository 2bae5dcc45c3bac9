"""Helpers for tests that quote the shared corpus: where it is, its studies and their eligibility text (read once per
test session), one-criterion parses, the check that every quote is verbatim, and a case file's matcher view."""

from __future__ import annotations

import datetime
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.trials.criteria import Criterion, parse_criteria
from mbcnav.trials.match import CriterionResult, evaluate_criterion
from mbcnav.trials.patient_view import PatientView

PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "trials" / "ctgov-v2-2026-01"
needs_corpus = pytest.mark.skipif(not PAGES.is_dir(), reason="../shared/data/trials is not here")


@cache
def studies() -> tuple[dict[str, Any], ...]:
    """Every study of the shared corpus pages, in page order."""
    out: list[dict[str, Any]] = []
    for page in sorted(PAGES.glob("page-*.json")):
        out += json.loads(page.read_text(encoding="utf-8"))["studies"]
    return tuple(out)


@cache
def criteria_texts() -> dict[str, str]:
    """NCT id -> eligibilityCriteria ("" when the record has none)."""
    return {
        s["protocolSection"]["identificationModule"]["nctId"]: s["protocolSection"]
        .get("eligibilityModule", {})
        .get("eligibilityCriteria", "")
        or ""
        for s in studies()
    }


class Quotes(list[tuple[str, str]]):
    """The (NCT id, sentence) corpus quotes of one test module, for its verbatim check."""

    def q(self, nct: str, sentence: str) -> str:
        """Record a quote and return the sentence (so a test can use it inline)."""
        self.append((nct, sentence))
        return sentence


def not_verbatim(quotes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (NCT id, sentence) quotes that are not in that study's eligibility text."""
    texts = criteria_texts()
    return [(nct, sentence) for nct, sentence in quotes if sentence not in texts.get(nct, "")]


def inc(sentence: str) -> list[Criterion]:
    """The sentence parsed as the only inclusion criterion."""
    return parse_criteria("Inclusion Criteria:\n\n* " + sentence + "\n")


def exc(sentence: str) -> list[Criterion]:
    """The sentence parsed as the only exclusion criterion."""
    return parse_criteria("Exclusion Criteria:\n\n* " + sentence + "\n")


AS_OF = datetime.date(2026, 11, 26)  # the reference date of every judged set in benchmarks/


def patient_view(path: Path, as_of: datetime.date = AS_OF) -> PatientView:
    """What the matcher reads of a case file, assessed as of the judged sets' reference date."""
    a, _ = assess_with_response(read_path(path, today=as_of), as_of=as_of)
    return PatientView.of(a)


def one(cs: list[Criterion], p: PatientView) -> CriterionResult:
    """The verdict of the only criterion of a one-criterion parse."""
    assert len(cs) == 1
    return evaluate_criterion(cs[0], p)


def groups(cs: list[Criterion]) -> list[list[str]]:
    """The subgroups each criterion is addressed to (trials/subgroups.py)."""
    return [k.params["groups"] for c in cs for k in c.constraints if k.type == "subgroup"]
