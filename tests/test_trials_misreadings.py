"""Misreadings of eligibility criteria found against expert-judged patient-trial sets, one class per test group.

Every sentence below is quoted verbatim from the shared corpus (../shared/data/trials/ctgov-v2-2026-01, the
eligibilityCriteria of the study named in the comment; the classic-XML ones from ../shared/data/trials/
ctgov-classic-xml); `test_quotes_are_verbatim` checks that when the corpus is here. Only the parser's own constraint
types are asserted (the readers of trials/kinds.py are tested elsewhere).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mbcnav.trials.classic_xml import _unwrap, iter_xml
from mbcnav.trials.criteria import Criterion, parse_criteria
from mbcnav.trials.records import Trial

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "trials"
CLASSIC = SHARED / "ctgov-classic-xml"
needs_classic = pytest.mark.skipif(not CLASSIC.is_dir(), reason="../shared/data/trials is not here")

QUOTES = Quotes()  # (NCT id, sentence): every quote used below, checked against the corpus
q = QUOTES.q


def of_type(criteria: list[Criterion], typ: str) -> list[tuple[str, dict[str, Any]]]:
    return [(c.polarity, c.params) for crit in criteria for c in crit.constraints if c.type == typ]


# ------------------------------------------------------------------------------- 1. permissive / conditional bullets


def test_a_line_count_with_its_kinds_in_parentheses_requires_no_therapy() -> None:
    # NCT07166419: the parenthesis says what counts as a line, not that each kind is required
    s = q(
        "NCT07166419",
        "Subjects with relapsed/refractory lymphoid blast crisis from prior chronic myeloid leukemia (CML) who "
        "received at least 2 prior lines of therapy (tyrosine kinase inhibitors, multiagent chemotherapy)",
    )
    assert of_type(inc(s), "prior_therapy") == []


def test_zero_or_one_prior_line_is_at_most_one() -> None:
    # the end of an NCT04969835 criterion (verbatim); the whole criterion opens with a sarcoma subgroup ("High grade
    # soft tissue sarcoma: ...") and so stays text as a condition: the count wording is what is tested here
    s = q(
        "NCT04969835",
        "who have received 0 or 1 prior lines of therapy in the locally advanced or metastatic setting",
    )
    assert of_type(inc(s), "prior_lines") == [
        ("required", {"kind": "any", "setting": "metastatic", "min": None, "max": 1})
    ]


def test_an_age_named_subgroup_is_not_an_age_bound() -> None:
    s = q(
        "NCT03420963",
        "SCREENING: Patients older than 21 years must have a solid tumor considered by study doctor to be of the "
        "childhood cancer type.",
    )
    [crit] = inc(s)
    assert of_type([crit], "age") == []


def test_allowed_and_not_required_therapies_are_not_requirements() -> None:
    s = q(
        "NCT05689021",
        "A maximum of two lines of prior taxane (docetaxel and/or cabazitaxel) chemotherapy will be allowed, but are "
        "not required",
    )
    assert [p for p in of_type(inc(s), "prior_therapy") if p[0] == "required"] == []
    assert of_type(inc(q("NCT03093116", "Prior cytotoxic chemotherapy is allowed.")), "prior_therapy") == []


def test_allowed_hormone_therapy_but_not_fulvestrant() -> None:
    s = q(
        "NCT05154487",
        "Prior hormone therapy (progesterone, tamoxifen, aromatase inhibitor) is allowed and not considered a prior "
        "line of therapy. Prior treatment with fulvestrant not allowed.",
    )
    assert of_type(inc(s), "prior_therapy") == [("excluded", {"drug": "fulvestrant"})]


def test_testing_not_required_is_not_a_requirement() -> None:
    # NCT03786796 (exclusion): the second sentence allows a missing scan; only symptomatic uncontrolled mets exclude
    s = q(
        "NCT03786796",
        "Patients with symptomatic uncontrolled brain metastases. A scan to confirm the absence of brain metastases is "
        "not required.",
    )
    got = of_type(exc(s), "brain_mets")
    assert got and all(p == "excluded" for p, _ in got)


# ------------------------------------------------------------------------------- 3. receptor wordings


def test_er_and_or_pgr_positive_with_abbreviations_is_hr_positive() -> None:
    s = q(
        "NCT06678269",
        "Documented estrogen receptor (ER) positive and/or progesterone receptor (PgR) positive by "
        "immunohistochemistry.",
    )
    assert of_type(inc(s), "hr_status") == [("required", {"status": "positive"})]


def test_er_and_or_pgr_positive_compact() -> None:
    s = q(
        "NCT05879926",
        "The tumor must be ER and/or PgR-positive (progesterone receptor) by current ASCO/CAP guidelines based on "
        "local testing results.",
    )
    assert of_type(inc(s), "hr_status") == [("required", {"status": "positive"})]


def test_her2_negative_by_ihc_and_ish_definition() -> None:
    s = q(
        "NCT05464810",
        "IHC 0, 1+, or 2+ and in situ hybridization (ISH) non-amplified (ratio of HER2 to CEP17 \\< 2.0 or single "
        "probe average HER2 gene copy number \\< 4 signals/cell)",
    )
    assert of_type(inc(s), "her2_status") == [("required", {"status": "negative"})]


def test_her2_dash_bc_is_her2_negative() -> None:
    s = q("NCT06084481", "hormone receptor+/HER2-breast cancer (HR+/HER2-BC)")
    assert ("required", {"status": "negative"}) in of_type(inc(s), "her2_status")


def test_hr_positive_her2_negative_bc() -> None:
    s = q(
        "NCT06257264",
        "Participants with advanced, non-resectable, or metastatic HR+/HER2- BC or PROC, including fallopian tube or "
        "primary peritoneal cancer.",
    )
    crit = inc(s)
    assert of_type(crit, "hr_status") == [("required", {"status": "positive"})]
    assert of_type(crit, "her2_status") == [("required", {"status": "negative"})]


# ------------------------------------------------------------------------------- 4. non-metastatic wordings


def test_non_metastatic_m0_excludes_metastatic_disease() -> None:
    s = q(
        "NCT06966700",
        "Has previously untreated high-risk, early-stage, non-metastatic (M0) breast cancer (BC)",
    )
    assert of_type(inc(s), "advanced_disease") == [("excluded", {"kind": "metastatic"})]


def test_no_evidence_of_distant_metastases_excludes_metastatic_disease() -> None:
    assert of_type(inc(q("NCT04165772", "No evidence of distant metastases.")), "advanced_disease") == [
        ("excluded", {"kind": "metastatic"})
    ]
    s = q(
        "NCT03977233",
        "Histologically or cytologically confirmed adenocarcinoma of the pancreas with no evidence of distant "
        "metastatic disease.",
    )
    assert of_type(inc(s), "advanced_disease") == [("excluded", {"kind": "metastatic"})]


# ------------------------------------------------------------------------------- 5. exclusions read, not dropped


def test_an_exclusion_of_patients_without_cns_metastases_requires_them() -> None:
    s = q("NCT05394831", "Subjects without CNS metastasis")
    assert of_type(exc(s), "brain_mets") == [("required", {"state": "any"})]


def test_without_brain_metastases_in_a_drug_allowance_is_not_read() -> None:
    s = q(
        "NCT05168618",
        "Therapeutic doses of LMWH or anticoagulation with direct factor Xa inhibitors rivaroxaban, edoxaban, or "
        "apixaban in subjects without known brain metastases who are on a stable dose of the anticoagulant",
    )
    assert of_type(exc(s), "brain_mets") == []


# ------------------------------------------------------------------------------- 6. disease setting


def test_amenable_to_curative_treatment_in_an_exclusion_requires_incurable_disease() -> None:
    s = q("NCT06312176", "Has breast cancer amenable to treatment with curative intent")
    assert of_type(exc(s), "advanced_disease") == [("required", {"kind": "incurable"})]


def test_not_amenable_to_curative_treatment_is_required() -> None:
    s = q(
        "NCT06590857",
        "Histologically confirmed, ER+, HER2-negative, locally advanced and unresectable or metastatic breast cancer "
        "not amenable to treatment with curative intent.",
    )
    assert ("required", {"kind": "incurable"}) in of_type(inc(s), "advanced_disease")


def test_primary_tumour_in_place_excludes_a_resected_primary() -> None:
    s = q("NCT04510597", "STEP 1 REGISTRATION: Participants must have primary tumor in place")
    assert of_type(inc(s), "advanced_disease") == [("excluded", {"kind": "primary_resected"})]
    assert of_type(inc(q("NCT05863195", "Patient's primary tumor may be in place.")), "advanced_disease") == []


def test_de_novo_metastatic_is_required() -> None:
    s = q(
        "NCT06439693",
        "Patients must have stage IV breast carcinoma at diagnosis (i.e., de novo metastatic) with unequivocal "
        "evidence of metastasis on imaging.",
    )
    assert ("required", {"kind": "de_novo"}) in of_type(inc(s), "advanced_disease")


def test_de_novo_or_recurrent_is_no_de_novo_requirement() -> None:
    s = q(
        "NCT06055881",
        "NOTE: patients with de novo metastatic disease and those developed metastatic disease after initially "
        "localized disease can both be included.",
    )
    assert ("required", {"kind": "de_novo"}) not in of_type(inc(s), "advanced_disease")


# ------------------------------------------------------------------------------- 7. lines and prior therapy


def test_exclusion_prior_systemic_therapy_for_metastatic_disease_means_first_line() -> None:
    s = q(
        "NCT06841354",
        "Has received prior systemic therapy for treatment of locally recurrent unresectable or metastatic breast "
        "cancer",
    )
    assert of_type(exc(s), "prior_lines") == [
        ("required", {"kind": "any", "setting": "metastatic", "min": None, "max": 0})
    ]


def test_no_prior_systemic_therapy_for_advanced_disease_is_zero_lines() -> None:
    s = q("NCT06710223", "No prior systemic therapy for advanced or metastatic HCC.")
    assert of_type(inc(s), "prior_lines") == [
        ("required", {"kind": "any", "setting": "metastatic", "min": None, "max": 0})
    ]


def test_progression_on_fulvestrant_requires_it() -> None:
    s = q(
        "NCT05608252",
        "Participants must have radiological or objective evidence of progression on fulvestrant (as a single agent or "
        "as a component of any multi-drug regimen) in the metastatic setting.",
    )
    assert of_type(inc(s), "prior_therapy") == [
        ("required", {"drug": "fulvestrant", "setting": "metastatic", "progressed_on": True, "or_after": True})
    ]


# ------------------------------------------------------------------------------- 8. conjunctive exclusions


def test_gbrca_and_prior_parp_inhibitor_is_all_of() -> None:
    s = q(
        "NCT06428396",
        "Has a known germline BRCA mutation (deleterious or suspected deleterious) and has received previous treatment "
        "with poly-ADP ribose polymerase (PARP) inhibition either in the adjuvant or metastatic setting",
    )
    [crit] = exc(s)
    assert crit.all_of
    assert of_type([crit], "prior_therapy") == [("excluded", {"class": "parp_inhibitor"})]
    assert of_type([crit], "biomarker")[0][0] == "excluded"


def test_a_single_exclusion_is_not_all_of() -> None:
    [crit] = exc(q("NCT05563220", "Prior therapy with a CDK4/6i in the metastatic setting."))
    assert not crit.all_of
    assert of_type([crit], "prior_therapy") == [("excluded", {"class": "cdk46_inhibitor", "setting": "metastatic"})]


# ------------------------------------------------------------------------------- 2. hard-wrapped classic XML


def test_unwrap_joins_continuations_and_keeps_items_and_headers() -> None:
    # a composed input: hard-wrapped bullets of NCT00500071 and NCT00500760 (classic XML textblocks, as dedented,
    # shortened) in one text, to test the joining rule on its own; real files are tested through iter_xml below
    raw = (
        "Inclusion Criteria:\n\n  -  Females of Child-Bearing Potential (FOCP) must have a negative serum beta Human\n"
        "     Chorionic Gonadotropin (HCG) pregnancy test at Screening\n\n"
        "  -  Eastern Cooperative Oncology Group (ECOG) performance status of 0 or 1 (you must be\n"
        "     well enough to receive chemoradiation therapy)\n\nExclusion Criteria:\n\n"
        "  -  Cancer of the nasopharynx, sinus, salivary gland or skin"
    )
    assert _unwrap(raw) == (
        "Inclusion Criteria:\n\n  -  Females of Child-Bearing Potential (FOCP) must have a negative serum beta Human "
        "Chorionic Gonadotropin (HCG) pregnancy test at Screening\n\n"
        "  -  Eastern Cooperative Oncology Group (ECOG) performance status of 0 or 1 (you must be "
        "well enough to receive chemoradiation therapy)\n\nExclusion Criteria:\n\n"
        "  -  Cancer of the nasopharynx, sinus, salivary gland or skin"
    )


@needs_classic
def test_a_classic_record_gives_one_criterion_per_bullet() -> None:
    [(_, trial)] = list(iter_xml((CLASSIC / "NCT00500760.xml").read_bytes(), "NCT00500760.xml"))
    assert isinstance(trial, Trial)
    criteria = parse_criteria(trial.eligibility_text)
    first = criteria[0]
    assert first.text == (
        "Confirmed diagnosis of Stage III or IVa-b (M0) squamous cell carcinoma of the oral cavity, oropharynx, "
        "hypopharynx or larynx"
    )
    assert not any(c.text.startswith(("cavity", "well enough", "intent")) for c in criteria)


# ------------------------------------------------------------------------------- quotes


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not not_verbatim(QUOTES)


# ------------------------------------------------------------------------------------------ exclusions read whole
# An exclusion's constraint that the parser turned into its allowed range ("required" in an exclusion) used to be
# ignored by the matcher as if it were an exception; qualified metastasis was read as metastasis excluded; "prior
# progression on X" was dropped; "has not received systemic treatment for ... metastatic" was text.

# NCT06312176 (exclusion)
PRIOR_CHEMO_MET = q(
    "NCT06312176", "Has received prior chemotherapy for unresectable locally advanced or metastatic breast cancer"
)
# NCT06841354 (exclusion)
CURABLE = q("NCT06841354", "Has breast cancer amenable to treatment with curative intent")
# NCT06841354 (exclusion)
SKIN_ONLY = q("NCT06841354", "Has skin only metastatic disease")
# NCT06841354 (inclusion)
NO_SYSTEMIC_MET = q(
    "NCT06841354", "Has not received systemic treatment for locally recurrent unresectable or metastatic breast cancer"
)
# NCT05696626 (exclusion)
PROGRESSED_ON = q(
    "NCT05696626",
    "Prior progression of disease on abemaciclib, fulvestrant, or other selective estrogen receptor degrader (SERD) "
    "therapy.",
)


def cons(criteria: list[Criterion]) -> list[tuple[str, str, dict[str, Any]]]:
    """The parser's own constraints (the readers of trials/kinds.py left out)."""
    from mbcnav.trials.kinds import KINDS

    theirs = {t for k in KINDS for t in k.types}
    return [(c.type, c.polarity, c.params) for crit in criteria for c in crit.constraints if c.type not in theirs]


def _verdicts(criteria: list[Criterion], case: str) -> list[str]:
    import dataclasses

    from mbcnav.trials.match import match_trial
    from mbcnav.trials.records import iter_records

    from .test_trials_match import EA_DIR, view

    study = next(t for _, t in iter_records(EA_DIR) if t.study_type == "INTERVENTIONAL")
    study = dataclasses.replace(study, sex="ALL", min_age_years=None, max_age_years=None)
    return [r.verdict for r in match_trial(study, criteria, view(case)).criteria]


def test_an_exclusion_read_as_its_allowed_range_decides() -> None:
    assert cons(exc(PRIOR_CHEMO_MET)) == [
        ("prior_lines", "required", {"kind": "chemotherapy", "setting": "metastatic", "min": None, "max": 0})
    ]
    # 05 (TNBC, first line of chemotherapy for metastatic disease recorded) is excluded; 01 (de novo HR+, no
    # chemotherapy) is not
    assert _verdicts(exc(PRIOR_CHEMO_MET), "05-tnbc-pdl1-cps-high.yaml") == ["met"]
    assert _verdicts(exc(PRIOR_CHEMO_MET), "01-de-novo-hr-pos-bone-only.yaml") == ["not_met"]
    # "amenable to curative treatment" excluded: a stage IV patient is not curable -> the exclusion does not apply
    assert _verdicts(exc(CURABLE), "01-de-novo-hr-pos-bone-only.yaml") == ["not_met"]


def test_qualified_metastasis_is_not_metastasis_excluded() -> None:
    # "skin only metastatic disease" excludes a site-limited spread (parser 2.3.0), not metastasis itself
    assert cons(exc(SKIN_ONLY)) == [
        ("advanced_disease", "excluded", {"kind": "site_only", "sites": ["skin_soft_tissue"]})
    ]
    # 01 has bone metastases: not skin-only, so the exclusion does not apply; 04 (brain, bone ...) neither
    assert _verdicts(exc(SKIN_ONLY), "01-de-novo-hr-pos-bone-only.yaml") == ["not_met"]
    assert _verdicts(exc(SKIN_ONLY), "04-her2-positive-brain.yaml") == ["not_met"]


def test_no_systemic_treatment_for_metastatic_disease_is_first_line_only() -> None:
    assert cons(inc(NO_SYSTEMIC_MET)) == [
        ("prior_lines", "required", {"kind": "any", "setting": "metastatic", "min": None, "max": 0})
    ]
    assert _verdicts(inc(NO_SYSTEMIC_MET), "07-her2-low-after-cdk46.yaml") == ["not_met"]  # two lines so far


def test_prior_progression_on_a_drug_is_checked_against_progressions() -> None:
    got = {(k[0], k[1], tuple(sorted(k[2].items()))) for k in cons(exc(PROGRESSED_ON))}
    assert ("prior_therapy", "excluded", (("drug", "abemaciclib"), ("progressed_on", True))) in got
    assert ("prior_therapy", "excluded", (("class", "serd"), ("progressed_on", True))) in got
    # 07 progressed on fulvestrant (a SERD): excluded
    assert _verdicts(exc(PROGRESSED_ON), "07-her2-low-after-cdk46.yaml") == ["met"]


# NCT06760637 (inclusion): a first-line-only study used to rank first for pre-treated patients
FIRST_LINE_ONLY = q(
    "NCT06760637",
    "Previously untreated with any systemic anticancer therapy for their locally advanced or metastatic disease.",
)


def test_previously_untreated_with_any_systemic_therapy_is_first_line_only() -> None:
    assert ("prior_lines", "required", {"kind": "any", "setting": "metastatic", "min": None, "max": 0}) in cons(
        inc(FIRST_LINE_ONLY)
    )
    assert _verdicts(inc(FIRST_LINE_ONLY), "07-her2-low-after-cdk46.yaml") == ["not_met"]
    # 01 is de novo but already on letrozole + ribociclib: one line, not untreated
    assert _verdicts(inc(FIRST_LINE_ONLY), "01-de-novo-hr-pos-bone-only.yaml") == ["not_met"]


def test_a_partner_drug_is_not_an_alternative_requirement() -> None:
    # "X either alone or in combination with Y": X is required, Y is its partner (not "X or Y")
    s = q(
        "NCT06263543",
        "Received a CDK4/6 inhibitor either alone or in combination with endocrine therapy (in the adjuvant or "
        "metastatic setting) with any duration of therapy permitted.",
    )
    assert of_type(inc(s), "prior_therapy") == [("required", {"class": "cdk46_inhibitor"})]
    # two therapies joined by a plain "or" stay alternatives (nothing required from the pair alone)
    assert of_type(inc("Received a CDK4/6 inhibitor or endocrine therapy."), "prior_therapy") == []


def test_measurable_or_non_measurable_bone_disease_is_evaluable_disease() -> None:
    s = q("NCT06760637", "Measurable disease or non-measurable bone only disease as defined by RECIST version 1.1")
    assert of_type(inc(s), "measurable_disease") == [("required", {"evaluable": True})]


def test_progression_on_or_after_a_therapy_is_required_not_just_exposure() -> None:
    s = q(
        "NCT06428396",
        "Has documented radiographic confirmation of disease progression during or after the last administered "
        "endocrine therapy (ET)",
    )
    assert of_type(inc(s), "prior_therapy") == [
        ("required", {"class": "endocrine", "progressed_on": True, "or_after": True})
    ]
    # exposure alone stays exposure; "failed" also covers stopping for intolerance, so it is not read as progression
    assert of_type(inc("Must have received prior CDK4/6 inhibitor."), "prior_therapy") == [
        ("required", {"class": "cdk46_inhibitor"})
    ]
    assert of_type(inc("Failed prior taxane therapy."), "prior_therapy") == [("required", {"class": "taxane"})]


def test_treatment_for_early_stage_disease_is_history_not_the_stage_required() -> None:
    s = q(
        "NCT06841354",
        "Participants previously treated for early-stage breast cancer must have completed all prior therapy for "
        "early-stage breast cancer with curative intent at least 6 months before the first disease recurrence",
    )
    assert of_type(inc(s), "advanced_disease") == []
    # a population of early-stage disease is still read as non-metastatic disease
    assert of_type(inc("Patients with early-stage breast cancer."), "advanced_disease") == [
        ("excluded", {"kind": "metastatic"})
    ]


def test_locally_advanced_or_mbc_is_either_setting_and_cohort_receptors_are_kept() -> None:
    one = q(
        "NCT06224673",
        "Cohort 1: Participants with hormone receptor positive (HR+)/HER2-low locally advanced unresectable or MBC. "
        "HR+ status defined as estrogen receptor \\>= 10% and/or progesterone receptor ≥ 10% and HER2 low.",
    )
    two = "Cohort 2: Participants with hormone receptor negative (HR-)/HER2-low locally advanced unresectable or MBC."
    cs = parse_criteria(f"Inclusion Criteria:\n\n* {one}\n* {two}\n")
    assert [c.cohort is not None for c in cs] == [True, True]
    # each cohort keeps its own receptor status (the matcher applies it to that cohort only)
    assert of_type(cs[:1], "hr_status") == [("required", {"status": "positive"})]
    assert of_type(cs[1:], "hr_status") == [("required", {"status": "negative"})]
    assert of_type(cs[:1], "advanced_disease") == [("required", {"kind": "advanced"})]


def test_current_use_of_a_therapy_is_the_ongoing_line() -> None:
    s = q("NCT04563507", "Current use of systemic chemotherapy, endocrine therapy or HER2-neu targeted therapy")
    assert of_type(exc(s), "prior_therapy") == [
        ("excluded", {"class": "chemotherapy", "current": True}),
        ("excluded", {"class": "endocrine", "current": True}),
    ]


def test_every_cue_of_the_table_reads_its_own_example() -> None:
    # criteria_cues.yaml: a reviewer sees each pattern beside a corpus sentence it reads; some cues are anchored at
    # the therapy they precede ("progressed on prior" + drug), so a prefix of the example may be what matches
    from mbcnav.trials.criteria import _normalise
    from mbcnav.trials.tables import read_table

    cues = read_table("criteria_cues.yaml")["cues"]
    assert cues
    for key, row in cues.items():
        rx = re.compile(row["pattern"])
        example = _normalise(row["examples"][0])
        assert any(rx.search(example[:k]) for k in range(len(example), 0, -1)), key
