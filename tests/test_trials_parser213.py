"""Parser 2.13: misreadings found on the eighth held-out set (benchmarks/trials_fresh7) after it was scored once: a
flat list of indications for several subtypes and tumour types ("Patients with one of the following indications:"),
a disease "not treated with systemic therapy in the metastatic setting", and a head whose sub-bullets only allow
things. Each reading quotes the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbcnav.trials.criteria import Criterion, parse_criteria
from mbcnav.trials.match import evaluate_criterion, match_trial
from mbcnav.trials.patient_view import PatientView

from .test_trials_list_heads import study
from .trials_corpus import Quotes, inc, needs_corpus, not_verbatim, patient_view

QUOTES = Quotes()
q = QUOTES.q
FRESH7 = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_fresh7" / "patients"

PDAC = q(
    "NCT06562192",
    "Locally advanced unresectable or metastatic PDAC with disease progression following, or intolerance to cytotoxic "
    "chemotherapy, unless patient was ineligible to receive such therapy",
)
HR_BC = q(
    "NCT06562192",
    "Locally advanced unresectable or metastatic HR+/HER2- ductal or lobular BC with disease progression following, "
    "or intolerance to, at least 2 lines of therapy, unless patient was ineligible to receive such therapy",
)
TNBC = q(
    "NCT06562192",
    "Locally advanced unresectable or metastatic TNBC with disease progression following, or intolerance to, at "
    "least 2 lines of therapy, unless patient was ineligible to receive such therapy",
)
INDICATIONS = (
    f"Inclusion Criteria:\n\n* {q('NCT06562192', 'Patients with one of the following indications:')}\n"
    f"* {PDAC}\n* {HR_BC}\n* {TNBC}\n* {q('NCT06562192', 'Patients must have lesions showing 68Ga-NNS309 uptake')}\n"
)


def of(cs: list[Criterion], type_: str) -> list[dict[str, object]]:
    return [k.params for c in cs for k in c.constraints if k.type == type_]


@pytest.fixture(scope="module")
def hr_pos() -> PatientView:  # p07: HR+/HER2-0, relapsing on adjuvant tamoxifen, first line not started
    return patient_view(next(FRESH7.glob("p07-*.yaml")))


def test_subtype_indications_in_a_flat_list_are_alternatives_each_keeping_its_subtype(hr_pos: PatientView) -> None:
    """Before, the HR+/HER2- and TNBC bullets clashed and both lost their receptor requirement, so the TNBC bullet was
    'met' for an HR+ patient; now they are one group of alternatives: the patient needs to fit one."""
    by = {c.text: c for c in parse_criteria(INDICATIONS)}
    hr, tn = by[HR_BC], by[TNBC]
    assert hr.any_of is not None and hr.any_of == tn.any_of
    assert of([hr], "hr_status") == [{"status": "positive"}] and of([tn], "tnbc") == [{}]
    assert evaluate_criterion(tn, hr_pos).verdict == "not_met"
    assert evaluate_criterion(hr, hr_pos).verdict == "met"
    # the uptake requirement is not one of the alternatives
    assert by["Patients must have lesions showing 68Ga-NNS309 uptake"].any_of is None


def test_another_tumour_types_indication_is_not_met_and_excludes_no_one(hr_pos: PatientView) -> None:
    by = {c.text: c for c in parse_criteria(INDICATIONS)}
    pdac = by[PDAC]
    assert of([pdac], "subgroup") == [{"groups": ["other_cancer_disease"], "cohort_head": True}]
    r = evaluate_criterion(pdac, hr_pos)
    assert r.verdict == "not_met" and r.excludes is False
    m = match_trial(study(INDICATIONS), list(by.values()), hr_pos)
    assert not any("PDAC" in x for x in m.excluded_by)
    # a rule for that cohort ("... patients must ...") is not applicable (met), and a bullet that also names breast
    # cancer or solid tumours is not another tumour type's indication
    (rule,) = inc("Metastatic colorectal cancer patients must have received oxaliplatin")
    assert evaluate_criterion(rule, hr_pos).verdict == "met"
    mixed_text = "Advanced melanoma or PD-L1-positive advanced, relapsed, or refractory solid tumor"
    (mixed,) = inc(q("NCT02332668", mixed_text))
    assert not of([mixed], "subgroup")


def test_a_disease_not_treated_in_the_metastatic_setting_allows_no_prior_line() -> None:
    (c,) = inc(
        q(
            "NCT02732860",
            "Stage IV (metastatic) disease that has not been treated with systemic therapy in the metastatic setting",
        )
    )
    assert {"kind": "any", "setting": "metastatic", "min": None, "max": 0} in of([c], "prior_lines")


def test_allowances_below_a_head_never_decide_it(hr_pos: PatientView) -> None:
    """NCT06268665: "Must be planning to receive paclitaxel weekly ..." over five "... is allowed" bullets was 'met'
    from its sub-bullets; the allowances say nothing about the plan, so it stays for a person to judge."""
    text = (
        "Inclusion Criteria:\n\n* "
        + q(
            "NCT06268665",
            "Must be planning to receive paclitaxel weekly for 12 weeks (12 weeks total) as part of neoadjuvant, "
            "adjuvant, or metastatic cancer treatment.",
        )
        + "\n\n  * "
        + q("NCT06268665", "Concurrent biologic therapy (e.g., trastuzumab and pertuzumab) is allowed.")
        + "\n  * "
        + q("NCT06268665", "Concurrent use of immune checkpoint inhibitor therapy is allowed.")
        + "\n"
    )
    m = match_trial(study(text), parse_criteria(text), hr_pos)
    assert m.criteria[0].verdict == "unknown"


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


def test_another_tumour_type_in_an_exclusion_is_never_a_cohort_she_is_outside_of() -> None:
    from .trials_corpus import exc

    (c,) = exc(q("NCT05688215", "Recurrent or metastatic pancreatic adenocarcinoma"))
    assert not of([c], "subgroup")  # a second cancer of hers would exclude her: never "not applicable"


# ---- parser 2.14 ---------------------------------------------------------------------------------------------------


def test_a_numbered_cohort_of_another_tumour_type_is_that_cohorts_indication() -> None:
    """NCT05059444 lists "Cohort 1: Cohort 1: Muscle invasive carcinoma of the bladder ..." to "Cohort 12: ...
    adenocarcinoma of the rectum" beside its breast cohort: each names another tumour type's cohort."""
    for text in (
        "Cohort 1: Cohort 1: Muscle invasive carcinoma of the bladder, ureter, or renal pelvis (stage II-III),",
        "Cohort 12: Pathologically confirmed adenocarcinoma of the rectum (located up to 15 cm from the anal verge)",
    ):
        (c,) = inc(q("NCT05059444", text))
        assert of([c], "subgroup") == [{"groups": ["other_cancer_disease"], "cohort_head": True}], text


def test_what_is_not_another_tumour_types_indication() -> None:
    # an organ's tumour burden is about metastases; a list that also names TNBC speaks to breast cancer
    (burden,) = inc(q("NCT06860815", "Liver tumor burden \\< 50%"))
    assert not of([burden], "subgroup")
    (mixed,) = inc(q("NCT04787042", "Melanoma, RCC, TNBC, NSCLC, SCCHN, and MSI-Hi tumors"))
    assert not of([mixed], "subgroup") and of([mixed], "tnbc") == [{}]
    # below a head of that tumour type, the bullet refines the cohort: not applicable, not another indication
    text = (
        "Inclusion Criteria:\n\n1. Metastatic disease, including\n\n"
        f"   1. {q('NCT06150664', 'Head and Neck squamous cell carcinoma (HNSCC)')}\n\n"
        f"      * {q('NCT06150664', 'HNSCC of oral cavity, oropharynx, hypopharynx, or larynx')}\n"
    )
    by = {c.text: c for c in parse_criteria(text)}
    (refined,) = of([by["HNSCC of oral cavity, oropharynx, hypopharynx, or larynx"]], "subgroup")
    assert "cohort_head" not in refined
