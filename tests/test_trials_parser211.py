"""Parser 2.11: misreadings found on the sixth held-out set (benchmarks/trials_fresh5) after it was scored: an age
written "years-old", "normal organ and marrow function" (in the reference range: grade 1 does not pass), and an ADC
"with a topoisomerase payload". Each reading quotes the shared corpus."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mbcnav.assess.labs import Flag
from mbcnav.trials.criteria import Criterion
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim, patient_view

QUOTES = Quotes()
q = QUOTES.q
ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "examples" / "cases"
HELDOUT = ROOT / "benchmarks" / "trials_heldout" / "patients"


def of(cs: list[Criterion], type_: str) -> list[dict[str, object]]:
    return [k.params for c in cs for k in c.constraints if k.type == type_]


@pytest.fixture(scope="module")
def normal_labs() -> PatientView:  # h01: every lab of 2026-11-05 inside its reference range
    return patient_view(HELDOUT / "h01-premenopausal-de-novo-hr-pos.yaml")


def with_lab(p: PatientView, analyte: str, value: float, flag: Flag) -> PatientView:
    labs = tuple(dataclasses.replace(x, value=value, flag=flag) if x.analyte == analyte else x for x in p.labs)
    return dataclasses.replace(p, labs=labs)


def test_an_age_written_years_old_is_an_age_limit() -> None:
    (c,) = inc(q("NCT06732336", "At least 18 years-old ;"))
    assert of([c], "age") == [{"min": 18}]
    assert of(inc("Patients 18 years-old or older"), "age") == [{"min": 18}]


def test_normal_organ_function_needs_every_value_in_range(normal_labs: PatientView) -> None:
    """ "Adequate" accepts a CTCAE grade-1 value (lab_criteria.yaml adequate_grade1); "normal" does not."""
    (c,) = inc(q("NCT05325632", "Participants must have normal organ and marrow function as defined per protocol."))
    assert of([c], "organ_function") == [{"systems": ["bone_marrow", "organ"], "normal": True}]
    assert evaluate_criterion(c, normal_labs).verdict == "met"
    grade1 = with_lab(normal_labs, "neutrophils", 1.6, "low")
    assert evaluate_criterion(c, grade1).verdict == "unknown"
    (adequate,) = inc("Adequate organ and marrow function")
    assert evaluate_criterion(adequate, grade1).verdict == "met"
    # "abnormal" is not "normal"
    assert not of(exc("Abnormal renal function"), "organ_function")


def test_an_adc_with_a_topoisomerase_payload_is_the_topoisomerase_i_adc_class() -> None:
    (c,) = exc(
        q(
            "NCT06242470",
            "Prior treatment with any B7-H3 targeted agent for cancer or any ADC with a topoisomerase payload.",
        )
    )
    assert of([c], "prior_therapy") == [{"class": "topo1_adc"}]
    tdxd = patient_view(CASES / "04-her2-positive-brain.yaml")  # on trastuzumab deruxtecan
    assert evaluate_criterion(c, tdxd).verdict == "met"
    # topoisomerase II payloads (anthracycline-like) are not the class; before 2.11 "topoisomerase II" matched "I"
    assert not of(exc("Prior treatment with an ADC containing a topoisomerase II inhibitor payload"), "prior_therapy")


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


def test_one_tumour_type_vocabulary_serves_both_readers_of_another_tumour_type() -> None:
    """terminology/tumour_types.yaml feeds the other-tumour-type subgroup (subgroups.yaml) and the subject test of
    criteria.py (2.11.1; before, each held its own list and DLBCL or biliary tract cancer was only in one)."""
    from mbcnav.trials.criteria import parse_criteria

    (c,) = inc(
        q(
            "NCT04892953",
            "For lung adenocarcinoma patients, patients must not harbor any EGFR sensitizing mutations, ALK fusions, "
            "ROS1 fusions, or RET fusions",
        )
    )
    assert of([c], "subgroup") == [{"groups": ["other_cancer_types"]}]
    # a cohort of another tumour type named as the subject: nothing of it binds a breast cancer patient
    cs = parse_criteria("Inclusion Criteria:\n\n* Biliary tract cancers (BTCs): Subjects with HER2 overexpression\n")
    assert not [k for c in cs for k in c.constraints]
    # an organ that is a metastatic site of breast cancer is not another tumour type without its cancer word
    (c,) = inc("Patients with lung metastases must have measurable disease")
    assert not of([c], "subgroup")


def test_a_list_head_naming_another_tumour_type_binds_its_bullets_to_that_cohort() -> None:
    """NCT06150664 lists its cohorts as numbered heads ("1. Malignant Melanoma (MM)") over their bullets; a breast
    cancer patient is not bound by the melanoma cohort's "progressed after 2 doses of a PD-1/PD-L1 treatment"
    (2.11.2). A bare "Uterine carcinoma" line is not such a head (no abbreviation, no colon)."""
    from mbcnav.trials.criteria import parse_criteria

    text = (
        "Inclusion Criteria:\n\n1. Age 18 years or older\n2. Metastatic disease, including\n\n"
        f"   1. {q('NCT06150664', 'Malignant Melanoma (MM)')}\n\n"
        f"      * {q('NCT06150664', 'Patients must have received prior treatment with platinum-based chemotherapy')}\n"
        f"   2. {q('NCT06150664', 'Triple Negative Breast Cancer (TNBC)')}\n\n"
        f"      * {q('NCT06150664', 'Patients must have received prior sacituzumab govitecan')}\n"
    )
    by = {c.text: c for c in parse_criteria(text)}
    platinum = by["Patients must have received prior treatment with platinum-based chemotherapy"]
    assert of([platinum], "subgroup") == [{"groups": ["other_cancer_types"]}]
    sg = by["Patients must have received prior sacituzumab govitecan"]
    assert not of([sg], "subgroup")  # the TNBC cohort binds her
    text = "Inclusion Criteria:\n\nUterine carcinoma\n\n* Must have archived tissue\n"
    bound = [c.text for c in parse_criteria(text) for k in c.constraints if k.type == "subgroup"]
    assert bound == ["Uterine carcinoma"]  # 2.14: the line names its own cohort (not met for her), binds no bullet
