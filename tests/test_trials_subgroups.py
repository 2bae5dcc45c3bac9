"""Criteria addressed to a subgroup (trials/subgroups.py): not applicable to a patient the record places outside it,
read as usual inside it, and never "not applicable" when the record cannot say. Population statements that open a
study to everyone are met. Sentences are quoted verbatim from the shared corpus (checked when it is here)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mbcnav.trials.criteria import parse_criteria
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, groups, inc, needs_corpus, not_verbatim, patient_view
from .trials_corpus import one as verdict

ROOT = Path(__file__).resolve().parents[1]
QUOTES = Quotes()
q = QUOTES.q


@pytest.fixture(scope="module")
def post_woman() -> PatientView:  # postmenopausal, no brain metastases
    return patient_view(ROOT / "examples" / "cases" / "02-recurrence-on-adjuvant-ai.yaml")


@pytest.fixture(scope="module")
def pre_woman_brain() -> PatientView:  # premenopausal, treated brain metastases
    return patient_view(ROOT / "examples" / "cases" / "04-her2-positive-brain.yaml")


@pytest.fixture(scope="module")
def man() -> PatientView:
    return patient_view(ROOT / "examples" / "cases" / "09-male-hr-positive.yaml")


MALE_CONTRACEPTION = q("NCT04302025", "Male participants must be willing to use acceptable methods of contraception")
WOCBP_TEST = q(
    "NCT03943316",
    "Women of childbearing potential must have a negative qualitative serum pregnancy test ≤ 2 weeks prior to study "
    "entry.",
)
BRAIN_ALLOWED = q(
    "NCT02693535",
    "Patients with previously treated brain metastases are eligible, provided that the patient has not experienced a "
    "seizure or had a clinically significant change in neurological status within the 3 months prior to registration.",
)
FATHER = q(
    "NCT05748834",
    "Men who plan to father a child while in the study and for at least 6 months after the last administration of "
    "study treatment",
)


def test_a_mens_rule_does_not_apply_to_a_woman_and_stays_open_for_a_man(
    post_woman: PatientView, man: PatientView
) -> None:
    cs = inc(MALE_CONTRACEPTION)
    assert groups(cs) == [["men"]]
    r = verdict(cs, post_woman)
    assert (r.verdict, r.excludes, r.not_applicable, r.decisive) == ("met", False, True, False)
    assert "applies only to men" in r.evidence[0] and "female" in r.evidence[0]
    r = verdict(cs, man)
    assert r.verdict == "unknown" and not r.not_applicable  # a screening item for him: confirmed at screening
    # an exclusion addressed to men: not met for a woman (she is not excluded by it), open for a man
    cs = exc(FATHER)
    assert groups(cs) == [["men"]]
    assert verdict(cs, post_woman).verdict == "not_met"
    assert verdict(cs, man).verdict == "unknown"


def test_childbearing_potential_needs_a_recorded_menopausal_status(
    post_woman: PatientView, pre_woman_brain: PatientView, man: PatientView
) -> None:
    cs = inc(WOCBP_TEST)
    assert groups(cs) == [["women_of_childbearing_potential"]]
    assert verdict(cs, post_woman).not_applicable  # postmenopausal: cannot become pregnant
    assert verdict(cs, man).not_applicable
    assert not verdict(cs, pre_woman_brain).not_applicable
    # unknown is never permissive: a woman whose menopausal status is not recorded may be of childbearing potential
    unknown = replace(post_woman, facts={**post_woman.facts, "menopausal_status": None})
    r = verdict(cs, unknown)
    assert not r.not_applicable and r.verdict != "met"


def test_brain_metastasis_allowance_is_moot_without_brain_metastases(
    post_woman: PatientView, pre_woman_brain: PatientView
) -> None:
    cs = inc(BRAIN_ALLOWED)
    assert groups(cs) == [["brain_metastases"]]
    assert verdict(cs, post_woman).verdict == "met"
    assert not verdict(cs, pre_woman_brain).not_applicable  # she has them: a person reads the provisos
    # the patient's brain status not known (no metastatic sites read): stays open
    unknown = replace(post_woman, facts={**post_woman.facts, "brain_mets": None})
    assert not verdict(cs, unknown).not_applicable


def test_a_list_head_binds_its_sub_bullets(post_woman: PatientView, pre_woman_brain: PatientView) -> None:
    text = (
        "Inclusion Criteria:\n\n"
        + q("NCT05696626", "11. Brain metastases are allowed only if the following 4 parameters hold:")
        + "\n   * Asymptomatic,\n   * Definitively treated (e.g., radiotherapy, surgery),\n"
    )
    cs = parse_criteria(text)
    assert groups(cs) == [["brain_metastases"]] * 3
    assert [evaluate_criterion(c, post_woman).verdict for c in cs] == ["met"] * 3
    assert not any(evaluate_criterion(c, pre_woman_brain).not_applicable for c in cs)


@pytest.mark.parametrize(
    "sentence",
    [
        # population statements: who the study is for, not a rule for a subgroup
        "Premenopausal women must have hormone receptor-positive breast cancer.",
        "Women who are premenopausal with HR+ breast cancer",
        "Patients with brain metastases from HER2-positive breast cancer must have at least one measurable lesion.",
        "Women must have histologically confirmed breast cancer.",
        "Male patients with breast cancer.",
    ],
)
def test_population_statements_are_not_subgroups(sentence: str) -> None:
    assert groups(inc(sentence)) == []


def test_joined_subjects_are_all_read(post_woman: PatientView, man: PatientView) -> None:
    cs = inc(
        q(
            "NCT06016738",
            "Male and pre- or peri-menopausal female participants must be willing to take a GnRH (or LHRH) agonist.",
        )
    )
    assert groups(cs) == [["men", "premenopausal_women"]]
    assert verdict(cs, post_woman).not_applicable
    assert not verdict(cs, man).not_applicable  # the rule binds men too


def test_statements_open_to_everyone_are_met(post_woman: PatientView, man: PatientView) -> None:
    for sentence in (
        q("NCT05696626", "Pre- or postmenopausal women or men."),
        q(
            "NCT05780034",
            "Adult male and female patients, at least 18 years-of-age at the time of signature of the "
            "informed consent form (ICF).",
        ),
    ):
        cs = inc(sentence)
        assert verdict(cs, post_woman).verdict == "met" and verdict(cs, man).verdict == "met"
    # a women-only statement still restricts
    assert verdict(inc("Women with metastatic breast cancer"), man).verdict == "not_met"


def test_hyphenated_years_of_age_is_an_age_bound() -> None:
    cs = inc(q("NCT05748834", "At least 18 years-of-age at the time of signature of the informed consent form (ICF)"))
    assert [(k.type, k.params) for c in cs for k in c.constraints if k.type == "age"] == [("age", {"min": 18})]


def test_steroids_for_brain_metastases_are_not_brain_metastases(pre_woman_brain: PatientView) -> None:
    cs = exc(
        q(
            "NCT05748834",
            "Ongoing use of systemic corticosteroids for control of symptoms of brain metastases at a total daily "
            "dose of \\>2 mg of dexamethasone (or equivalent).",
        )
    )
    assert not [k for c in cs for k in c.constraints if k.type == "brain_mets"]
    assert verdict(cs, pre_woman_brain).verdict != "met"  # treated brain metastases do not make the exclusion hold


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


def test_more_subjects_of_reproductive_potential(post_woman: PatientView, man: PatientView) -> None:
    both = inc(
        q(
            "NCT05672355",
            "Agreement by females and males of childbearing potential to use an effective method of birth control or "
            "abstain from heterosexual activity",
        )
    )
    assert groups(both) == [["people_of_reproductive_potential"]]
    assert verdict(both, post_woman).not_applicable
    assert not verdict(both, man).not_applicable  # men of reproductive potential are bound by it
    people = inc(
        q(
            "NCT06263543",
            "Individuals of childbearing potential who are sexually active with a non-sterilized male partner must "
            "agree to use at least one highly effective method of contraception",
        )
    )
    assert groups(people) == [["women_of_childbearing_potential"]]
    assert verdict(people, post_woman).verdict == "met"


def test_site_limited_spread_in_an_exclusion(post_woman: PatientView) -> None:
    cs = exc(q("NCT06260033", "Patients that have only liver metastases will not be allowed"))
    assert [(k.type, k.params) for c in cs for k in c.constraints] == [
        ("advanced_disease", {"kind": "site_only", "sites": ["liver"]})
    ]
    assert verdict(cs, post_woman).verdict == "not_met"  # she has sites beyond the liver
    assert verdict(cs, replace(post_woman, sites=("liver",))).verdict == "met"
    assert verdict(cs, replace(post_woman, sites=())).verdict == "unknown"  # no sites recorded: not decided
    # in an inclusion, "bone-only disease" is an allowance or an alternative to measurable disease, not a demand
    for sentence in (
        "Measurable disease or non-measurable bone only disease as defined by RECIST version 1.1",
        "Evaluable disease (measurable disease or bone-only disease).",
    ):
        assert not [k for c in inc(sentence) for k in c.constraints if k.params.get("kind") == "site_only"]
