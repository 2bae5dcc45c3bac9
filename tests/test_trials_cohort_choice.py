"""The cohort a patient is placed in (trials/match.py _choose_cohort): never one named for another tumour type.
Sentences are quoted verbatim from the shared corpus (checked when it is here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbcnav.trials import match
from mbcnav.trials.criteria import parse_criteria
from mbcnav.trials.match import evaluate_criterion

from .trials_corpus import Quotes, criteria_texts, needs_corpus, not_verbatim, patient_view

FRESH11 = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_fresh11" / "patients"
QUOTES = Quotes()
q = QUOTES.q


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


def test_a_cohort_named_for_another_tumour_type_is_not_hers() -> None:
    # NCT06465069 (LY4052031): Cohort A1 lists urothelial, TNBC, NSCLC ... ; "Cohort A2/B1/B2: urothelial carcinoma".
    # fresh11 t01 (HR+/HER2-0) was placed in cohort A2, whose urothelial heading excludes no one (not applicable),
    # so the study ranked in her top 10 although its only breast cohorts are for TNBC (the judges' grade: 1).
    text = criteria_texts().get("NCT06465069", "")
    if not text:
        pytest.skip("../shared/data/trials is not here")
    heading = q("NCT06465069", "Cohort A2/B1/B2: urothelial carcinoma")
    t01 = patient_view(FRESH11 / "t01-premenopausal-de-novo-bone-liver-ribociclib.yaml")
    results = [evaluate_criterion(c, t01) for c in parse_criteria(text)]
    match._inherit_not_applicable(results)
    match._apply_alternatives(results)
    match._heads_from_children(results)
    (head,) = [r for r in results if r.criterion.text == heading]
    assert (head.verdict, head.not_applicable) == ("not_met", True)
    chosen = match._choose_cohort(results)
    assert chosen in ("Cohort A1", "Cohort C")  # the cohorts with a breast (TNBC) indication
    # in the cohort she is placed in, its list of indications applies and is not met (HR+/HER2-0, not TNBC)
    (indication,) = [r for r in results if r.applies and r.criterion.text.startswith(chosen + ": urothelial")] or [
        r for r in results if r.applies and r.criterion.text.startswith(chosen + ": triple negative")
    ]
    assert indication.verdict == "not_met"


def test_a_recorded_value_that_fails_the_usual_threshold_is_said_so() -> None:
    # fresh11 t07: ANC 1.4 and platelets 96 on carboplatin + gemcitabine. "Adequate organ and marrow function" without
    # values stays unknown (the protocol's threshold decides: 12 of 45 breast studies write ANC >= 1.0), and the
    # coordinator reads that the threshold most studies write fails it
    from .trials_corpus import inc, one

    t07 = patient_view(FRESH11 / "t07-metaplastic-tnbc-early-relapse-carboplatin-gemcitabine.yaml")
    r = one(inc(q("NCT06545331", "Adequate organ and marrow function.")), t07)
    assert r.verdict == "unknown" and "fails the threshold most studies write" in r.evidence[0]
    # every recorded value in its range: met, nothing left open
    fresh12 = FRESH11.parents[1] / "trials_fresh12" / "patients"
    u01 = patient_view(fresh12 / "u01-denovo-hrpos-her2low-pik3ca-post-cdk46.yaml")
    r1 = one(inc("Adequate organ and marrow function."), u01)
    assert r1.verdict == "met" and r1.open == ()
    # ALT 1.77 x ULN with liver metastases (t04): outside grade 1 but within what most studies then allow
    t04 = patient_view(FRESH11 / "t04-her2-low-esr1-progressing-on-elacestrant.yaml")
    r4 = one(inc("Adequate organ and marrow function."), t04)
    assert r4.verdict == "unknown" and "fails the threshold" not in " ".join(r4.evidence)
