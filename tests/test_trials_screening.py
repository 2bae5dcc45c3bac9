"""Comorbidity exclusions and screening items (mbcnav.trials.screening) on real ClinicalTrials.gov sentences.

Every sentence is quoted verbatim from the shared corpus (../shared/data/trials/ctgov-v2-2026-01, the study named in
the comment); `test_quotes_are_verbatim` checks that when the corpus is here.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.trials.criteria import Criterion, parse_criteria
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim

ROOT = Path(__file__).resolve().parents[1]
PATIENTS = ROOT / "benchmarks" / "trials_heldout" / "patients"
D = datetime.date(2026, 11, 26)

QUOTES = Quotes()
q = QUOTES.q


def of(cs: list[Criterion], type_: str) -> list[tuple[str, dict[str, Any]]]:
    return [(k.polarity, k.params) for c in cs for k in c.constraints if k.type == type_]


@pytest.fixture(scope="module")
def diabetic() -> PatientView:
    a, _ = assess_with_response(read_path(PATIENTS / "h03-pik3ca-after-cdk46-diabetes.yaml", today=D), as_of=D)
    return PatientView.of(a)


@pytest.fixture(scope="module")
def plain() -> PatientView:
    a, _ = assess_with_response(read_path(PATIENTS / "h01-premenopausal-de-novo-hr-pos.yaml", today=D), as_of=D)
    return PatientView.of(a)


# ------------------------------------------------------------------------------------------------ reading


def test_infections_in_an_exclusion() -> None:
    # NCT05696626
    cs = exc(
        q(
            "NCT05696626",
            "Known infection with human immunodeficiency virus (HIV), hepatitis B virus (HBV), or hepatitis C virus "
            "(HCV).",
        )
    )
    got = of(cs, "comorbidity")
    assert got == [
        ("excluded", {"condition": "hiv", "qualifier": "known"}),
        ("excluded", {"condition": "hepatitis_b", "qualifier": "known"}),
        ("excluded", {"condition": "hepatitis_c", "qualifier": "known"}),
    ]
    c = cs[0].constraints[0]
    assert cs[0].text[c.span[0] - cs[0].start : c.span[1] - cs[0].start].lower() == "human immunodeficiency virus"


def test_hiv_allowance_is_not_an_exclusion() -> None:
    # NCT04741997: an allowance, nothing to exclude
    cs = exc(
        q(
            "NCT04741997",
            "Participants with known human immunodeficiency virus (HIV)-infection are eligible providing they are on "
            "effective anti-retroviral therapy and have undetectable viral load at their most recent viral load test "
            "and within 90 days prior to randomization.",
        )
    )
    assert of(cs, "comorbidity") == []


def test_uncontrolled_hiv_then_allowance_sentence() -> None:
    # NCT04471727: the first sentence excludes, the second allows
    cs = exc(
        q(
            "NCT04471727",
            "Has uncontrolled infection with Human Immunodeficiency Virus (HIV)-1 or HIV-2. Well-controlled HIV are "
            "eligible.",
        )
    )
    assert of(cs, "comorbidity") == [("excluded", {"condition": "hiv", "qualifier": "uncontrolled"})]


def test_other_malignancy_with_exceptions_keeps_years() -> None:
    # NCT04606446
    cs = exc(
        q(
            "NCT04606446",
            "Participants with any other active malignancy within 3 years prior to enrollment, except for adequately "
            "treated basal cell or squamous cell skin cancer, or carcinoma in situ.",
        )
    )
    assert of(cs, "comorbidity") == [("excluded", {"condition": "other_malignancy", "years": 3})]


def test_the_studys_own_breast_cancer_is_not_other() -> None:
    # NCT06184750
    assert of(exc(q("NCT06184750", "History of invasive breast cancer")), "comorbidity") == []


def test_inclusion_requiring_absence() -> None:
    # NCT06099769
    cs = inc(q("NCT06099769", "Patients must not have another active malignancy that requires treatment."))
    assert of(cs, "comorbidity") == [
        ("excluded", {"condition": "other_malignancy", "qualifier": "requiring_treatment"})
    ]
    # NCT06500455
    cs = inc(
        q(
            "NCT06500455",
            "No chronic obstructive pulmonary disease exacerbation or other acute respiratory illness precluding study "
            "therapy",
        )
    )
    assert of(cs, "comorbidity")[0] == ("excluded", {"condition": "lung_disease", "qualifier": "active"})


def test_inclusion_naming_a_condition_is_not_a_rule() -> None:
    # NCT06224673: a condition for those with HCV, not "must have HCV" nor "must not have HCV"
    cs = inc(
        q(
            "NCT06224673",
            "Individuals with a history of hepatitis C virus (HCV) infection must have been treated without detectable "
            "HCV RNA.",
        )
    )
    assert of(cs, "comorbidity") == []


def test_negated_list_head_flips() -> None:
    # NCT06475989: "Patient must not have any of the following ...:" in the inclusion criteria
    text = (
        "Inclusion Criteria:\n\n* "
        + q(
            "NCT06475989",
            "Patient must not have any of the following cardiovascular and thromboembolic disorders or medical "
            "conditions:",
        )
        + "\n\n  * "
        + q(
            "NCT06475989",
            "Congestive heart failure class 3 or 4 as defined by the New York Heart Association, unstable angina "
            "pectoris, or serious cardiac arrhythmias.",
        )
        + "\n"
    )
    got = of(parse_criteria(text), "comorbidity")
    assert ("excluded", {"condition": "heart_failure", "qualifier": "severe"}) in got
    assert ("excluded", {"condition": "coronary_artery_disease", "qualifier": "severe"}) in got
    assert ("excluded", {"condition": "cardiac_arrhythmia", "qualifier": "severe"}) in got
    assert all(p == "excluded" for p, _ in got)


def test_recovery_from_toxicity_in_an_inclusion() -> None:
    # NCT04222413
    cs = inc(
        q(
            "NCT04222413",
            "Patients must have recovered from any acute toxicity related to prior therapy or surgery or disease to a "
            "grade 1 or less.",
        )
    )
    assert of(cs, "comorbidity") == [("excluded", {"condition": "unresolved_toxicity", "grade": "≤ 1"})]


def test_qtc_bound_and_qt_prolonging_drugs() -> None:
    # NCT05123482
    assert of(exc(q("NCT05123482", r"Mean resting QTcF \> 470 msec.")), "comorbidity") == [
        ("excluded", {"condition": "long_qt", "qtc_ms": "> 470"})
    ]
    # NCT05989828
    assert of(exc(q("NCT05989828", "History of congenital QT prolongation")), "comorbidity") == [
        ("excluded", {"condition": "long_qt", "qualifier": "history"})
    ]
    # NCT06374459: medications, not the condition
    cs = exc(
        q(
            "NCT06374459",
            "Strong and moderate CYP3A4 and CYP2C8 inhibitors (including grapefruit), strong and moderate CYP3A and "
            "CYP2C8 inducers, and drugs with QT prolonging potential within 5 half-lives of the agent.",
        )
    )
    assert of(cs, "comorbidity") == []


def test_screening_items() -> None:
    # NCT05366881
    assert of(inc(q("NCT05366881", "Able and willing to provide informed consent")), "screening") == [
        ("required", {"item": "consent"})
    ]
    # NCT05837455
    cs = exc(
        q(
            "NCT05837455",
            "Concurrent participation in any investigational therapeutic trial for treatment of breast cancer.",
        )
    )
    assert of(cs, "screening") == [("excluded", {"item": "trial_participation"})]
    # NCT05959291
    assert of(inc(q("NCT05959291", "Archived tumor biopsy available.")), "screening") == [
        ("required", {"item": "tissue_sample"})
    ]


def test_contraception_duty_in_a_pregnancy_exclusion() -> None:
    # NCT06188520: pregnancy is the parser's; the contraception duty is required, not excluded
    cs = exc(
        q(
            "NCT06188520",
            "Currently pregnant (confirmed with positive pregnancy test), breast feeding, or planning to become "
            "pregnant. Participants of childbearing potential must agree to use one highly effective contraceptive "
            "measure.",
        )
    )
    assert of(cs, "screening") == [("required", {"item": "contraception"})]
    assert [k.type for k in cs[0].constraints].count("pregnancy") == 1


def test_consent_as_a_point_in_time_is_not_an_item() -> None:
    # NCT05187832
    cs = inc(q("NCT05187832", "Postmenopausal women defined as NCCN guideline at the time of informed consent."))
    assert of(cs, "screening") == []


def test_investigator_judgement_only_when_nothing_named() -> None:
    # NCT05187832: the named psychiatric condition and compliance, not the generic judgement
    cs = exc(
        q(
            "NCT05187832",
            "Patient with mental disorder that, in the opinion of the Investigator, could lead to poor compliance with "
            "required study procedures.",
        )
    )
    assert of(cs, "comorbidity") == [("excluded", {"condition": "psychiatric"})]
    assert of(cs, "screening") == [("excluded", {"item": "compliance"})]


# ------------------------------------------------------------------------------------------------ checking


def test_recorded_diabetes_meets_a_diabetes_exclusion(diabetic: PatientView, plain: PatientView) -> None:
    # NCT04785989
    c = exc(q("NCT04785989", "History of diabetes"))[0]
    r = evaluate_criterion(c, diabetic)
    assert r.verdict == "met"
    assert "type 2 diabetes on metformin" in r.evidence[0] and "2018-05" in r.evidence[0]
    r = evaluate_criterion(c, plain)
    assert r.verdict == "unknown"
    assert r.evidence == ["diabetes: not recorded; ask at screening"]


def test_uncontrolled_diabetes_is_unknown_even_when_recorded(diabetic: PatientView) -> None:
    # NCT00068003
    r = evaluate_criterion(exc(q("NCT00068003", "Has uncontrolled diabetes."))[0], diabetic)
    assert r.verdict == "unknown"
    assert "uncontrolled" in r.evidence[0] and "metformin" in r.evidence[0]


def test_unrecorded_conditions_are_unknown(diabetic: PatientView) -> None:
    # NCT04606446: other malignancy — the breast cancer is not "other"
    c = exc(
        q(
            "NCT04606446",
            "Participants with any other active malignancy within 3 years prior to enrollment, except for adequately "
            "treated basal cell or squamous cell skin cancer, or carcinoma in situ.",
        )
    )[0]
    r = evaluate_criterion(c, diabetic)
    assert r.verdict == "unknown" and "second primary" in r.evidence[0]
    # NCT06099769: an inclusion requiring absence is unknown too, never met by default
    r = evaluate_criterion(
        inc("Patients must not have another active malignancy that requires treatment.")[0], diabetic
    )
    assert r.verdict == "unknown"


def test_screening_items_are_never_decided(diabetic: PatientView) -> None:
    r = evaluate_criterion(inc("Able and willing to provide informed consent")[0], diabetic)
    assert r.verdict == "unknown"
    assert r.evidence == ["consent: confirmed by the study team at screening"]


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not not_verbatim(QUOTES)
