"""Parser 2.10: receptor groups joined by "or" ("TNBC or ER-low"), ER-low checked as ER 1-10 %, HR status defined by
its ER/PR combinations, HTML character references, the androgen receptor as a biomarker, oligoprogression (progressing
now) and "no conventional therapy". Each reading quotes the shared corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mbcnav.trials.criteria import Criterion, parse_criteria
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim, patient_view

QUOTES = Quotes()
q = QUOTES.q
CASES = Path(__file__).resolve().parents[1] / "examples" / "cases"


def of(cs: list[Criterion], type_: str) -> list[dict[str, Any]]:
    return [k.params for c in cs for k in c.constraints if k.type == type_]


def verdict(c: Criterion, case: str) -> str:
    return evaluate_criterion(c, view(case)).verdict


_VIEWS: dict[str, PatientView] = {}


def view(case: str) -> PatientView:
    if case not in _VIEWS:
        _VIEWS[case] = patient_view(CASES / f"{case}.yaml")
    return _VIEWS[case]


HR_POS = "07-her2-low-after-cdk46"  # ER+/HER2 2+ ISH-negative, progressed on fulvestrant 2026-11-16
TNBC = "10-receptor-discordance"  # triple-negative liver relapse of an ER+ primary
ER_LOW = "08-er-low"
HER2_POS = "04-her2-positive-brain"
CAPECITABINE = "11-ecog-3"


# ------------------------------------------------------------------------------------------------ receptor groups


def test_tnbc_or_er_low_is_one_of_two_groups_and_er_low_means_er_1_to_10_percent() -> None:
    """Before 2.10 the two contradicting statuses were dropped as cohorts and the bullet stayed free text; an ER-low
    requirement was checked as plain HR-positive, so an ER 90 % patient met it."""
    c = inc(q("NCT06099769", r"TNBC (ER/PgR \&lt;1%) or ER-low defined as:"))[0]
    (params,) = of([c], "receptor_any")
    assert [[o["type"] for o in option] for option in params["options"]] == [["tnbc"], ["hr_status"]]
    assert params["options"][1][0]["params"]["level"] == "low"
    assert verdict(c, TNBC) == "met"
    assert verdict(c, ER_LOW) == "met"
    assert verdict(c, HR_POS) == "not_met"  # ER 90 %: neither TNBC nor ER-low
    c = inc(q("NCT05504707", "Diagnosis of HR negative or HR low positive tumor."))[0]
    assert verdict(c, HR_POS) == "not_met" and verdict(c, TNBC) == "met"


def test_a_group_of_two_statuses_stays_together_as_one_option() -> None:
    c = inc(
        q(
            "NCT06840483",
            "Archival or fresh tumor tissue comprised of TNBC or HR+/HER2-negative invasive breast cancer available "
            "for NECTIN4 gene amplification testing.",
        )
    )[0]
    (params,) = of([c], "receptor_any")
    assert [[o["type"] for o in option] for option in params["options"]] == [["tnbc"], ["hr_status", "her2_status"]]
    assert verdict(c, HR_POS) == "met" and verdict(c, TNBC) == "met"
    assert verdict(c, HER2_POS) == "not_met"  # HER2-positive fits neither group


def test_receptor_statuses_in_a_comma_list_stay_unread() -> None:
    """Only a plain "or" between groups is read: a list of three groups with commas is left to a person, as
    before (one reading of "ER-positive, HER2-positive, or triple negative" would be wrong)."""
    c = inc("ER-positive, HER2-positive, or triple negative breast cancer")[0]
    assert not of([c], "receptor_any") and not of([c], "hr_status") and not of([c], "tnbc")


def test_a_group_required_elsewhere_that_fits_no_alternative_is_a_cohort() -> None:
    """ "TNBC" in one bullet and "HR+/HER2- or HER2-positive" in another cannot both bind one patient: neither is
    kept. "HR-positive" beside "TNBC or ER-low" can (an ER-low tumour is HR-positive): both are kept."""
    cs = parse_criteria("Inclusion Criteria:\n\n* Triple negative breast cancer\n* HR+/HER2- or HER2-positive\n")
    assert not any(k.type in ("receptor_any", "tnbc") for c in cs for k in c.constraints)
    cs = parse_criteria("Inclusion Criteria:\n\n* HR-positive breast cancer\n* TNBC or ER-low\n")
    assert {k.type for c in cs for k in c.constraints} >= {"receptor_any", "hr_status"}


def test_hr_status_spelled_out_by_er_pr_combinations_is_hr_positive() -> None:
    """The ER-/PR+ and ER+/PR- combinations define HR-positive; before 2.10 their negatives contradicted it and every
    receptor status of the bullet was dropped (an HER2-positive patient then met this HER2-negative study's
    bullet). The escaped bracket is the registry's own."""
    c = inc(
        q(
            "NCT05736367",
            r"Have hormone receptor (HR) positive \[estrogen receptor( ER)+/progesterone receptor (PR)+, ER+/PR- or "
            r"ER-/PR+)/Her2 negative breast cancer previously diagnosed by biopsy.",
        )
    )[0]
    assert of([c], "hr_status") == [{"status": "positive"}]
    assert of([c], "her2_status") == [{"status": "negative"}]
    assert verdict(c, HER2_POS) == "not_met" and verdict(c, HR_POS) == "met"


def test_html_character_references_read_as_their_characters() -> None:
    cs = inc(q("NCT06099769", r"TNBC (ER/PgR \&lt;1%) or ER-low defined as:"))
    assert cs[0].text.startswith("TNBC (ER/PgR \\&lt;1%)")  # the criterion keeps its text as written


# ------------------------------------------------------------------------------------------------ androgen receptor


@pytest.mark.parametrize(
    ("nct", "sentence"),
    [
        ("NCT05573126", "Biopsy-proven AR+ and ER+ breast cancer"),
        (
            "NCT06099769",
            "Tumor must be AR positive. AR is considered positive by IHC if ≥10% of cell nuclei are immunoreactive.",
        ),
        ("NCT04573231", "Patients diagnosed with metastatic HER2-negative breast cancer AR expression of ≥ 10%"),
    ],
)
def test_an_androgen_receptor_requirement_is_a_biomarker_the_record_does_not_hold(nct: str, sentence: str) -> None:
    """Before 2.10 "AR+" was not read and the bullet was met on its ER or breast words alone."""
    c = inc(q(nct, sentence))[0]
    assert {"gene": "AR", "state": "positive", "origin": "any"} in of([c], "biomarker")
    assert verdict(c, HR_POS) == "unknown"


def test_androgen_receptor_drugs_and_tests_are_not_a_requirement() -> None:
    for sentence in (
        q("NCT06099769", "Prior antiandrogen therapy (AR antagonist or CYP17 inhibitors)."),
        q("NCT04704505", "Prior treatment with no more than one novel AR targeted drug"),
    ):
        assert not any(p.get("gene") == "AR" for p in of(inc(sentence), "biomarker")), sentence


# ------------------------------------------------------------------------------------------------ progressing now


def test_oligoprogression_needs_progression_now() -> None:
    c = inc(
        q(
            "NCT06260033",
            "The presence of metastatic breast cancer at the time of study entry with progression in 1-4 lesions "
            "(including new lesions).",
        )
    )[0]
    assert {"now": True} in of([c], "standard_therapy")
    # fulvestrant stopped for progression, no new line yet; three liver lesions progressed (1-4 allowed), which the
    # team confirms (parser 2.20: the count is read, trials/progression.py): no longer "met" from progression alone
    r = evaluate_criterion(c, view(HR_POS))
    assert r.verdict == "unknown" and "3 lesion(s) progressing" in r.evidence[-1]
    stable = view("01-de-novo-hr-pos-bone-only")
    assert stable.progressing_now is not True
    assert evaluate_criterion(c, stable).verdict != "met"
    c = exc(q("NCT06055881", "More than 3 extracranial sites of oligoprogressive disease"))[0]
    assert not of([c], "standard_therapy")  # an exclusion: the count is the study team's


def test_progression_of_disease_after_the_last_therapy_is_the_last_line_reading() -> None:
    c = inc(
        q(
            "NCT06253871",
            "Have progression of disease after the last systemic therapy, or be intolerant of last systemic therapy",
        )
    )[0]
    assert of([c], "standard_therapy") == [{"last": True, "intolerance": True}]
    assert verdict(c, HR_POS) == "met"


def test_no_conventional_therapy_is_no_standard_option_left_unless_the_patient_may_decline() -> None:
    c = inc(
        q(
            "NCT05573126",
            "where no conventional therapy is available or considered appropriate by the Investigator or is declined "
            "by the patient",
        )
    )[0]
    assert of([c], "standard_therapy") == [{"some": False, "all": True, "or_declined": True}]
    # options remain for her, but she may decline them: the record cannot settle it
    assert evaluate_criterion(c, view(HR_POS)).verdict == "unknown"


# ---------------------------------------------------------------------------------------- what the record rules out


def test_a_rule_for_another_tumour_type_does_not_bind_a_breast_cancer_patient() -> None:
    for sentence in (
        q("NCT01174121", "Patients with metastatic colorectal cancer must have received oxaliplatin or irinotecan."),
        q("NCT01174121", "Patients with hepatocellular carcinoma must have received sorafenib (Nexavar(R))"),
    ):
        c = inc(sentence)[0]
        r = evaluate_criterion(c, view(HR_POS))
        assert (r.verdict, r.not_applicable) == ("met", True), sentence
    # a subject that names breast is not another tumour type; nor is a metastatic site
    breast = "Patients with breast and ovarian cancer must be refractory to both first- and second-line treatments"
    assert not of(inc(q("NCT01174121", breast)), "subgroup")
    assert not of(inc("Patients with lung metastases must have adequate pulmonary function"), "subgroup")


def test_hypersensitivity_to_drugs_never_given_does_not_apply() -> None:
    c = exc(q("NCT06525766", "History of severe hypersensitivity reactions to fluorouracil or capecitabine"))[0]
    (params,) = of([c], "comorbidity")
    assert sorted(params["drugs"]) == ["capecitabine", "fluorouracil"]
    assert verdict(c, "06-germline-brca2") == "not_met"  # never had either
    assert verdict(c, CAPECITABINE) == "unknown"  # she had capecitabine: whether it caused a reaction, ask
    # a drug the catalogue does not know, an excipient or a class leaves it unread (the record cannot rule it out)
    c = exc(
        q(
            "NCT01174121",
            "History of severe immediate hypersensitivity reaction to cyclophosphamide, fludarabine, or aldesleukin.",
        )
    )[0]
    assert "drugs" not in of([c], "comorbidity")[0]


def test_an_immune_related_adverse_event_needs_a_checkpoint_inhibitor() -> None:
    c = exc(q("NCT05107674", "Patients who experienced Grade 3 or higher irAEs with prior immunotherapy."))[0]
    assert of([c], "comorbidity")[0]["condition"] == "immune_related_adverse_event"
    assert verdict(c, HR_POS) == "not_met"  # no checkpoint inhibitor in her therapy list
    assert verdict(c, "05-tnbc-pdl1-cps-high") == "unknown"  # on pembrolizumab: ask at screening


def test_cns_parenchymal_progression_needs_brain_metastases() -> None:
    c = inc(
        q(
            "NCT05892068",
            "Clinical and or radiological CNS parenchymal progression with no prior tucatinib (tucatinib naïve) in "
            "patients with HER2 overexpressed/amplified breast cancer",
        )
    )[0]
    assert of([c], "brain_mets")
    assert verdict(c, HR_POS) == "not_met"  # no brain metastases recorded


def test_her2_positivity_defined_by_the_study_is_her2_positive_but_its_absence_is_not() -> None:
    c = inc("Participants must have HER2 positivity per the results of their most recent tumor tissue testing.")[0]
    assert of([c], "her2_status") == [{"status": "positive"}]
    c = inc("Participants with ERBB2 gene amplification in the absence of HER2 positivity are considered ineligible.")[
        0
    ]
    assert not of([c], "her2_status")


def test_an_early_stage_written_after_the_disease_excludes_metastatic_disease() -> None:
    c = inc(q("NCT05150652", "Pathologically confirmed invasive breast cancer, clinically stage I-II."))[0]
    assert {"kind": "metastatic"} in of([c], "advanced_disease")
    assert verdict(c, HR_POS) == "not_met"
    # a nodal stage is not the stage of the disease; stage I-IV is any stage
    c = exc(q("NCT06966700", "Metastatic (Stage IV) breast cancer or clinical node stage 3 (cN3) nodal involvement"))[0]
    assert [k.polarity for k in c.constraints if k.type == "advanced_disease"] == ["excluded"]
    assert not of(inc("Breast cancer stage I-IV"), "advanced_disease")


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []
