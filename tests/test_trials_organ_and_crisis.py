"""Criteria a research nurse decides from the chart without a number in the text: "adequate organ function" against
the record's labs (lab_criteria.yaml organ_panels, CTCAE grade 1 at most), LVEF bounds, visceral crisis and
symptomatic visceral disease (assess/visceral.py, ESO-ESMO ABC5). Sentences are quoted verbatim from the shared
corpus (checked when it is here)."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from mbcnav.assess.labs import Flag
from mbcnav.trials.criteria import Criterion
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import AS_OF, Quotes, exc, inc, needs_corpus, not_verbatim, one, patient_view

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "benchmarks" / "trials_heldout" / "patients"
QUOTES = Quotes()
q = QUOTES.q


@pytest.fixture(scope="module")
def normal_labs() -> PatientView:  # h01: every lab of 2026-11-05 inside its reference range; liver metastases
    return patient_view(HELDOUT / "h01-premenopausal-de-novo-hr-pos.yaml")


@pytest.fixture(scope="module")
def abnormal_labs() -> PatientView:  # h05: ANC 1.6 (low), platelets 148 (low, LLN 150), AST / ALT above ULN
    return patient_view(HELDOUT / "h05-her2-low-after-two-chemo.yaml")


@pytest.fixture(scope="module")
def no_labs() -> PatientView:  # bone and liver relapse on adjuvant AI, no laboratory values, ECOG 0
    return patient_view(ROOT / "examples" / "cases" / "02-recurrence-on-adjuvant-ai.yaml")


ADEQUATE = q("NCT06016738", "Adequate hematologic, hepatic, and renal functions.")
ADEQUATE_28 = q("NCT05950945", "Has adequate organ and bone marrow function within 28 days before enrollment.")


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


def test_adequate_function_is_read_with_its_systems() -> None:
    (c,) = inc(ADEQUATE)
    assert [(k.type, k.params) for k in c.constraints] == [
        ("organ_function", {"systems": ["bone_marrow", "hepatic", "renal"]})
    ]
    (c,) = inc(ADEQUATE_28)
    assert [k.params["systems"] for k in c.constraints] == [["bone_marrow", "organ"]]


def test_adequate_function_is_met_when_every_panel_test_is_in_range(normal_labs: PatientView) -> None:
    r = one(inc(ADEQUATE), normal_labs)
    assert r.verdict == "met"
    assert "creatinine" in r.evidence[0] and "platelets" in r.evidence[0]


def test_out_of_range_value_leaves_adequate_open_never_failed(abnormal_labs: PatientView) -> None:
    # platelets 148 below the LLN 150 but >= 100 x 10^9/L, which 46 of 48 breast studies' written thresholds accept
    # (lab_criteria.yaml adequate_grade1, benchmarks/bench_lab_thresholds.py): adequate
    r = one(inc(ADEQUATE_28), abnormal_labs)
    assert r.verdict == "met"
    assert "platelets 148" in r.evidence[0]
    # below 100 the protocol's own threshold decides (75 in some, 100 in most): open, not failed
    low = dataclasses.replace(
        abnormal_labs,
        labs=tuple(dataclasses.replace(x, value=90.0) if x.analyte == "platelets" else x for x in abnormal_labs.labs),
    )
    r = one(inc(ADEQUATE_28), low)
    assert r.verdict == "unknown" and "platelets 90" in r.evidence[0]


def test_transaminases_up_to_one_and_a_half_times_uln_are_adequate(normal_labs: PatientView) -> None:
    alt = next(x for x in normal_labs.labs if x.analyte == "alt")
    assert alt.reference_range is not None and alt.reference_range.high is not None
    uln = alt.reference_range.high

    def at(times: float) -> PatientView:
        labs = tuple(
            dataclasses.replace(x, value=times * uln, flag="high", times_uln=times) if x.analyte == "alt" else x
            for x in normal_labs.labs
        )
        return dataclasses.replace(normal_labs, labs=labs)

    # ALT <= 1.5 x ULN: accepted by 47 of 49 breast studies' written ALT thresholds (most write 2.5 or 3 x ULN)
    assert one(inc(ADEQUATE), at(1.4)).verdict == "met"
    # 2 x ULN: some protocols write 1.5 x ULN, so their threshold decides; 6 x ULN (CTCAE grade 3) fails any
    assert one(inc(ADEQUATE), at(2.0)).verdict == "unknown"
    assert one(inc(ADEQUATE), at(6.0)).verdict == "not_met"


def test_grade_one_anaemia_and_neutropenia_are_still_adequate(normal_labs: PatientView) -> None:
    def lab(p: PatientView, analyte: str, value: float, flag: Flag) -> PatientView:
        labs = tuple(dataclasses.replace(x, value=value, flag=flag) if x.analyte == analyte else x for x in p.labs)
        return dataclasses.replace(p, labs=labs)

    # CTCAE v5.0 grade 1: haemoglobin < LLN to 10.0 g/dL, neutrophils < LLN to 1.5 x 10^9/L
    hb = next(x for x in normal_labs.labs if x.analyte == "haemoglobin")
    assert hb.unit == "g/dL"
    assert one(inc(ADEQUATE), lab(normal_labs, "haemoglobin", 10.5, "low")).verdict == "met"
    assert one(inc(ADEQUATE), lab(normal_labs, "haemoglobin", 9.5, "low")).verdict == "unknown"
    assert one(inc(ADEQUATE), lab(normal_labs, "neutrophils", 1.6, "low")).verdict == "met"
    assert one(inc(ADEQUATE), lab(normal_labs, "neutrophils", 1.2, "low")).verdict == "unknown"


def test_adequate_function_without_labs_or_with_stale_labs_is_unknown(
    no_labs: PatientView, normal_labs: PatientView
) -> None:
    assert one(inc(ADEQUATE), no_labs).verdict == "unknown"
    later = dataclasses.replace(normal_labs, as_of=AS_OF + datetime.timedelta(days=90))
    r = one(inc(ADEQUATE), later)
    assert r.verdict == "unknown" and "older than" in r.evidence[0]


def test_cardiac_function_is_not_read_from_the_blood_panel(normal_labs: PatientView) -> None:
    (c,) = inc("Adequate cardiac function.")
    assert one([c], normal_labs).verdict == "unknown"


LVEF = q(
    "NCT06176261",
    "Left ventricular ejection fraction (LVEF) ≥ 50% by echocardiogram (ECHO) or multigated acquisition (MUGA) scan.",
)


def test_lvef_bound_against_the_record(normal_labs: PatientView) -> None:
    (c,) = inc(LVEF)  # "or MUGA" is how it is measured, not an alternative bound
    assert [(k.type, k.params.get("min")) for k in c.constraints] == [("organ_function", 50)]
    assert not any(x.analyte == "lvef" for x in normal_labs.labs)
    assert evaluate_criterion(c, normal_labs).verdict == "unknown"  # not recorded: measured at screening
    lab = next(x for x in normal_labs.labs if x.analyte == "platelets")
    for value, verdict in ((62.0, "met"), (45.0, "not_met")):
        lvef = dataclasses.replace(lab, analyte="lvef", name="LVEF", value=value, unit="%")
        p = dataclasses.replace(normal_labs, labs=(*normal_labs.labs, lvef))
        assert evaluate_criterion(c, p).verdict == verdict


CRISIS = q("NCT06176261", "Visceral crisis or impending visceral crisis")
AT_RISK = q(
    "NCT06428396",
    "Has advanced/metastatic, symptomatic visceral spread at risk of rapidly evolving into life-threatening "
    "complications",
)
SYMPTOMATIC = q(
    "NCT06016738",
    "Symptomatic visceral disease, imminent organ failure, or any other reason that makes the participant "
    "ineligible for endocrine monotherapy.",
)


def conditions(cs: list[Criterion]) -> list[str]:
    return [k.params["condition"] for c in cs for k in c.constraints if k.type == "comorbidity"]


def test_visceral_crisis_wordings_are_read() -> None:
    assert conditions(exc(CRISIS)) == ["visceral_crisis"]
    assert conditions(exc(AT_RISK)) == ["visceral_crisis"]  # "at risk of life-threatening": the crisis itself
    assert sorted(conditions(exc(SYMPTOMATIC))) == ["symptomatic_visceral_disease", "visceral_crisis"]


def test_crisis_not_suspected_from_current_labs_does_not_exclude(normal_labs: PatientView) -> None:
    assert normal_labs.visceral_crisis == "not_suspected"
    r = one(exc(CRISIS), normal_labs)
    assert r.verdict == "not_met" and "not suspected" in r.evidence[0]


def test_suspected_or_recorded_crisis_is_never_ruled_out(normal_labs: PatientView) -> None:
    suspected = dataclasses.replace(normal_labs, visceral_crisis="suspected")
    assert one(exc(CRISIS), suspected).verdict == "unknown"
    present = dataclasses.replace(normal_labs, visceral_crisis="present")
    assert one(exc(CRISIS), present).verdict == "met"
    assert one(exc(SYMPTOMATIC), present).verdict == "met"


def test_no_visceral_metastasis_rules_out_both(normal_labs: PatientView) -> None:
    bone_only = dataclasses.replace(normal_labs, visceral_crisis="not_applicable")
    assert one(exc(CRISIS), bone_only).verdict == "not_met"
    assert one(exc(SYMPTOMATIC), bone_only).verdict == "not_met"


def test_without_labs_ecog_decides_the_crisis_only_when_ambulatory(no_labs: PatientView) -> None:
    assert no_labs.visceral_crisis == "unknown" and no_labs.facts["ecog"] == 0
    ecog1 = dataclasses.replace(no_labs, facts={**no_labs.facts, "ecog": 1})
    ecog2 = dataclasses.replace(no_labs, facts={**no_labs.facts, "ecog": 2})
    assert one(exc(CRISIS), ecog1).verdict == "not_met"
    assert one(exc(CRISIS), ecog2).verdict == "unknown"
    # symptomatic visceral disease needs ECOG 0 (no symptoms at all) to be ruled out
    assert one(exc(SYMPTOMATIC), no_labs).verdict == "not_met"
    assert one(exc(SYMPTOMATIC), ecog1).verdict == "unknown"
