"""Cohort labels of multi-cohort studies (trials/cohorts.py), quoting ClinicalTrials.gov criteria (corpus 2026-01)."""

from __future__ import annotations

import pytest

from mbcnav.trials.cohorts import applies, candidates, cohort_of, levels, split_labels
from mbcnav.trials.criteria import parse_criteria


@pytest.mark.parametrize(
    ("heading", "label"),
    [
        ("Inclusion Criteria for Cohort 3:", "Cohort 3"),  # NCT04802759
        ("Exclusion Criteria for Cohort 3:", "Cohort 3"),  # NCT04802759
        ("Cohort D1:", "Cohort D1"),  # NCT05579366
        ("Arm 1:", "Arm 1"),  # NCT06686394
        ("Key inclusion criteria only for phase III:", "Phase 3"),  # NCT04862663
        ("Key exclusion criteria for the phase III only:", "Phase 3"),  # NCT04862663
        ("Exclusion Criteria for Phase Ib:", "Phase 1b"),  # NCT06374459
        ("Inclusion Criteria for Phase II:", "Phase 2"),  # NCT06374459
        ("Additional exclusion criteria for Phase 1 combination therapy only:", "Phase 1"),  # NCT04787042
        ("Part 1 (Dose Escalation) Inclusion Criteria:", "Part 1"),  # NCT06257264
        ("Part I:", "Part I"),  # NCT05579366 (Parts A..K: a letter, not a roman one)
        ("Cohort 2A (CLOSED):", "Cohort 2A"),  # NCT02279004
        ("PART II: Recurrent clear cell or endometrioid ovarian cancer:", "Part 2"),  # NCT05950464
    ],
)
def test_label_from_heading(heading: str, label: str) -> None:
    assert cohort_of("Prior capecitabine in the metastatic setting.", [], heading) == label


def test_same_cohort_written_differently_gets_one_label() -> None:
    # "Inclusion Criteria for Cohort 1 (Stage 1 \[and Stage 2, only where indicated\]):" (NCT04802759)
    a = cohort_of("Documented estrogen receptor-positive (ER+) tumor", [], _c1)
    # "In participants with hormone receptor-positive HER2-low metastatic BC (Cohort 3):" (NCT05950945)
    b = cohort_of("Has recurrent disease \\<2 years from the initiation of adjuvant ET OR", [], _c3)
    # "Cohort 1: Cancers beginning initial treatment" (NCT02279004)
    c = cohort_of("Cohort 1: Cancers beginning initial treatment", [], "Inclusion Criteria:")
    # "Part B participants may have received up to 3 ..." (NCT04300556)
    d = cohort_of("Part B participants may have received up to 3 prior lines", [], "")
    # "Part C only: For pembrolizumab combination cohorts" (NCT04389632)
    e = cohort_of("Part C only: For pembrolizumab combination cohorts", [], "")
    assert (a, b, c, d, e) == ("Cohort 1", "Cohort 3", "Cohort 1", "Part B", "Part C")
    # "7. Cohort B only - Patient must meet definition of responder to abiraterone by one of the following:"
    # (NCT04986423), "... pemetrexed, carboplatin, or cisplatin (Cohort B only)" (NCT05789082), "Cohort B Only:"
    # (NCT06712875), and the same written in lower case
    own = "Cohort B only - Patient must meet definition of responder to abiraterone by one of the following:"
    paren = "Known hypersensitivity to pemetrexed, carboplatin, or cisplatin (Cohort B only)"
    assert {cohort_of(own, [], ""), cohort_of(paren, [], ""), cohort_of("x", [], "Cohort B Only:")} == {"Cohort B"}
    assert cohort_of(own.lower(), [], "") == "Cohort B"


_c1 = "Inclusion Criteria for Cohort 1 (Stage 1 \\[and Stage 2, only where indicated\\]):"
_c3 = "* In participants with hormone receptor-positive HER2-low metastatic BC (Cohort 3):"


def test_own_text_before_ancestor_before_heading() -> None:
    # "Known KRAS mutation, defined as a single nucleotide variant (SNV) (Phase 2)" (NCT04585750)
    own = "Known KRAS mutation, defined as a single nucleotide variant (SNV) (Phase 2)"
    assert cohort_of(own, [], "Exclusion Criteria:") == "Phase 2"
    # the parent bullet "Part F and G:" wins over a later header-like bullet (NCT05579366)
    assert (
        cohort_of(
            "Participants must have received prior platinum-based chemotherapy",
            [
                "Participants must have received 1 to 3 prior lines of therapy, and must have progressed:",
                "Part F and G:",
            ],
            "* Participants must have received 1 to 3 prior lines of therapy, and must have progressed:",
        )
        == "Part F, Part G"
    )


@pytest.mark.parametrize(
    ("heading", "label"),
    [
        ("Cohort D3 and D4:", "Cohort D3, Cohort D4"),  # NCT05579366
        ("Part A and B:", "Part A, Part B"),  # NCT05579366
        (
            "Parts 1, 2, 5 and 7: Participants with histologically confirmed:",
            "Part 1, Part 2, Part 5, Part 7",
        ),  # NCT04221542
        ("Arms 1-4):", "Arm 1, Arm 2, Arm 3, Arm 4"),  # NCT01365169
        ("Additional Criteria for the Alpelisib Combination (Phase 1b and Arm A):", "Phase 1b, Arm A"),  # NCT05563220
        ("Part 1 (Safety Expansion) and Part 2 (Dose Expansion) Inclusion Criteria:", "Part 1, Part 2"),  # NCT06257264
    ],
)
def test_several_cohorts_are_listed_with_comma(heading: str, label: str) -> None:
    assert cohort_of("ECOG performance status of 0 or 1", [], heading) == label
    assert split_labels(label) == tuple(label.split(", "))


def test_nested_levels_and_their_reach() -> None:
    label = cohort_of("Minimum body weight ≥ 30 kg.", [], "Additional Inclusion Criteria For Sub-Study 2 Part A:")
    assert label == "Sub-study 2 Part A"  # NCT05123482
    assert levels(label) == ("Sub-study 2", "Part A")
    assert applies("Sub-study 2", label) and applies(None, label) and applies(label, label)
    assert not applies("Sub-study 1 Part A", label) and not applies("Cohort 1", "Cohort 2")
    assert applies("Cohort 1, Cohort 2", "Cohort 2")
    assert candidates({"Sub-study 2", "Sub-study 2 Part A", "Cohort 3"}) == ["Cohort 3", "Sub-study 2 Part A"]
    assert split_labels(None) == () and split_labels("Arm B") == ("Arm B",)


@pytest.mark.parametrize(
    ("own", "ancestors", "heading"),
    [
        # conditions, not cohorts
        (
            "patient must have had 1 prior line of endocrine therapy",
            [],
            "* If the patient has ER+ or PR+ (\\>1% on IHC) metastatic breast cancer:",
        ),  # NCT05095207
        ("Adenocarcinoma of the breast.", ["For potential subjects with breast cancer:"], ""),  # NCT04150042
        ("Practice effective barrier contraception", ["Male participants:"], "* Male participants:"),  # NCT04150042
        (
            "Participant is between 18-44 years old.",
            ["For Cohort of Premenopausal Women with Early Stage Breast Cancer"],
            "",
        ),  # NCT00823654
        ("Age greater than or equal to 18 years.", [], "INCLUSION CRITERIA for PBMC Donors:"),  # NCT00068003
        ("Willing to be randomized into either study arm and adhere to study protocol", [], ""),  # NCT06049355
        ("Monotherapy Cohorts: Participants with histologically or cytologically confirmed", [], ""),  # NCT06257264
        ("Cancer and Leukemia Group B (CALGB)-9633", [], ""),  # NCT01595074: a cooperative group, not a cohort
        (
            # NCT04901702: the phases of the study, not a scope
            "Patients with bone disease without a measurable soft tissue component or bone marrow disease only are "
            "eligible for the phase 1 and phase 2 study but will not be included in the OR endpoint.",
            [],
            "",
        ),
    ],
)
def test_conditions_are_not_cohorts(own: str, ancestors: list[str], heading: str) -> None:
    assert cohort_of(own, ancestors, heading) is None


def test_scopes_the_matcher_cannot_place_stay_free_text() -> None:
    # MORPHEUS (NCT04802759): stage-2 re-entry criteria and drug-named arms inside a cohort
    assert (
        cohort_of("Ability to initiate Stage 2 treatment", [], "Inclusion Criteria for Cohorts 1 and 2 (Stage 2):")
        is None
    )
    heading = "Additional Exclusion Criteria for Giredestrant + Ipatasertib Arm (Cohort 1, Stage 1):"
    assert cohort_of("Prior treatment with an Akt inhibitor", [], heading) is None
    # one cohort of a list under "... disease for the respective cohort:" (NCT05123482): its sub-study is not named
    parent = "Histologically or cytologically confirmed metastatic or locally advanced and recurrent disease for the respective cohort:"  # noqa: E501
    assert cohort_of("Cohort B3 (Breast Cancer)", [parent], parent) is None


def test_named_phase_without_identifier() -> None:
    # NCT03260491: "Inclusion Criteria for Dose Escalation only:", "Prior treatment with an anti-HER3 antibody (dose
    # escalation only)"; "Inclusion Criteria for both Dose Escalation and Dose Expansion:" is common (segmenter)
    assert cohort_of("Prior treatment with an anti-HER3 antibody (dose escalation only)", [], "") == "Dose escalation"
    assert cohort_of("x", [], "Inclusion Criteria for Dose Escalation only:") == "Dose escalation"
    # NCT04724018: "Phase II Study Cohort A (dose expansion study ...)": the cohort, not the phase of the study
    assert cohort_of("x", [], "Phase II Study Cohort A (dose expansion study to assess efficacy of Sacituzumab:") == (
        "Cohort A"
    )


# NCT06686394 (HER2+ MBC, three arms), quoted as written
_NCT06686394 = """Inclusion Criteria:

* Has histologically confirmed HER2+ locally advanced unresectable breast cancer or metastatic breast cancer
* Eastern Cooperative Oncology Group (ECOG) performance status 0 to 1 within 7 days before start of study intervention

Arm 1:

* Has received at least a minimum of 2 and a maximum of 5 prior lines of anti-HER2 therapy in the locally advanced or metastatic setting
* Had disease progression on or after any previous trastuzumab deruxtecan (T-DXd) treatment

Arm 2:

-Has received no more than 5 prior lines of anti-HER2 therapy in the locally advanced or metastatic setting

Exclusion Criteria:

* Has clinically severe respiratory compromise
"""  # noqa: E501


def test_end_to_end_arms_get_labels_and_common_criteria_none() -> None:
    crits = parse_criteria(_NCT06686394)
    by_text = {c.text[:41]: c.cohort for c in crits}
    assert by_text["Has histologically confirmed HER2+ locall"] is None
    assert by_text["Eastern Cooperative Oncology Group (ECOG)"] is None
    assert by_text["Has received at least a minimum of 2 and "] == "Arm 1"
    assert by_text["Had disease progression on or after any p"] == "Arm 1"
    assert by_text["Has clinically severe respiratory comprom"] is None
    arm2 = [c for c in crits if c.text.startswith("Has received no more than 5")]
    assert [c.cohort for c in arm2] == ["Arm 2"]


# NCT06374459 (capecitabine + radium-223), excerpt as written
_NCT06374459 = """Inclusion Criteria for both Phase Ib and Phase II:

* Hormone receptor-positive, HER2-negative metastatic breast cancer.
* At least 18 years of age.

Inclusion Criteria for Phase II:

* Progressive bone metastasis per the most recent tumor imaging studies by RECIST 1.1

Exclusion Criteria for Phase Ib:

* Capecitabine within 2 weeks prior to C1D1.

Exclusion Criteria for Phase II:

* Prior capecitabine in the metastatic setting.
"""


def test_end_to_end_phases_differ_and_both_is_common() -> None:
    crits = parse_criteria(_NCT06374459)
    got = {c.text[:30]: (c.kind, c.cohort) for c in crits}
    assert got["Hormone receptor-positive, HER"] == ("inclusion", None)
    assert got["At least 18 years of age."] == ("inclusion", None)
    assert got["Progressive bone metastasis pe"] == ("inclusion", "Phase 2")
    assert got["Capecitabine within 2 weeks pr"] == ("exclusion", "Phase 1b")
    assert got["Prior capecitabine in the meta"] == ("exclusion", "Phase 2")
    labels = {label for c in crits for label in split_labels(c.cohort)}
    assert candidates(labels) == ["Phase 1b", "Phase 2"]


def test_cohorts_named_after_a_negation_are_not_the_criterion_s_cohort() -> None:
    # NCT02279004: a Cohort 4A criterion that names the cohorts the patient is NOT in
    parents = ["Patient must not be eligible to enroll in cohort 1A or 2A due to:", "Cohort 4A (CLOSED):"]
    assert cohort_of("Not eligible for cohort 1A or 2A", parents, "") == "Cohort 4A"
    # NCT04300556
    assert cohort_of("Endometrial cancer (not enrolled in Dose Optimization Part B):", [], "") is None


def test_sub_identifiers_and_both_named_phases() -> None:
    # NCT05919264: "Part 1f-1" is one cohort (not "Part 1F" and "Part 1")
    heading = (
        "Additional Inclusion Criteria for Dose Escalation and Dose Expansion Cohorts (Part 1f-1 and Part 2f-1) "
        "FOG-001 + FOLFOX + Bevacizumab:"
    )
    label = cohort_of("Diagnosis of locally advanced or metastatic non-MSI-H or non-dMMR CRC", [], heading)
    assert label == "Part 1F-1, Part 2F-1"
    assert levels("Part 1F-1") == ("Part 1F-1",)
    # NCT03260491: "Exclusion Criteria for Dose Escalation and Dose Expansion:"
    assert cohort_of("x", [], "Exclusion Criteria for Dose Escalation and Dose Expansion:") == (
        "Dose escalation, Dose expansion"
    )
