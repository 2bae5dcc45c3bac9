"""List heads and their sub-bullets: a head the record leaves open takes its sub-bullets' verdict (all of them in an
inclusion, one of them for "one of the following" or in an exclusion), and a washout table under its head is read
row by row. Quotes are verbatim from the shared corpus (checked when it is here)."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

import pytest

from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.trials.criteria import parse_criteria
from mbcnav.trials.match import match_trial
from mbcnav.trials.patient_view import PatientView
from mbcnav.trials.records import Trial, iter_records

from .trials_corpus import Quotes, needs_corpus, not_verbatim

ROOT = Path(__file__).resolve().parents[1]
D = datetime.date(2026, 11, 26)
QUOTES = Quotes()

# NCT06263543 (SERIES), verbatim with its list layout
WASHOUT = (
    "* Adequate treatment washout period before randomization, defined as:\n\n"
    "  1. Major surgery: ≥ 3 weeks\n"
    "  2. Radiation therapy including palliative and/or stereotactic radiation therapy ≥ 2 weeks\n"
    "  3. Hormonal therapy: ≥ 2 weeks\n"
    "  4. Targeted therapy (CDK4/6i, PARP inhibitor, AKTinhibitor, mTOR inhibitor, PIK3CA inhibitor): ≥ 2 weeks\n"
    "  5. Immunotherapy (non-antibody-based therapy): ≥ 2 weeks\n"
    "  6. T-DXd: ≥ 3 weeks\n"
)
QUOTES.append(("NCT06263543", WASHOUT.removeprefix("* ")))
# NCT06176261 (DATO-BASE)
ORGANS = (
    "* Adequate organ function as defined by the following values:\n\n"
    "  * Hemoglobin ≥ 9.0 g/dL. Red blood cell/plasma transfusion is not permitted within 1 week prior to screening "
    "assessment.\n"
    "  * Absolute neutrophil count ≥1,500/mm3. Granulocyte colony-stimulating factor administration is not permitted "
    "within 1 week prior to screening assessment.\n"
    "  * Platelets ≥100,000/mm3. Platelet transfusion is not permitted within 1 week prior to screening assessment.\n"
)
QUOTES.append(("NCT06176261", ORGANS.removeprefix("* ")))


@pytest.fixture(scope="module")
def patient() -> PatientView:  # h05: labs of 2026-10-08 / 2026-11, capecitabine and T-DXd in 2024-2026
    path = ROOT / "benchmarks" / "trials_heldout" / "patients" / "h05-her2-low-after-two-chemo.yaml"
    a, _ = assess_with_response(read_path(path, today=D), as_of=D)
    return PatientView.of(a)


EA_DIR = ROOT / "tests" / "data" / "trials" / "expanded-access"


def study(text: str) -> Trial:
    """A fixture interventional breast study (API v2 record) with this eligibility text and no structured limits."""
    base = next(t for _, t in iter_records(EA_DIR) if isinstance(t, Trial) and t.study_type == "INTERVENTIONAL")
    return replace(base, eligibility_text=text, sex="ALL", min_age_years=None, max_age_years=None)


def test_washout_table_rows_are_read_under_their_head() -> None:
    cs = parse_criteria("Inclusion Criteria:\n\n" + WASHOUT)
    rows = {
        c.text.split(":")[0].strip(): [(k.type, k.params.get("therapy"), k.params.get("days")) for k in c.constraints]
        for c in cs[1:]
    }
    assert rows["Major surgery"] == [("washout", "major_surgery", 21)]
    assert rows["Hormonal therapy"] == [("washout", "endocrine", 14)]
    assert rows["T-DXd"] == [("washout", "trastuzumab deruxtecan", 21)]
    assert ("washout", "cdk46_inhibitor", 14) in rows[
        "Targeted therapy (CDK4/6i, PARP inhibitor, AKTinhibitor, mTOR inhibitor, PIK3CA inhibitor)"
    ]
    assert all(c.parent == 0 for c in cs[1:])
    # the same row without a washout head is not read as a washout (a label and a number can be anything)
    alone = parse_criteria("Inclusion Criteria:\n\n* Hormonal therapy: ≥ 2 weeks\n")
    assert not [k for c in alone for k in c.constraints if k.type == "washout"]


def test_a_head_takes_the_verdict_of_its_sub_bullets(patient: PatientView) -> None:
    text = "Inclusion Criteria:\n\n" + ORGANS
    m = match_trial(study(text), parse_criteria(text), patient)
    head, *rows = m.criteria
    assert [r.verdict for r in rows] == ["met", "met", "met"]  # h05: Hb, ANC 1.6, platelets within limits
    assert head.verdict == "met" and head.from_children and not head.decisive
    assert "from its 3 sub-criteria (all of)" in head.evidence[0]
    # one sub-bullet failing makes the head fail (an inclusion needs all of them)
    low = replace(patient, labs=tuple(replace(x, value=0.9) if x.analyte == "neutrophils" else x for x in patient.labs))
    m = match_trial(study(text), parse_criteria(text), low)
    assert m.criteria[0].verdict == "not_met" and m.criteria[2].verdict == "not_met"
    # a sub-bullet left open keeps the head open
    none = replace(patient, labs=tuple(x for x in patient.labs if x.analyte != "platelets"))
    assert match_trial(study(text), parse_criteria(text), none).criteria[0].verdict == "unknown"


def test_an_exclusion_head_applies_when_one_sub_bullet_does(patient: PatientView) -> None:
    text = "Exclusion Criteria:\n\n* Any of the following within 6 months:\n  * Known brain metastases\n  * Skin only metastatic disease\n"  # noqa: E501
    m = match_trial(study(text), parse_criteria(text), patient)
    assert [r.verdict for r in m.criteria] == ["not_met", "not_met", "not_met"]  # no brain metastases, not skin-only
    brain = replace(patient, facts={**patient.facts, "brain_mets": True})
    m = match_trial(study(text), parse_criteria(text), brain)
    assert m.criteria[0].verdict == "met" and m.criteria[0].excludes is True


def test_alternatives_head_needs_the_parsers_grouping(patient: PatientView) -> None:
    text = (
        "Inclusion Criteria:\n\n* Participants must have one of the following:\n  * ECOG 0 or 1\n  * Karnofsky ≥ 70\n"
    )
    cs = parse_criteria(text)
    assert [c.any_of for c in cs] == [None, "one-of-0", "one-of-0"]
    assert match_trial(study(text), cs, patient).criteria[0].verdict == "met"  # h05: ECOG 1
    # the same sub-bullets not grouped as alternatives (as when a flat numbered text mis-nests a bullet under the
    # head): an unrelated met sub-bullet must never make a list of alternatives "met"
    flat = [cs[0], *(replace(c, any_of=None) for c in cs[1:])]
    assert match_trial(study(text), flat, patient).criteria[0].verdict == "unknown"


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


# NCT06263543 (SERIES), verbatim: a line that heads the contraception methods below it
PREVENTION = (
    "The following are acceptable measures to prevent pregnancy:\n\n"
    "* Abstinence (not having sexual relations with a person who can get you pregnant)\n"
    "* Non-hormonal Intrauterine Device (IUD)\n"
    "* Vasectomy\n"
    "* Sterilization\n"
    "* Bilateral tubal occlusion\n"
)
QUOTES.append(("NCT06263543", PREVENTION))


def test_contraception_rules_do_not_apply_to_a_postmenopausal_woman(patient: PatientView) -> None:
    text = "Inclusion Criteria:\n\n" + PREVENTION
    assert patient.facts["menopausal_status"] == "post" and patient.facts["sex"] == "female"
    m = match_trial(study(text), parse_criteria(text), patient)
    assert [r.verdict for r in m.criteria] == ["met"] * 6
    assert all(r.not_applicable for r in m.criteria)
    assert "contraception rules do not apply" in m.criteria[0].evidence[0]
    assert "under a list head that does not apply" in m.criteria[4].evidence[0]  # "Sterilization": no rule of its own
    # premenopausal, or unknown: the rules apply (confirmed at screening), never "not applicable"
    for status in ("pre", None):
        pre = replace(patient, facts={**patient.facts, "menopausal_status": status})
        m = match_trial(study(text), parse_criteria(text), pre)
        assert not any(r.not_applicable for r in m.criteria)
        assert m.criteria[0].verdict == "unknown"


def test_a_washout_not_yet_over_is_scheduling_not_ineligibility(patient: PatientView) -> None:
    # h05: T-DXd stopped 31 days before the as-of date. NCT05095207's wording: inside a 6-week window
    washout = "Exclusion Criteria:\n\n* Received prior anticancer therapy within 6 weeks before randomization\n"
    m = match_trial(study(washout), parse_criteria(washout), patient)
    assert m.criteria[0].verdict == "met" and m.criteria[0].excludes is True  # true today: the window is not over
    assert m.verdict == "possibly_eligible" and m.excluded_by == []
    assert m.questions and m.questions[0].startswith("washout (after it ends)")
    # a washout beside a real exclusion: the real one decides
    both = washout + "* Prior treatment with trastuzumab deruxtecan\n"
    m = match_trial(study(both), parse_criteria(both), patient)
    assert m.verdict == "ineligible" and m.excluded_by == ["exclusion: Prior treatment with trastuzumab deruxtecan"]
