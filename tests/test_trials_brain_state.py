"""Brain metastases as the record shows them (PatientView.brain_state): untreated, treated and radiologically
stable, or treated without shown stability; exclusions of active / untreated / symptomatic brain metastases read
against it (fresh5 writer: treated-and-stable and untreated brain metastases looked the same to the matcher)."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from mbcnav.pathway import Evaluation
from mbcnav.record.casefile import case_to_bundle, load_case
from mbcnav.record.fhir import record_from_resources
from mbcnav.record.reader import flatten
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, needs_corpus, not_verbatim

QUOTES = Quotes()
q = QUOTES.q
AS_OF = date(2026, 11, 26)
CASE04 = load_case(Path(__file__).resolve().parents[1] / "examples" / "cases" / "04-her2-positive-brain.yaml")

ACTIVE = q("NCT04930783", "Active brain metastases or leptomeningeal metastases")
UNTREATED = q("NCT05107674", "Active untreated brain metastases.")
SYMPTOMATIC = q("NCT04005690", "Symptomatic brain metastases")


def view(case: dict[str, Any]) -> PatientView:
    rec = record_from_resources(flatten(case_to_bundle(case), "04.yaml:"), today=AS_OF)
    return PatientView.of(Evaluation(rec, as_of=AS_OF).assessment)


def verdict(sentence: str, p: PatientView) -> str:
    (c,) = exc(sentence)
    return evaluate_criterion(c, p).verdict


@pytest.fixture(scope="module")
def treated_stable() -> PatientView:  # case 04: SRS 2023-10-20 to two brain metastases, shrinking since
    return view(CASE04)


def test_treated_and_shrinking_brain_metastases_are_not_active_or_untreated(treated_stable: PatientView) -> None:
    assert treated_stable.brain_state == "treated_stable"
    assert verdict(ACTIVE, treated_stable) == "not_met"
    assert verdict(UNTREATED, treated_stable) == "not_met"
    # symptoms and steroid use are not structured in the record
    assert verdict(SYMPTOMATIC, treated_stable) == "unknown"


def test_a_brain_metastasis_recorded_after_the_radiotherapy_is_untreated() -> None:
    case = copy.deepcopy(CASE04)
    case["metastases"].append({"site": "brain", "date": "2026-11-02", "method": "MRI", "lesions": 1})
    p = view(case)
    assert p.brain_state == "untreated" and "2026-11-02" in p.brain_evidence
    assert verdict(ACTIVE, p) == "met" and verdict(UNTREATED, p) == "met"


def test_a_treated_lesion_growing_since_is_not_called_stable() -> None:
    case = copy.deepcopy(CASE04)
    case["measurements"].append(
        {"lesion": "brain left frontal", "site": "brain", "date": "2026-11-16", "size_mm": 9, "axis": "long",
         "method": "MRI brain", "role": "non_target", "irradiated": True}
    )  # fmt: skip
    p = view(case)
    assert p.brain_state == "treated" and "brain left frontal 9 mm" in p.brain_evidence
    assert verdict(ACTIVE, p) == "unknown"  # radionecrosis or progression: a person reads the MRI


def test_without_brain_radiotherapy_or_surgery_the_metastases_are_untreated() -> None:
    case = copy.deepcopy(CASE04)
    case["procedures"] = [x for x in case["procedures"] if "brain" not in str(x).lower()]
    p = view(case)
    assert p.brain_state == "untreated"
    assert verdict(ACTIVE, p) == "met" and verdict(UNTREATED, p) == "met"
    assert verdict(SYMPTOMATIC, p) == "unknown"


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []
