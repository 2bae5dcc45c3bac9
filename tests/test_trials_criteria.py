"""Eligibility-criteria parsing (mbcnav.trials.criteria) on real ClinicalTrials.gov sentences.

Every sentence below is quoted verbatim from the shared corpus (../shared/data/trials/ctgov-v2-2026-01, the
eligibilityCriteria of the study named in the comment); `test_quotes_are_verbatim` checks that when the corpus is here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbcnav.trials.criteria import (
    CONSTRAINT_TYPES,
    PARSER_VERSION,
    Constraint,
    Criterion,
    criteria_from_json,
    criteria_to_json,
    parse_criteria,
)

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim, studies

QUOTES = Quotes()  # (NCT id, sentence): every quote used below, checked against the corpus
q = QUOTES.q


def cons(criteria: list[Criterion]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(c.type, c.polarity, c.params) for crit in criteria for c in crit.constraints]


def of_type(criteria: list[Criterion], typ: str) -> list[tuple[str, dict[str, Any]]]:
    return [(c.polarity, c.params) for crit in criteria for c in crit.constraints if c.type == typ]


# ------------------------------------------------------------------------------------------ disease and stage

# NCT04389632
ADVANCED_HER2_NEG = q("NCT04389632", "Advanced HER2-negative breast cancer")
# NCT06184750 (exclusion)
HISTORY_OF_BC = q("NCT06184750", "History of invasive breast cancer")
# NCT04150042
STAGE_IV = q("NCT04150042", "Stage IV (based on AJCC staging guidelines) at the time of enrollment.")
# NCT04568616
STAGE_I_III = q(
    "NCT04568616",
    "Clinical Stage I-III invasive breast cancer with the intent to treat with surgical resection of the primary "
    "tumor. Baseline tumor must be ≥0.5 cm.",
)
# NCT04458532 (exclusion)
DISTANT_METS = q("NCT04458532", "Presence of distant metastatic disease (i.e., stage IV)")
# NCT03138161
LA_UNRESECTABLE = q(
    "NCT03138161",
    "Pathologically confirmed diagnosis of locally advanced unresectable or metastatic soft tissue sarcoma",
)


def test_disease_breast_and_advanced_disease_required() -> None:
    assert cons(inc(ADVANCED_HER2_NEG)) == [
        ("disease_breast", "required", {}),
        ("advanced_disease", "required", {"kind": "advanced"}),
        ("her2_status", "required", {"status": "negative"}),
    ]


def test_history_of_breast_cancer_in_an_exclusion_excludes_breast_cancer() -> None:
    [crit] = exc(HISTORY_OF_BC)
    assert crit.kind == "exclusion"
    [c] = crit.constraints
    assert (c.type, c.polarity, c.params) == ("disease_breast", "excluded", {})


def test_stage_iv_is_metastatic() -> None:
    assert of_type(inc(STAGE_IV), "advanced_disease") == [("required", {"kind": "metastatic"})]


def test_stage_i_to_iii_excludes_metastatic_disease() -> None:
    criteria = inc(STAGE_I_III)
    assert ("excluded", {"kind": "metastatic"}) in of_type(criteria, "advanced_disease")
    assert ("required", {}) in of_type(criteria, "disease_breast")


def test_distant_metastases_in_an_exclusion() -> None:
    assert of_type(exc(DISTANT_METS), "advanced_disease") == [("excluded", {"kind": "metastatic"})]


def test_locally_advanced_unresectable_or_metastatic_is_advanced() -> None:
    assert of_type(inc(LA_UNRESECTABLE), "advanced_disease") == [("required", {"kind": "advanced"})]
    # on its own, "locally advanced unresectable" is its own kind
    assert of_type(inc("Locally advanced unresectable breast cancer"), "advanced_disease") == [
        ("required", {"kind": "locally_advanced_unresectable"})
    ]


# ------------------------------------------------------------------------------------------ receptors

# NCT04985032
ER_OR_PR = q("NCT04985032", "ER and/or PR positive")
# NCT06760637
ER_PR_POSITIVE = q("NCT06760637", "Documented estrogen receptor (ER) and/or progesterone receptor (PR)-positive tumor")
# NCT03971409
HR_NEGATIVE = q(
    "NCT03971409",
    "Estrogen receptor (ER)/progesterone receptor (PR)-negative (=\\< 5% cells) by immunohistochemistry (IHC) and "
    "human epidermal grow (HER2) negative (by IHC or fluorescence in situ hybridization (FISH))",
)
# NCT04616248 (exclusion)
HER2_POS_EXCLUDED = q("NCT04616248", "Patients with HER2+ breast cancer")
# NCT06726148
HR_POS_HER2_NEG = q(
    "NCT06726148",
    "HR+/HER2- aBC with disease progression on an aromatase inhibitor or tamoxifen in combination with a CDK4/6 "
    "inhibitor for unresectable/metastatic disease with no more than 2 lines of endocrine therapy.",
)
# NCT06224673
HER2_LOW = q(
    "NCT06224673",
    "Pathologically documented HER2-low locally advanced unresectable or metastatic breast cancer (MBC).",
)
# NCT05417594
HER2_ULTRALOW = q(
    "NCT05417594",
    "Metastatic or recurrent locally advanced unresectable histologically or cytologically confirmed HER2-low or "
    "HER2-ultralow breast carcinoma.",
)
# NCT06150664 (an inclusion criterion that excludes)
HER2_LOW_EXCLUDED = q("NCT06150664", "Patients with HER2-low cancers (HER2 IHC 1+ or 2+/ISH negative) are excluded")
# NCT05076760
TNBC = q("NCT05076760", "Triple negative breast cancer (TNBC)")
# NCT06055881 (exclusion)
TNBC_EXCLUDED = q("NCT06055881", "Patients with triple negative disease (negative for ER, PR, and HER2).")


def test_hr_status_er_and_or_pr_positive_is_hr_positive() -> None:
    assert of_type(inc(ER_OR_PR), "hr_status") == [("required", {"status": "positive"})]
    assert of_type(inc(ER_PR_POSITIVE), "hr_status") == [("required", {"status": "positive"})]


def test_hr_negative_and_her2_negative() -> None:
    criteria = inc(HR_NEGATIVE)
    assert of_type(criteria, "hr_status") == [("required", {"status": "negative"})]
    assert of_type(criteria, "her2_status") == [("required", {"status": "negative"})]


def test_hr_positive_her2_negative_compact_form() -> None:
    criteria = inc(HR_POS_HER2_NEG)
    assert of_type(criteria, "hr_status") == [("required", {"status": "positive"})]
    assert of_type(criteria, "her2_status") == [("required", {"status": "negative"})]


def test_er_positive_alone_keeps_the_receptor() -> None:
    # NCT02476786
    sentence = q("NCT02476786", "Disease must be ER+ and HER2-.")
    criteria = inc(sentence)
    assert of_type(criteria, "hr_status") == [("required", {"status": "positive", "receptor": "ER"})]
    assert of_type(criteria, "her2_status") == [("required", {"status": "negative"})]


def test_her2_positive_in_an_exclusion_is_excluded() -> None:
    assert of_type(exc(HER2_POS_EXCLUDED), "her2_status") == [("excluded", {"status": "positive"})]


def test_her2_low() -> None:
    assert of_type(inc(HER2_LOW), "her2_low") == [("required", {})]


def test_her2_low_or_ultralow() -> None:
    assert of_type(inc(HER2_ULTRALOW), "her2_low") == [("required", {"include_ultralow": True})]


def test_her2_low_are_excluded() -> None:
    assert of_type(inc(HER2_LOW_EXCLUDED), "her2_low") == [("excluded", {})]


def test_tnbc_required_and_excluded() -> None:
    assert of_type(inc(TNBC), "tnbc") == [("required", {})]
    assert of_type(exc(TNBC_EXCLUDED), "tnbc") == [("excluded", {})]


def test_receptor_alternatives_are_not_kept() -> None:
    # NCT06028022: "positive or negative" is any status
    sentence = q(
        "NCT06028022", "History of breast cancer, estrogen receptor positive (ER+), Her 2 positive or negative"
    )
    assert of_type(inc(sentence), "her2_status") == []
    # one criterion requiring HR+ or TNBC (cohorts): contradictory statuses are left as text
    assert of_type(inc("HR+/HER2- or triple negative breast cancer"), "hr_status") == []


# ------------------------------------------------------------------------------------------ prior lines

# NCT05950945
ONE_TO_TWO_LINES = q(
    "NCT05950945", "Has had at least one and up to two prior lines of therapy in the metastatic setting."
)
# NCT05187832
AT_MOST_ONE_CHEMO = q("NCT05187832", "No more than 1 line of chemotherapy for advanced breast cancer")
# NCT03971409 (exclusion)
MORE_THAN_TWO_CHEMO = q("NCT03971409", "More than 2 lines of chemotherapy in the metastatic setting")
# NCT06062498
AT_LEAST_TWO_ET = q(
    "NCT06062498",
    "Patients must have received at least 2 prior endocrine therapies, including a CDK4/6 inhibitor in the metastatic "
    "disease setting.",
)
# NCT06099769
UP_TO_TWO_ALLOWED = q(
    "NCT06099769", "Patients may have received up to 2 prior lines of chemotherapy for metastatic breast cancer."
)
# NCT05826964
NO_PRIOR_SYSTEMIC = q(
    "NCT05826964",
    "No prior systemic anticancer therapy for metastatic or advanced disease (chemotherapy targeted therapy or "
    "endocrine therapy (ET)).",
)


def lines(criteria: list[Criterion]) -> list[tuple[str, dict[str, Any]]]:
    return of_type(criteria, "prior_lines")


def test_at_least_one_and_up_to_two_lines() -> None:
    assert lines(inc(ONE_TO_TWO_LINES)) == [("required", {"kind": "any", "setting": "metastatic", "min": 1, "max": 2})]


def test_no_more_than_one_line_of_chemotherapy_is_not_a_negation() -> None:
    assert lines(inc(AT_MOST_ONE_CHEMO)) == [
        ("required", {"kind": "chemotherapy", "setting": "metastatic", "min": None, "max": 1})
    ]


def test_exclusion_more_than_two_lines_becomes_at_most_two() -> None:
    [crit] = exc(MORE_THAN_TWO_CHEMO)
    [c] = crit.constraints
    assert (c.type, c.polarity, c.params) == (
        "prior_lines",
        "required",
        {"kind": "chemotherapy", "setting": "metastatic", "min": None, "max": 2},
    )
    assert "exclusion" in c.cue and "more than 2" in c.cue


def test_at_least_two_endocrine_therapies_and_a_cdk46_inhibitor() -> None:
    criteria = inc(AT_LEAST_TWO_ET)
    assert lines(criteria) == [("required", {"kind": "endocrine", "setting": "metastatic", "min": 2, "max": None})]
    assert of_type(criteria, "prior_therapy") == [("required", {"class": "cdk46_inhibitor", "setting": "metastatic"})]


def test_may_have_received_up_to_n_is_still_a_bound() -> None:
    assert lines(inc(UP_TO_TWO_ALLOWED)) == [
        ("required", {"kind": "chemotherapy", "setting": "metastatic", "min": None, "max": 2})
    ]


def test_no_prior_systemic_therapy_for_metastatic_disease_is_zero_lines() -> None:
    assert ("required", {"kind": "any", "setting": "metastatic", "min": None, "max": 0}) in lines(
        inc(NO_PRIOR_SYSTEMIC)
    )


def test_a_count_of_a_named_therapy_is_not_a_line_count() -> None:
    # NCT03971409 (exclusion): at most one line of a checkpoint inhibitor, not at most one line of anything
    sentence = q("NCT03971409", "More than 1 prior line of checkpoint inhibitor therapy in the metastatic setting")
    assert cons(exc(sentence)) == []


# ------------------------------------------------------------------------------------------ prior therapy


# NCT05563220 (exclusion)
PRIOR_CDK_EXCLUSION = q("NCT05563220", "Prior therapy with any CDK4/6i.")
# NCT06374459
MUST_HAVE_RECEIVED_CDK = q("NCT06374459", "Patient must have received prior endocrine therapy with CDK4/6 inhibitor.")
# NCT06126276
NO_PRIOR_CDK = q("NCT06126276", "No prior therapy with CDK4/6 inhibition")
# NCT04633239
MAY_NOT_HAVE_CDK = q("NCT04633239", "Patients may not have received prior CDK 4/6 inhibitors.")
# NCT05826964 (exclusion)
CDK_NOT_ALLOWED = q(
    "NCT05826964", "Prior treatment with any CDK 4/6 inhibitor in the metastatic setting is not allowed."
)
# NCT03093116
CHEMO_ALLOWED = q("NCT03093116", "Prior cytotoxic chemotherapy is allowed.")
# NCT03740256
HER2_ALLOWED = q(
    "NCT03740256", "Prior HER2 targeted therapy is allowed if delivered at least 4 weeks prior to the enrollment."
)
# NCT05950945
NEVER_ANTI_HER2 = q("NCT05950945", "Was never previously treated with anti-HER2 therapy in the metastatic setting.")
# NCT06428396 (exclusion)
PRIOR_FULVESTRANT = q(
    "NCT06428396",
    "Has received prior fulvestrant in the adjuvant, unresectable locally advanced, or metastatic setting",
)
# NCT05826964 (exclusion)
HYPERSENSITIVITY = q(
    "NCT05826964",
    "Known hypersensitivity to letrozole, anastrozole, exemestane, fulvestrant, or CDK4/6i or any of their excipients.",
)
# NCT06428396 (exclusion)
WASHOUT = q(
    "NCT06428396",
    "Has received prior systemic anticancer therapy including investigational agents within 4 weeks before "
    "randomization",
)


def therapies(criteria: list[Criterion]) -> list[tuple[str, dict[str, Any]]]:
    return of_type(criteria, "prior_therapy")


def test_exclusion_prior_cdk46_inhibitor_is_excluded() -> None:
    assert therapies(exc(PRIOR_CDK_EXCLUSION)) == [("excluded", {"class": "cdk46_inhibitor"})]


def test_negation_trap_must_have_received_vs_no_prior() -> None:
    assert ("required", {"class": "cdk46_inhibitor"}) in therapies(inc(MUST_HAVE_RECEIVED_CDK))
    assert therapies(inc(NO_PRIOR_CDK)) == [("excluded", {"class": "cdk46_inhibitor"})]
    assert therapies(inc(MAY_NOT_HAVE_CDK)) == [("excluded", {"class": "cdk46_inhibitor"})]
    [crit] = inc(NO_PRIOR_CDK)
    assert 'negated by "no"' in crit.constraints[0].cue
    # the span covers the negation cue and the class
    assert crit.text[crit.constraints[0].span[0] - crit.start :].startswith("No prior therapy with CDK4/6")


def test_not_allowed_keeps_the_setting() -> None:
    assert therapies(exc(CDK_NOT_ALLOWED)) == [("excluded", {"class": "cdk46_inhibitor", "setting": "metastatic"})]
    # the same sentence in an inclusion section says the same thing
    assert therapies(inc(CDK_NOT_ALLOWED)) == [("excluded", {"class": "cdk46_inhibitor", "setting": "metastatic"})]


def test_prior_therapy_is_allowed_gives_no_constraint() -> None:
    # nothing to satisfy: at most a permission (trials/permissions.py), which restricts no one
    for cs in (inc(CHEMO_ALLOWED), inc(HER2_ALLOWED), exc(CHEMO_ALLOWED)):
        assert [k for k in cons(cs) if k[0] != "permission"] == []


def test_never_previously_treated() -> None:
    assert therapies(inc(NEVER_ANTI_HER2)) == [("excluded", {"class": "her2_directed", "setting": "metastatic"})]


def test_drug_from_the_catalogue() -> None:
    assert therapies(exc(PRIOR_FULVESTRANT)) == [("excluded", {"drug": "fulvestrant"})]


def test_trastuzumab_is_not_pertuzumab() -> None:
    # drugs.yaml's combination names split "pertuzumab, trastuzumab, and hyaluronidase" into three names; a single
    # drug's own name must still mean that drug only
    assert therapies(inc("Must have received prior trastuzumab")) == [("required", {"drug": "trastuzumab"})]


def test_hypersensitivity_and_washouts_are_not_therapy_bans() -> None:
    assert therapies(exc(HYPERSENSITIVITY)) == []
    # a washout is read as a time window (trials/windows.py), never as a ban on the therapy
    assert therapies(exc(WASHOUT)) == []
    assert {k[0] for k in cons(exc(WASHOUT))} == {"washout"}


# ------------------------------------------------------------------------------------------ brain metastases

# NCT05859074 (exclusion)
ACTIVE_CNS = q("NCT05859074", "Has known active CNS metastases and/or carcinomatous meningitis")
# NCT03998202 (exclusion)
NO_UNTREATED_BRAIN = q(
    "NCT03998202", "No untreated brain metastases. Patients with treated brain metastases are eligible."
)
# NCT04262466 (exclusion)
SYMPTOMATIC_OR_UNTREATED = q("NCT04262466", "Symptomatic or untreated central nervous system metastasis")
# NCT06099769 (exclusion)
HISTORY_BRAIN = q("NCT06099769", "History of brain metastases or leptomeningeal disease.")
# NCT06697301 (exclusion)
ACTIVE_WITH_ALLOWANCE = q(
    "NCT06697301",
    "Has known active CNS metastases and/or carcinomatous meningitis. Participants with previously treated brain "
    "metastases may participate if they are clinically stable for at least 4 weeks with no evidence of new or "
    "enlarging brain metastases.",
)


def brain(criteria: list[Criterion]) -> list[tuple[str, dict[str, Any]]]:
    return of_type(criteria, "brain_mets")


def test_active_cns_metastases_and_carcinomatous_meningitis() -> None:
    assert brain(exc(ACTIVE_CNS)) == [("excluded", {"state": "active"}), ("excluded", {"state": "leptomeningeal"})]


def test_treated_stable_brain_metastases_are_allowed() -> None:
    assert brain(exc(NO_UNTREATED_BRAIN)) == [("excluded", {"state": "untreated", "allows_treated_stable": True})]
    assert brain(exc(ACTIVE_WITH_ALLOWANCE)) == [
        ("excluded", {"state": "active", "allows_treated_stable": True}),
        ("excluded", {"state": "leptomeningeal"}),  # the allowance is about brain metastases, not meningitis
    ]


def test_symptomatic_or_untreated_gives_two_exclusions() -> None:
    assert brain(exc(SYMPTOMATIC_OR_UNTREATED)) == [
        ("excluded", {"state": "untreated"}),
        ("excluded", {"state": "symptomatic"}),
    ]


def test_history_of_brain_metastases_is_any_brain_metastasis() -> None:
    [crit] = exc(HISTORY_BRAIN)
    assert brain([crit]) == [("excluded", {"state": "any"}), ("excluded", {"state": "leptomeningeal"})]
    assert all('"history of"' in c.cue for c in crit.constraints)


def test_an_allowance_in_another_bullet_reaches_the_exclusion() -> None:
    text = (
        "Exclusion Criteria:\n\n* Known brain metastases\n"
        "* Patients with treated, stable brain metastases are eligible.\n"
    )
    criteria = parse_criteria(text)
    assert brain(criteria) == [("excluded", {"state": "any", "allows_treated_stable": True})]
    # the allowance itself constrains nothing; it only says whom it binds (not applicable without brain metastases)
    assert [(c.type, c.params) for c in criteria[1].constraints] == [("subgroup", {"groups": ["brain_metastases"]})]


# ------------------------------------------------------------------------------------------ measurable disease

# NCT05579366
MEASURABLE = q("NCT05579366", "Measurable disease per the RECIST v1.1 at baseline.")
# NCT06099769
EVALUABLE_OR_MEASURABLE = q("NCT06099769", "Evaluable or measurable disease per RECIST version 1.1")


def test_measurable_disease_per_recist() -> None:
    assert of_type(inc(MEASURABLE), "measurable_disease") == [("required", {"standard": "RECIST 1.1"})]


# NCT06016738
EVALUABLE_BONE_ONLY = q("NCT06016738", "Evaluable disease (measurable disease or bone-only disease).")


def test_measurable_or_evaluable_asks_only_for_evaluable_disease() -> None:
    # not a measurable lesion: any disease that can be followed (checked against the recorded metastatic sites)
    assert cons(inc(EVALUABLE_OR_MEASURABLE)) == [("measurable_disease", "required", {"evaluable": True})]
    assert cons(inc(EVALUABLE_BONE_ONLY)) == [("measurable_disease", "required", {"evaluable": True})]


# ------------------------------------------------------------------------------------------ performance status

# NCT05464810
ECOG_0_2 = q("NCT05464810", "Eastern Cooperative Oncology Group (ECOG) performance status 0-2")
# NCT05584670 (exclusion)
ECOG_GE_2 = q("NCT05584670", "Eastern Cooperative Oncology Group (ECOG) performance status of ≥2")
# NCT03428802
ECOG_BEFORE = q(
    "NCT03428802",
    "Have a performance status of 0 or 1 on the Eastern Cooperative Oncology Group (ECOG) performance scale",
)
# NCT06500455
KPS = q("NCT06500455", "Karnofsky performance status (KPS) ≥ 60")


def test_ecog() -> None:
    assert of_type(inc(ECOG_0_2), "ecog") == [("required", {"max": 2})]
    assert of_type(inc(ECOG_BEFORE), "ecog") == [("required", {"max": 1})]


def test_exclusion_ecog_at_least_2_becomes_at_most_1() -> None:
    assert of_type(exc(ECOG_GE_2), "ecog") == [("required", {"max": 1})]


def test_karnofsky() -> None:
    assert of_type(inc(KPS), "karnofsky") == [("required", {"min": 60})]


# ------------------------------------------------------------------------------------------ age and sex

# NCT04458532
AGE_RANGE = q("NCT04458532", "Aged 21-80 years")
# NCT04074720 (exclusion)
UNDER_18 = q("NCT04074720", "<18 years old")
# NCT05150652
POSTMENOPAUSAL_WOMEN = q("NCT05150652", "Postmenopausal women")
# NCT06055881 (exclusion)
MALE_PATIENTS = q("NCT06055881", "Male patients.")
# NCT04553770
WOCBP = q("NCT04553770", "Negative pregnancy test (serum) for women of child bearing potential (CBP):")


def test_age() -> None:
    assert of_type(inc(AGE_RANGE), "age") == [("required", {"min": 21, "max": 80})]
    assert of_type(exc(UNDER_18), "age") == [("required", {"min": 18})]


def test_sex() -> None:
    assert of_type(inc(POSTMENOPAUSAL_WOMEN), "sex") == [("required", {"sex": "female"})]
    assert of_type(exc(MALE_PATIENTS), "sex") == [("excluded", {"sex": "male"})]
    # "women of child bearing potential" says nothing about who may enrol
    assert of_type(inc(WOCBP), "sex") == []


# ------------------------------------------------------------------------------------------ biomarkers

# NCT06062498
ESR1 = q("NCT06062498", "Patients must have a confirmed ESR1 mutation.")
# NCT05563220
PI3K_PATHWAY = q(
    "NCT05563220", "PIK3CA/AKT1/PTEN-alteration as detected by an FDA and/or locally approved test (local result)."
)
# NCT04294927
GERMLINE = q(
    "NCT04294927",
    "Women with a class 5 (definitely pathogenic) BRCA1, BRCA2, RAD51C, RAD51D or BRIP1 germline mutation in one of "
    "the participating centers.",
)
# NCT04150042
GERMLINE_OR_SOMATIC = q("NCT04150042", "A germline or somatic BRCA1, BRCA2, or PALB2 mutation.")
# NCT04969835
BRCA_WT = q("NCT04969835", "Patients must be BRCA wild-type.")
# NCT05544929
PDL1_CPS = q(
    "NCT05544929",
    "Triple negative breast cancer with historic PD-L1 CPS ≥ 1%, must have received at least one line of chemotherapy.",
)
# NCT06504147 (exclusion)
BRCA_EXCLUDED = q("NCT06504147", "Known somatic or germline BRCA1 or BRCA2 mutations or confirmed HR deficient.")


def bio(criteria: list[Criterion]) -> list[tuple[str, dict[str, Any]]]:
    return of_type(criteria, "biomarker")


def test_biomarkers() -> None:
    assert bio(inc(ESR1)) == [("required", {"gene": "ESR1", "state": "mutated", "origin": "any"})]
    assert bio(inc(PI3K_PATHWAY)) == [("required", {"gene": "PIK3CA/AKT1/PTEN", "state": "altered", "origin": "any"})]
    assert bio(inc(GERMLINE)) == [
        ("required", {"gene": "BRCA1/BRCA2/RAD51C/RAD51D/BRIP1", "state": "mutated", "origin": "germline"})
    ]
    assert bio(inc(GERMLINE_OR_SOMATIC)) == [
        ("required", {"gene": "BRCA1/BRCA2/PALB2", "state": "mutated", "origin": "any"})
    ]
    assert bio(inc(BRCA_WT)) == [("required", {"gene": "BRCA1/BRCA2", "state": "wild_type", "origin": "any"})]
    assert bio(exc(BRCA_EXCLUDED)) == [("excluded", {"gene": "BRCA1/BRCA2", "state": "mutated", "origin": "any"})]


def test_pd_l1_cps() -> None:
    assert ("required", {"gene": "PD-L1", "cps_min": 1}) in bio(inc(PDL1_CPS))


def test_conjunctive_exclusion_is_all_of() -> None:
    # NCT06428396: excluded only when both hold: the constraints are kept and the criterion is marked all_of
    # (it used to be left as free text, which lost a decisive exclusion)
    sentence = q(
        "NCT06428396",
        "Has a known germline BRCA mutation (deleterious or suspected deleterious) and has received previous treatment "
        "with poly-ADP ribose polymerase (PARP) inhibition either in the adjuvant or metastatic setting",
    )
    [crit] = exc(sentence)
    assert crit.all_of
    assert sorted((k.type, k.polarity) for k in crit.constraints) == [
        ("biomarker", "excluded"),
        ("prior_therapy", "excluded"),
    ]


# ------------------------------------------------------------------------------------------ pregnancy, life, organs

# NCT03909282 (exclusion)
PREGNANT = q("NCT03909282", "Pregnant or breastfeeding")
# NCT05095207
NEG_TEST = q("NCT05095207", "Negative serum pregnancy test within 7 days prior to starting treatment")
# NCT05123482
LIFE = q("NCT05123482", "Life expectancy ≥ 12 weeks")
# NCT04553770 (exclusion)
LIFE_SHORT = q("NCT04553770", "Life expectancy \\< 3 months")
# NCT05952557
ORGANS = q("NCT05952557", "Adequate organ and bone marrow function")
# NCT05559164
LVEF = q("NCT05559164", "Baseline LVEF ≥ 50%")
# NCT03740256 (exclusion)
LVEF_LOW = q("NCT03740256", "Patients with abnormal left ventricular function (LVEF \\<55%).")


def test_pregnancy() -> None:
    assert of_type(exc(PREGNANT), "pregnancy") == [("excluded", {})]
    assert of_type(inc(NEG_TEST), "pregnancy") == [("excluded", {})]


def test_life_expectancy() -> None:
    assert of_type(inc(LIFE), "life_expectancy") == [("required", {"unit": "weeks", "min": 12})]
    assert of_type(exc(LIFE_SHORT), "life_expectancy") == [("required", {"unit": "months", "min": 3})]


def test_organ_function() -> None:
    assert of_type(inc(ORGANS), "organ_function") == [("required", {"systems": ["bone_marrow", "organ"]})]
    assert of_type(inc(LVEF), "organ_function") == [("required", {"test": "LVEF", "unit": "%", "min": 50})]
    assert of_type(exc(LVEF_LOW), "organ_function") == [("required", {"test": "LVEF", "unit": "%", "min": 55})]


def test_other_criteria_stay_free_text() -> None:
    # NCT00001238: a criterion no reader knows stays free text ("Ability to swallow oral capsules.", NCT04222413,
    # is now a comorbidity item, gi_absorption: trials/screening.py)
    sentence = q("NCT00001238", "Papillary cystadenoma of the epididymis or broad ligament")
    [crit] = inc(sentence)
    assert crit.constraints == ()
    assert "other" in CONSTRAINT_TYPES  # reserved: the parser leaves unknown criteria without constraints


# ------------------------------------------------------------------------------------------ sections and structure

SECTIONS = """Key Inclusion Criteria:

* Histologically confirmed HR+/HER2- advanced breast cancer
* Participants must have one of the following:

  * Progression on a CDK4/6 inhibitor
  * Progression on fulvestrant

Key Exclusion Criteria:

1. Prior CDK4/6 inhibitor
2. Pregnant or breastfeeding
3. Cohort B only: prior treatment with capecitabine
"""


def test_inclusion_and_exclusion_sections() -> None:
    criteria = parse_criteria(SECTIONS)
    kinds = [(c.kind, c.text) for c in criteria]
    assert kinds == [
        ("inclusion", "Histologically confirmed HR+/HER2- advanced breast cancer"),
        ("inclusion", "Participants must have one of the following:"),
        ("inclusion", "Progression on a CDK4/6 inhibitor"),
        ("inclusion", "Progression on fulvestrant"),
        ("exclusion", "Prior CDK4/6 inhibitor"),
        ("exclusion", "Pregnant or breastfeeding"),
        ("exclusion", "Cohort B only: prior treatment with capecitabine"),
    ]
    for c in criteria:
        assert SECTIONS[c.start : c.end] == c.text
        for k in c.constraints:
            assert c.start <= k.span[0] < k.span[1] <= c.end
    # alternatives ("one of the following") keep their constraints and share an any_of group; cohort-specific
    # items stay free text (no cohort named here)
    # "Progression on X": progression on (or after) X is required, not only exposure to it
    assert [(k.type, k.polarity, k.params) for k in criteria[2].constraints] == [
        ("prior_therapy", "required", {"class": "cdk46_inhibitor", "progressed_on": True, "or_after": True})
    ]
    assert [(k.type, k.polarity, k.params) for k in criteria[3].constraints] == [
        ("prior_therapy", "required", {"drug": "fulvestrant", "progressed_on": True, "or_after": True})
    ]
    assert criteria[2].any_of is not None and criteria[2].any_of == criteria[3].any_of
    # an inline cohort prefix keeps the criterion with its cohort named (trials/cohorts.py)
    assert criteria[6].cohort == "Cohort B"
    assert [(k.type, k.polarity, k.params) for k in criteria[6].constraints] == [
        ("prior_therapy", "excluded", {"drug": "capecitabine"})
    ]
    # the same words in the exclusion section exclude
    assert [(k.type, k.polarity, k.params) for k in criteria[4].constraints] == [
        ("prior_therapy", "excluded", {"class": "cdk46_inhibitor"})
    ]


def test_inline_numbered_items_are_split() -> None:
    text = "Exclusion Criteria:\n\n1. Pregnant or breastfeeding 2. Known brain metastases 3. Prior fulvestrant\n"
    criteria = parse_criteria(text)
    assert [c.text for c in criteria] == ["Pregnant or breastfeeding", "Known brain metastases", "Prior fulvestrant"]


def test_empty_text() -> None:
    assert parse_criteria("") == []
    assert parse_criteria("   \n\n") == []


# ------------------------------------------------------------------------------------------ JSON


def test_json_round_trip() -> None:
    criteria = parse_criteria(SECTIONS + "\n* " + ACTIVE_WITH_ALLOWANCE + "\n* " + LIFE_SHORT + "\n")
    payload = criteria_to_json(criteria)
    again = criteria_from_json(json.loads(json.dumps(payload)))
    assert again == criteria
    assert isinstance(PARSER_VERSION, str) and PARSER_VERSION


def test_from_json_rejects_other_shapes() -> None:
    with pytest.raises(ValueError):
        criteria_from_json([{"kind": "inclusion"}])
    bad = criteria_to_json(inc(ECOG_0_2))
    bad[0]["constraints"][0]["type"] = "nonsense"
    with pytest.raises(ValueError):
        criteria_from_json(bad)


# ------------------------------------------------------------------------------------------ robustness


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_any_text_parses(text: str) -> None:
    for c in parse_criteria(text):
        assert text[c.start : c.end] == c.text
        for k in c.constraints:
            assert k.type in CONSTRAINT_TYPES and k.polarity in ("required", "excluded")
            assert 0 <= k.span[0] <= k.span[1] <= len(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Inclusion Criteria:",
                "Exclusion Criteria:",
                "* No prior CDK4/6 inhibitor",
                "  * ECOG 0-1",
                "1. HER2-low",
                "OR",
                "\\>= 18 years of age",
                "Note: treated brain metastases are allowed",
                "(",
                ")",
                "≥",
                "",
            ]
        ),
        max_size=12,
    )
)
def test_structured_noise_parses(parts: list[str]) -> None:
    text = "\n".join(parts)
    assert criteria_from_json(criteria_to_json(parse_criteria(text))) == parse_criteria(text)


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not not_verbatim(QUOTES)


@needs_corpus
def test_a_corpus_sample_parses() -> None:
    # the whole-corpus parse (coverage and time) is benchmarks/bench_criteria_coverage.py; here every 20th study
    sample = studies()[::20]
    assert len(sample) == 68
    n_with = 0
    for s in sample:
        text = s["protocolSection"].get("eligibilityModule", {}).get("eligibilityCriteria") or ""
        criteria = parse_criteria(text)
        assert criteria_from_json(json.loads(json.dumps(criteria_to_json(criteria)))) == criteria
        n_with += sum(1 for c in criteria if c.constraints)
        for c in criteria:
            assert text[c.start : c.end] == c.text
            for k in c.constraints:
                assert (
                    isinstance(k, Constraint) and k.type in CONSTRAINT_TYPES and k.polarity in ("required", "excluded")
                )
                assert c.start <= k.span[0] < k.span[1] <= c.end
    assert n_with > 0
