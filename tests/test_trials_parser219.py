"""Parser 2.19 (docs/trials-criteria.md §2.19): an ongoing investigational agent in more wordings; another tumour
type's cohort named by its label ("Cohort B2 (Ovarian Cancer)"); statements that restrict no one (a permission to
receive, a procedure, a formula or an answer code); a cohort's section heading that is only its label. Sentences are
quoted verbatim from the shared corpus (checked when it is here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mbcnav.trials import match
from mbcnav.trials.criteria import Criterion, parse_criteria
from mbcnav.trials.match import CriterionResult, evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, criteria_texts, exc, inc, needs_corpus, not_verbatim, one, patient_view

FRESH10 = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_fresh10" / "patients"
FRESH11 = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_fresh11" / "patients"
QUOTES = Quotes()
q = QUOTES.q


@pytest.fixture(scope="module")
def s04() -> PatientView:  # on capecitabine (a catalogue drug, approved), after endocrine lines and capivasertib
    return patient_view(FRESH10 / "s04-esr1-pik3ca-after-capivasertib-on-capecitabine-alt-raised.yaml")


@pytest.fixture(scope="module")
def t08() -> PatientView:  # lobular HER2-low on trastuzumab deruxtecan, after ribociclib (a CDK4/6 inhibitor)
    return patient_view(FRESH11 / "t08-lobular-her2-low-peritoneal-ovarian-tdxd-after-pneumonitis.yaml")


def evaluate_trial(criteria: list[Criterion], p: PatientView) -> list[CriterionResult]:
    """Every criterion's verdict with the study-level passes of match_trial (sub-bullets of a not-applicable head,
    alternatives, heads decided by their sub-bullets and section headings)."""
    results = [evaluate_criterion(c, p) for c in criteria]
    match._inherit_not_applicable(results)
    match._apply_alternatives(results)
    match._heads_from_children(results)
    return results


def on_study_drug(p: PatientView, name: str) -> PatientView:
    """The patient with one more, ongoing course of a drug the catalogue does not know (a study drug, say)."""
    assert p.record is not None
    extra = dataclasses.replace(p.record.therapies[-1], drug=name, known_drug=False, ongoing=True, end=None)
    return dataclasses.replace(p, record=dataclasses.replace(p.record, therapies=(*p.record.therapies, extra)))


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


@pytest.mark.parametrize(
    ("nct", "sentence"),
    [
        ("NCT06099769", "Other concurrent investigational anticancer agents."),
        ("NCT06439693", "Treatment with any other investigational agents for this condition."),
    ],
)
def test_an_ongoing_investigational_agent_in_more_wordings(nct: str, sentence: str, s04: PatientView) -> None:
    # fresh11: free text before; the treatment list answers it (no course of an unapproved drug now)
    (c,) = exc(q(nct, sentence))
    assert [(x.type, x.params["therapy"], x.params["days"]) for x in c.constraints] == [
        ("washout", "investigational", 0)
    ]
    assert one([c], s04).verdict == "not_met"
    # a course of a drug the catalogue does not know may be investigational: unknown, never "not met"
    assert one([c], on_study_drug(s04, "XYZ-123")).verdict == "unknown"


def test_another_alternative_the_therapy_list_cannot_answer_keeps_it_open(s04: PatientView) -> None:
    sentence = q("NCT06263543", "Ongoing treatment with another investigational drug or other interventional trial.")
    (c,) = exc(sentence)
    assert not any(x.type == "washout" for x in c.constraints)  # taking part in a trial is not recorded
    assert one([c], s04).verdict == "unknown"


@pytest.mark.parametrize(
    ("nct", "sentence"),
    [
        ("NCT05123482", "Cohort B2 (Ovarian Cancer)"),
        ("NCT06465069", "Cohort A2/B1/B2: urothelial carcinoma"),
        ("NCT07213791", "Gastric cancer (adenocarcinoma)"),
    ],
)
def test_another_tumour_types_cohort_named_by_its_label(nct: str, sentence: str, s04: PatientView) -> None:
    # fresh7/fresh10: free text before; the judges marked each "not met" (breast cancer, not that cancer)
    r = one(inc(q(nct, sentence)), s04)
    assert (r.verdict, r.not_applicable, r.excludes) == ("not_met", True, False)
    # a breast cohort's label is not another tumour type
    assert not any(x.type == "subgroup" for c in inc("Cohort B3 (Breast Cancer)") for x in c.constraints)


def test_a_rule_under_another_tumour_types_heading_still_binds_only_that_cohort(s04: PatientView) -> None:
    # "Non-small cell lung cancer (NSCLC)" heads that cohort's bullets: they do not apply to a breast cancer patient
    # (the heading's own verdict as a cohort name must not take its sub-bullets' subgroup away)
    text = criteria_texts().get("NCT05076760", "")
    if not text:
        pytest.skip("../shared/data/trials is not here")
    child = q(
        "NCT05076760",
        "first progression with anti-PD-1 or PD-L1 checkpoint inhibitor therapy with or without concurrent "
        "chemotherapy, or",
    )
    cs = parse_criteria(text)
    (c,) = [c for c in cs if c.text == child]
    r = evaluate_criterion(c, s04)
    assert r.not_applicable and r.verdict == "met"


@pytest.mark.parametrize(
    ("nct", "sentence", "definition"),
    [
        ("NCT06099769", "Patients may receive bisphosphonate or denosumab.", False),
        ("NCT02302742", "Healthy patients harboring mutations also eligible", False),
        (
            "NCT06062498",
            "One-to-one randomization will be done by the QA team once patients have been registered.",
            False,
        ),
        (
            "NCT05563220",
            "Creatinine clearance (female) = (0.85 × \\[140-age in years\\] × weight in kg)/ (\\[serum creatinine in "
            "mg/dL\\] × 72)",
            True,
        ),
        ("NCT06154590", "m = slope", True),
    ],
)
def test_statements_that_restrict_no_one(nct: str, sentence: str, definition: bool, s04: PatientView) -> None:
    r = one(inc(q(nct, sentence)), s04)
    assert (r.verdict, r.not_applicable) == ("met", True)
    assert ("definition" in r.evidence[0]) is definition


@pytest.mark.parametrize(
    "sentence",
    [
        "ECOG = 0 or 1",
        "Creatinine clearance ≥ 50 mL/min, CrCl = (140 - age) × weight / (72 × creatinine)",
        "Patients may receive no more than 2 prior lines of chemotherapy",
    ],
)
def test_a_bound_is_never_a_definition_or_a_permission(sentence: str) -> None:
    (c,) = inc(sentence)
    assert not any(x.type == "permission" for x in c.constraints)
    assert c.constraints  # read as the bound it is


def test_a_cohorts_section_heading_is_not_a_criterion_of_its_own(t08: PatientView) -> None:
    # NCT05563220 (fresh11): "Additional Criteria for the Palbociclib Combination (Arm D):" was left open ("free
    # text"); its sub-bullets are the criteria, and the heading excludes no one by itself
    heading = q("NCT05563220", "Additional Criteria for the Palbociclib Combination (Arm D):")
    text = criteria_texts().get("NCT05563220", "")
    if not text:
        pytest.skip("../shared/data/trials is not here")
    results = evaluate_trial(parse_criteria(text), t08)
    (head,) = [r for r in results if r.criterion.text == heading]
    assert (head.verdict, head.not_applicable, head.excludes) == ("not_met", True, False)
    assert "heading of Arm D" in head.evidence[0]
    assert not head.decisive
    # a list head with a requirement of its own is still read from its sub-bullets
    (organ,) = [r for r in results if r.criterion.text.startswith("Participant has adequate bone marrow and organ")]
    assert not organ.not_applicable


FRESH12 = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_fresh12" / "patients"


def test_no_evidence_of_disease_after_the_last_recist_assessment_leaves_nothing_measurable() -> None:
    # fresh12 u08: de novo oligometastatic, measurable at baseline (2024), then mastectomy and SBRT, and "no evidence
    # of disease" recorded since 2025. "latest RECIST assessment has a measurable lesion" ranked measurable-disease
    # studies first for a woman with nothing left to measure.
    u08 = patient_view(FRESH12 / "u08-denovo-oligometastatic-sternum-her2low-ned-on-letrozole-ribociclib.yaml")
    sentence = q(
        "NCT06657222",
        "Radiologically measurable disease by RECIST v1.1, 4 weeks before C1D1, that can include a lesion in an "
        "irradiated field that shows progression according to RECIST v1.1 after irradiation.",
    )
    r = one(inc(sentence), u08)
    assert r.verdict == "not_met" and "no evidence of disease recorded" in r.evidence[0]
    # a patient whose disease is still there keeps her measurable lesion
    u01 = patient_view(FRESH12 / "u01-denovo-hrpos-her2low-pik3ca-post-cdk46.yaml")
    assert one(inc(sentence), u01).verdict == "met"


def test_bone_lesions_recorded_without_a_size_are_not_measurable() -> None:
    # fresh12 u05 (and fresh9 r01, fresh11 t06): bone-only disease followed as "present" sclerotic lesions. "No tumour
    # measurements recorded" left measurable-disease studies open and ranked high; RECIST 1.1 §3.1.2: bone lesions
    # without a measured soft-tissue component are not measurable
    u05 = patient_view(FRESH12 / "u05-premenopausal-bone-only-relapse-on-adjuvant-tam-ofs-fulv-abema.yaml")
    r = one(inc("Measurable disease as defined by RECIST v1.1"), u05)
    assert r.verdict == "not_met" and "only bone lesions without a measured size" in r.evidence[0]
    # an unsized lesion elsewhere (a lymph node recorded "present") could be measurable: left open
    from mbcnav.pathway import assess_with_response
    from mbcnav.record import read_path

    from .trials_corpus import AS_OF

    record = read_path(FRESH12 / "u05-premenopausal-bone-only-relapse-on-adjuvant-tam-ofs-fulv-abema.yaml", today=AS_OF)
    node = dataclasses.replace(record.measurements[-1], lesion_id="axillary node", site="axillary lymph node")
    a, _ = assess_with_response(dataclasses.replace(record, measurements=(*record.measurements, node)), as_of=AS_OF)
    assert PatientView.of(a).measurable is None
