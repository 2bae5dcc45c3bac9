"""Parser 2.12: a cohort heading of another tumour type ("Participants with Multiple Myeloma") is read as the heading
it is — not met for a breast cancer patient, binding its bullets, excluding no one — and a standard-therapy rule of
two requirements ("progressed despite standard therapies. Patients must have no available therapeutic options")
needs both. Each reading quotes the shared corpus (benchmarks/trials_fresh5 n08, trials_fresh2 g04, fresh6 o08)."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from mbcnav.trials.criteria import Criterion, parse_criteria
from mbcnav.trials.match import evaluate_criterion, match_trial
from mbcnav.trials.patient_view import PatientView

from .test_trials_list_heads import study
from .trials_corpus import Quotes, inc, needs_corpus, not_verbatim, patient_view

QUOTES = Quotes()
q = QUOTES.q
ROOT = Path(__file__).resolve().parents[1]
FRESH5 = ROOT / "benchmarks" / "trials_fresh5" / "patients"
FRESH6 = ROOT / "benchmarks" / "trials_fresh6" / "patients"

BASKET = (
    "Inclusion Criteria:\n\n"
    f"1. {q('NCT06582017', 'Participants with Solid Tumors')}\n\n"
    "   * "
    + q(
        "NCT06582017",
        "Histopathologically confirmed diagnosis of an advanced, unresectable, or metastatic solid tumor (ovarian, "
        "pancreatic, urothelial, renal, hepatocellular, gastrointestinal (GI), lung, prostate, and breast cancer).",
    )
    + f"\n2. {q('NCT06582017', 'Participants with Multiple Myeloma')}\n\n"
    "   * "
    + q(
        "NCT06582017",
        "Patients must have failed at least 3 prior therapies for myeloma and should have had prior exposure to a "
        "proteosome inhibitor, an IMiD, and an anti-CD38-directed therapy.",
    )
    + "\n"
)


def of(cs: list[Criterion], type_: str) -> list[dict[str, object]]:
    return [k.params for c in cs for k in c.constraints if k.type == type_]


@pytest.fixture(scope="module")
def tnbc() -> PatientView:  # n08: gBRCA1 TNBC, three lines for advanced disease
    return patient_view(next(FRESH5.glob("n08-*.yaml")))


def test_a_cohort_heading_of_another_tumour_type_is_not_met_and_excludes_no_one(tnbc: PatientView) -> None:
    cs = parse_criteria(BASKET)
    by = {c.text: c for c in cs}
    head = by["Participants with Multiple Myeloma"]
    assert of([head], "subgroup") == [{"groups": ["other_cancer_types"], "cohort_head": True}]
    r = evaluate_criterion(head, tnbc)
    assert r.verdict == "not_met" and r.excludes is False and r.not_applicable  # as written, not true of her
    lines = next(c for c in cs if c.text.startswith("Patients must have failed at least 3 prior therapies"))
    assert {"groups": ["other_cancer_types"]} in of([lines], "subgroup")  # the heading binds its bullets
    assert evaluate_criterion(lines, tnbc).not_applicable  # her three breast cancer lines are not myeloma lines
    assert not of([by["Participants with Solid Tumors"]], "subgroup")  # the cohort she fits
    m = match_trial(study(BASKET), cs, tnbc)
    assert m.verdict != "ineligible" and not m.excluded_by


def test_multiple_myeloma_and_hodgkin_lymphoma_are_other_tumour_types() -> None:
    (mm,) = inc("Patients with multiple myeloma must have measurable disease per IMWG criteria.")
    assert of([mm], "subgroup") == [{"groups": ["other_cancer_types"]}]
    (hl,) = inc("Patients with classical Hodgkin lymphoma must have received brentuximab vedotin.")
    assert of([hl], "subgroup") == [{"groups": ["other_cancer_types"]}]
    # a heading with a rule of its own is not a bare cohort heading
    assert "cohort_head" not in of([mm], "subgroup")[0]


def test_two_standard_therapy_requirements_both_bind(tnbc: PatientView) -> None:
    """n08 progressed on three lines; the options engine still offers a line (standard options remain)."""
    (both,) = inc(
        q(
            "NCT06582017",
            "Have progressed despite standard therapies, or for whom conventional therapy is not effective or "
            "tolerable, as judged by the Investigator. Patients must have no available therapeutic options known to "
            "confer clinical benefit for their tumor type.",
        )
    )
    assert of([both], "standard_therapy") == [{"some": True, "all": True, "both": True}]
    remaining = dataclasses.replace(tnbc, options_exhausted=False)
    assert evaluate_criterion(both, remaining).verdict == "not_met"
    (either,) = inc("Relapsed or refractory to standard therapy, or for which no standard therapy exists.")
    assert of([either], "standard_therapy") == [{"some": True, "all": True}]
    assert evaluate_criterion(either, remaining).verdict == "met"  # one sentence, "or": progression is enough
    (part_a,) = inc(
        q(
            "NCT04389632",
            "Part A only: Participants must have disease that is relapsed or refractory or be intolerant to "
            "standard-of-care therapies and should have no appropriate standard-of-care therapeutic options.",
        )
    )
    assert of([part_a], "standard_therapy") == [{"some": True, "all": True, "both": True}]


def test_no_standard_therapeutic_option_is_no_standard_option_left(tnbc: PatientView) -> None:
    (c,) = inc(
        q(
            "NCT06451497",
            "Patients with histologically confirmed diagnosis of locally advanced, locoregionally recurrent, not "
            "amenable to curative therapy, or metastatic solid tumors that have no standard therapeutic option or "
            "are intolerant to the therapies.",
        )
    )
    assert {"some": False, "all": True} in of([c], "standard_therapy")
    assert evaluate_criterion(c, dataclasses.replace(tnbc, options_exhausted=False)).verdict == "not_met"


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


def test_an_lvef_from_the_last_three_months_decides() -> None:
    """fresh2 g03: LVEF 57 % on 2026-08-31, 87 days before the as-of date. LVEF is measured every 3 months on
    HER2-directed antibodies: that value is current (before, the 60-day laboratory horizon left it unknown)."""
    p = patient_view(next((ROOT / "benchmarks" / "trials_fresh2" / "patients").glob("g03-*.yaml")))
    (c,) = inc(q("NCT05894239", "LVEF (left ventricular ejection fraction) of at least 50%"))
    assert evaluate_criterion(c, p).verdict == "met"
    (high,) = inc("LVEF of at least 60%")
    assert evaluate_criterion(high, p).verdict == "not_met"
    later = dataclasses.replace(p, as_of=p.as_of + _days(30))
    assert evaluate_criterion(c, later).verdict == "unknown"  # 117 days: repeated at screening


def _days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def test_a_cohort_only_sub_bullet_never_decides_a_head_that_binds_every_cohort() -> None:
    """NCT04389632 lists "Part A only" and "Part B only" bullets under "Disease indication". For fresh6 o03 (TNBC
    after one line, standard options remain) Part A fails and Part B fits: the head must not fail with Part A, or
    the whole study turns ineligible for a patient who fits Part B."""
    text = (
        "Inclusion Criteria:\n\n* Disease indication\n\n"
        "  * "
        + q(
            "NCT04389632",
            "Part A only: Participants must have disease that is relapsed or refractory or be intolerant to "
            "standard-of-care therapies and should have no appropriate standard-of-care therapeutic options.",
        )
        + "\n  * "
        + q(
            "NCT04389632",
            "Part B only: Participants must have disease that is relapsed or refractory or be intolerant to "
            "standard-of-care therapies.",
        )
        + "\n"
    )
    p = dataclasses.replace(patient_view(next(FRESH6.glob("o03-*.yaml"))), options_exhausted=False)
    cs = parse_criteria(text)
    m = match_trial(study(text), cs, p)
    by = {r.criterion.text.split(":")[0]: r for r in m.criteria}
    assert by["Part A only"].verdict == "not_met" and by["Part B only"].verdict == "met"
    assert m.cohort == "Part B" and m.verdict != "ineligible"
    assert by["Disease indication"].verdict != "not_met"
