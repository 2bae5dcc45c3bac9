"""Helpers for tests that quote the shared corpus: where it is, its studies and their eligibility text (read once per
test session), one-criterion parses, and the check that every quote is verbatim."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mbcnav.trials.criteria import Criterion, parse_criteria

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
