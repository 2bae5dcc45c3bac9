"""Parser 2.16 (docs/trials-criteria.md §2.16): a biomarker "alteration" is a finding (not its absence) and a negative
germline test does not answer a tumour alteration; requirements about the care plan, another study and a study
tracer (trials/plans.py); thresholdless "adequate function" failed by a CTCAE grade 3 value. Sentences are quoted
verbatim from the shared corpus (checked when it is here)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mbcnav.trials.criteria import Criterion
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim, one, patient_view

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "examples" / "cases"
QUOTES = Quotes()
q = QUOTES.q


@pytest.fixture(scope="module")
def on_first_line() -> PatientView:  # letrozole + ribociclib ongoing, no progression; germline BRCA not tested
    return patient_view(CASES / "01-de-novo-hr-pos-bone-only.yaml")


@pytest.fixture(scope="module")
def brca_negative() -> PatientView:  # germline BRCA1/2 negative, no tumour BRCA test; on pembrolizumab
    return patient_view(CASES / "05-tnbc-pdl1-cps-high.yaml")


@pytest.fixture(scope="module")
def brca_carrier() -> PatientView:  # germline BRCA2 pathogenic variant
    return patient_view(CASES / "06-germline-brca2.yaml")


@pytest.fixture(scope="module")
def between_lines() -> PatientView:  # progressed, no line ongoing
    return patient_view(CASES / "07-her2-low-after-cdk46.yaml")


@pytest.fixture(scope="module")
def on_tdxd() -> PatientView:  # HER2-positive, on trastuzumab deruxtecan
    return patient_view(CASES / "04-her2-positive-brain.yaml")


@pytest.fixture(scope="module")
def progressed_on_tdxd() -> PatientView:
    return patient_view(
        ROOT / "benchmarks" / "trials_fresh9" / "patients" / "r06-her2-ultralow-after-tdxd-prior-thyroid-cancer.yaml"
    )


@pytest.fixture(scope="module")
def on_paclitaxel() -> PatientView:
    return patient_view(
        ROOT / "benchmarks" / "trials_fresh6" / "patients" / "o01-hr-pos-visceral-crisis-on-paclitaxel.yaml"
    )


@pytest.fixture(scope="module")
def egfr_28() -> PatientView:  # kidney transplant recipient, eGFR 28 mL/min/1.73 m2 (2026-11-02)
    return patient_view(
        ROOT / "benchmarks" / "trials_fresh9" / "patients" / "r05-esr1-elacestrant-kidney-transplant-adrenal.yaml"
    )


def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


# ------------------------------------------------------------------------------------------------ biomarkers

BRCA_HRD = q(
    "NCT05787587",
    "For Module 1 only, Have documented evidence of BRCA1/2 and/or genetic alterations conferring homologous "
    "recombination deficiency (HRD) (ATM, BARD1, BRIP1, CDK12, CHEK1, CHEK2, FANCL, PALB2, PPP2R2A, RAD51B, RAD51C, "
    "RAD51D, RAD54L, NBN, FANCA)",
)


def test_an_alteration_required_is_not_met_by_a_negative_test(
    brca_negative: PatientView, brca_carrier: PatientView
) -> None:
    # Before 2.16 an "altered" state was read as wild type: a germline BRCA-negative woman "met" a requirement of a
    # BRCA or HRD-gene alteration (NCT05787587 ranked in the top 10 of 41 judged patients, graded 1 by the judges).
    r = one(inc(BRCA_HRD), brca_negative)
    assert r.verdict == "unknown"  # germline negative; the tumour was never tested for BRCA or the HRD genes
    assert "tumour BRCA not tested" in " ".join(r.evidence)
    assert one(inc(BRCA_HRD), brca_carrier).verdict == "met"


GERMLINE_PANEL = q(
    "NCT04294927",
    "Women with a class 5 (definitely pathogenic) BRCA1, BRCA2, RAD51C, RAD51D or BRIP1 germline mutation in one of "
    "the participating centers.",
)
GERMLINE_BRCA = q(
    "NCT04090567",
    "Women age greater than 18 years with advanced/metastatic HER2 negative, BRCA germline positive breast cancer.",
)
GERMLINE_OR_TUMOUR = q(
    "NCT05417594",
    "Must have histologically or cytologically confirmed HER2-negative carcinoma of the breast with recurrent locally "
    "advanced or metastatic disease and evidence of a predicted loss of function germline or tumour mutation in in "
    "BRCA1, BRCA2, PALB2, RAD51C or RAD51D .",
)


def _bio(cs: list[Criterion]) -> list[dict[str, Any]]:
    return [k.params for c in cs for k in c.constraints if k.type == "biomarker"]


@needs_corpus
def test_a_germline_requirement_is_answered_by_the_germline_test(
    brca_negative: PatientView, brca_carrier: PatientView
) -> None:
    assert [b["origin"] for b in _bio(inc(GERMLINE_BRCA))] == ["germline"]
    assert one(inc(GERMLINE_BRCA), brca_negative).verdict == "not_met"
    assert one(inc(GERMLINE_BRCA), brca_carrier).verdict == "met"
    # BRCA negative, but RAD51C / RAD51D / BRIP1 never tested: one gene of the panel may still carry the variant
    assert one(inc(GERMLINE_PANEL), brca_negative).verdict == "unknown"


@needs_corpus
def test_germline_or_tumour_is_any_origin(brca_negative: PatientView) -> None:
    cs = inc(GERMLINE_OR_TUMOUR)
    assert [b["origin"] for b in _bio(cs)] == ["any"]  # was read as germline only
    verdicts = [evaluate_criterion(c, brca_negative).verdict for c in cs]
    assert "met" not in verdicts and "unknown" in verdicts  # the tumour was not tested


# ------------------------------------------------------------------------------------------------ care plan

ANTICIPATED_PACLITAXEL = q(
    "NCT03987555",
    "Individuals receiving treatment at the Wake Forest Comprehensive Cancer Center who are anticipated to receive "
    "paclitaxel for curative or palliative intent, with or without surgery and/or radiation",
)
PLANNING_PACLITAXEL = q(
    "NCT06268665",
    "Must be planning to receive paclitaxel weekly for 12 weeks (12 weeks total) as part of neoadjuvant, adjuvant, "
    "or metastatic cancer treatment.",
)


@pytest.mark.parametrize("sentence", [ANTICIPATED_PACLITAXEL, PLANNING_PACLITAXEL])
def test_a_planned_treatment_is_read_against_the_ongoing_line(
    sentence: str, on_first_line: PatientView, between_lines: PatientView, on_paclitaxel: PatientView
) -> None:
    cs = inc(sentence)
    assert [(k.type, k.params) for c in cs for k in c.constraints if k.type == "planned_therapy"] == [
        ("planned_therapy", {"drug": "paclitaxel"})
    ]
    # judged "not met" for women continuing letrozole + ribociclib: the plan is that line
    r = one(cs, on_first_line)
    assert r.verdict == "not_met"
    assert "letrozole" in " ".join(r.evidence)
    assert one(cs, on_paclitaxel).verdict == "met"
    # progressed with no line ongoing: the next treatment is still to choose, the record cannot say
    assert one(cs, between_lines).verdict == "unknown"


NOT_PLANNING = q(
    "NCT03678025",
    "STEP 2 RANDOMIZATION: PRIOR/CONCURRENT THERAPY CRITERIA: Patients must not be planning to receive docetaxel after "
    "randomization.",
)
IF_PLANNING = q(
    "NCT04929028",
    "LOW-RISK STRATUM: Participant must agree to having phenytoin levels checked weekly if planning to receive "
    "capecitabine while taking phenytoin for a seizure disorder",
)
STUDY_DRUG = q(
    "NCT06710847",
    "Intends to receive GSK4418959 (alone or in combination with PD-1 inhibitor, as determined between Investigator "
    "and sponsor) as next line of treatment",
)


@needs_corpus
@pytest.mark.parametrize("sentence", [NOT_PLANNING, IF_PLANNING, STUDY_DRUG])
def test_a_negated_conditional_or_study_drug_plan_is_not_a_requirement(sentence: str) -> None:
    assert [k for c in inc(sentence) for k in c.constraints if k.type == "planned_therapy"] == []


INTENTION_TDXD = q(
    "NCT06551116",
    "Intention to initiate therapy with T-DXd (Enhertu) at FDA-approved dose and schedule as next line of therapy. If "
    "T-DXd was already initiated, patients must be registered within 30 days of initiation.",
)


def test_a_plan_to_start_a_drug(
    on_first_line: PatientView, on_tdxd: PatientView, progressed_on_tdxd: PatientView
) -> None:
    cs = inc(INTENTION_TDXD)
    assert one(cs, on_first_line).verdict == "not_met"
    # on T-DXd already: whether a course under way counts ("registered within 30 days") the study team says
    assert one(cs, on_tdxd).verdict == "unknown"
    # a treatment she progressed on is not one to start
    r = one(cs, progressed_on_tdxd)
    assert r.verdict == "not_met"
    assert "progressed on trastuzumab deruxtecan" in " ".join(r.evidence)


NIH_TRIAL = q(
    "NCT01441089",
    "Any individual currently enrolled in an NIH intramural research program clinical trials receiving treatment.",
)


def test_current_enrolment_in_a_treatment_trial(on_first_line: PatientView, between_lines: PatientView) -> None:
    cs = inc(NIH_TRIAL)
    assert "trial_enrolment" in [k.type for c in cs for k in c.constraints]
    # judged "not met" for every patient on standard drugs: the ongoing line holds no study drug
    assert one(cs, on_first_line).verdict == "not_met"
    assert one(cs, between_lines).verdict == "unknown"
    on_study_drug = replace(on_first_line, facts={**on_first_line.facts, "current_regimen": ["camizestrant"]})
    assert one(cs, on_study_drug).verdict == "met"  # camizestrant: marked investigational in the catalogue


SSTR_PET = q(
    "NCT06590857",
    "At least one RECIST v1.1-measurable tumor lesion that is SSTR-PET positive (defined as maximum standard uptake "
    "value (SUVmax) higher than liver mean standard uptake value (SUVmean) on SSTR-PET imaging) and at least 80% of "
    "RECIST v1.1measurable tumor lesions are SSTR-PET positive",
)


def test_a_study_tracer_scan_is_an_unknown_that_needs_a_test(on_first_line: PatientView) -> None:
    from mbcnav.trials.ranking import unknown_of

    cs = inc(SSTR_PET)
    types = [k.type for c in cs for k in c.constraints]
    assert "tracer_uptake" in types
    r = one(cs, on_first_line)
    assert r.verdict == "unknown"
    # a scan with the study's tracer costs like a sent-out assay: the ranking puts the study below those whose
    # unknowns a screening visit settles (judges grade such a study 1)
    assert unknown_of(cs[0].constraints).cost >= 0.5


# ------------------------------------------------------------------------------------------------ organ function

RENAL = q(
    "NCT06590857",
    "Sufficient renal function, as evidenced by eGFR ≥60 mL/min/1.73m2 calculated using the Chronic Kidney Disease "
    "Epidemiology Collaboration (CKD-EPI) equation",
)
HAEM_HEP = q("NCT06590857", "Adequate hematologic and hepatic function")
ADEQUATE_HHR = q("NCT06016738", "Adequate hematologic, hepatic, and renal functions.")


def test_grade_3_fails_adequate_function(egfr_28: PatientView, on_paclitaxel: PatientView) -> None:
    r = one(inc(ADEQUATE_HHR), egfr_28)
    assert r.verdict == "not_met"  # eGFR 28: CTCAE chronic kidney disease grade 3, under any usual threshold
    assert "grade 3" in " ".join(r.evidence)
    # since 2.18 the sentence's own bound is read ("as evidenced by eGFR >= 60"): eGFR 28 fails it, 86 meets it
    r = one(inc(RENAL), egfr_28)
    assert r.verdict == "not_met" and "criterion ≥ 60" in " ".join(r.evidence)
    assert one(inc(RENAL), on_paclitaxel).verdict == "met"  # eGFR 86, creatinine in range
    # a value between grade 1 and grade 3 is the protocol's to judge; bone marrow and liver are in range here
    assert one(inc(HAEM_HEP), egfr_28).verdict in ("met", "unknown")


# ------------------------------------------------------------------------------------------------ recorded grades

NEUROPATHY_G2 = q("NCT06029998", "Neuropathy grade ≥ 2")
FRESH = ROOT / "benchmarks"


@pytest.mark.parametrize(
    ("case", "verdict"),
    [
        # "grade 2 sensory peripheral neuropathy (feet and fingertips) after docetaxel and eribulin"
        ("trials_fresh5/patients/n04-heavily-pretreated-liver-dominant-raised-lfts.yaml", "met"),
        # "grade 1 sensory neuropathy of both feet after docetaxel, persistent"
        ("trials_fresh4/patients/m08-her2-pos-brain-after-tdxd-tucatinib.yaml", "not_met"),
        # "grade 2 ... after first-line paclitaxel ..., improved to grade 1-2": no single grade now
        ("trials_fresh4/patients/m10-tnbc-her2-low-after-five-lines-hcv.yaml", "unknown"),
    ],
)
def test_a_recorded_condition_s_grade_answers_a_graded_exclusion(case: str, verdict: str) -> None:
    # before, a recorded neuropathy left every graded criterion to "ask at screening"; judges read the grade written
    assert one(exc(NEUROPATHY_G2), patient_view(FRESH / case)).verdict == verdict


def test_the_grade_said_to_hold_now_wins() -> None:
    from mbcnav.trials.screening import _recorded_grade

    assert _recorded_grade("paclitaxel-induced sensory neuropathy, grade 2 in 2026-05, grade 1 now") == 1
    assert _recorded_grade("Grade 2 sensory neuropathy from paclitaxel, stopped 2026-04-13; grade 1 by 2026-09") == 1
    assert _recorded_grade("Chemotherapy-induced sensory peripheral neuropathy, CTCAE grade 2 (numbness)") == 2
    assert _recorded_grade("sensory neuropathy, improved to grade 1-2") is None
    assert _recorded_grade("sensory neuropathy of both feet") is None


# ------------------------------------------------------------------------------------------------ ADC vs chemotherapy

CHEMO_ADVANCED = q("NCT06016738", "Previously received chemotherapy in the advanced/metastatic setting.")


def test_an_adc_line_leaves_a_chemotherapy_count_open(
    progressed_on_tdxd: PatientView, on_first_line: PatientView
) -> None:
    # letrozole + ribociclib, fulvestrant, then trastuzumab deruxtecan: no cytotoxic line, but an ADC with a cytotoxic
    # payload, which two fresh9 judges counted as chemotherapy; whether the protocol does is not in the record
    r = one(exc(CHEMO_ADVANCED), progressed_on_tdxd)
    assert r.verdict == "unknown"
    assert "antibody-drug conjugate" in " ".join(r.evidence)
    assert one(exc(CHEMO_ADVANCED), on_first_line).verdict == "not_met"  # endocrine lines only
