"""Parser 2.17 (docs/trials-criteria.md §2.17): a rule for one breast-cancer subtype cohort of a multi-cohort study
("HER2-positive breast cancer: Participants must ...") binds only patients of that subtype, and a platinum-resistant
ovarian cancer in a list of indications is another tumour type's cohort. Sentences are quoted verbatim from the
shared corpus (checked when it is here); the patients are fresh10 case files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, inc, needs_corpus, not_verbatim, one, patient_view

FRESH10 = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_fresh10" / "patients"
QUOTES = Quotes()
q = QUOTES.q


@pytest.fixture(scope="module")
def her2_positive() -> PatientView:  # s02: HR-/HER2+ liver relapse, no metastatic line yet
    return patient_view(FRESH10 / "s02-hrneg-her2pos-liver-relapse-resolved-hbv.yaml")


@pytest.fixture(scope="module")
def tnbc() -> PatientView:  # s03: TNBC after paclitaxel, sacituzumab govitecan and eribulin
    return patient_view(FRESH10 / "s03-tnbc-her2-1plus-after-sg-eribulin-lymphangitic.yaml")


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


HR_POS_COHORT = q(
    "NCT07213791",
    "HR-positive HER2-negative breast cancer: Participants must have received less than or equal to (≤)5 prior lines "
    "of treatment for advanced or metastatic disease, which must include a cyclin-dependent kinase 4/6 inhibitor.",
)
TNBC_COHORT = q(
    "NCT07213791", "TNBC: Participants must have progressed on at least 2 lines of therapy for metastatic disease."
)
HER2_COHORT = q(
    "NCT07213791",
    "HER2-positive breast cancer: Participants must have progressed on at least 2 lines of HER2-targeted therapy, "
    "which should include at least 1 antibody-drug conjugate (ADC) for metastatic disease (if locally available).",
)
OVARIAN = q("NCT07213791", "Platinum-resistant or refractory ovarian cancer")


def test_a_rule_for_another_subtype_cohort_does_not_apply(her2_positive: PatientView, tnbc: PatientView) -> None:
    # fresh10 s02/s03: each was "not met" for the cohorts of the other subtypes, as if she failed a requirement
    for sentence, patient in ((HR_POS_COHORT, her2_positive), (TNBC_COHORT, her2_positive), (HR_POS_COHORT, tnbc)):
        r = one(inc(sentence), patient)
        assert (r.verdict, r.not_applicable) == ("met", True), sentence
        assert "cohort" in r.evidence[0]


def test_a_rule_for_her_own_subtype_cohort_is_read_as_usual(her2_positive: PatientView, tnbc: PatientView) -> None:
    r = one(inc(TNBC_COHORT), tnbc)
    assert not r.not_applicable and r.verdict == "met"  # paclitaxel, sacituzumab govitecan, eribulin
    r = one(inc(HER2_COHORT), her2_positive)
    assert not r.not_applicable


def test_a_subtype_named_without_a_colon_is_not_a_cohort_rule(her2_positive: PatientView) -> None:
    # a population statement, not a rule for one cohort: still a requirement she must meet
    r = one(inc("Triple-negative breast cancer as defined by ASCO/CAP guidelines."), her2_positive)
    assert r.verdict == "not_met" and not r.not_applicable


def test_platinum_resistant_ovarian_cancer_is_another_tumour_types_cohort(her2_positive: PatientView) -> None:
    # it had been read as "prior platinum required" alone, and met by a patient with breast cancer given platinum
    r = one(inc(OVARIAN), her2_positive)
    assert r.verdict == "not_met" and r.not_applicable
