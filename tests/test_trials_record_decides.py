"""Criteria the record's treatment and surgery history decides: progression on or after a therapy (not exposure
alone), the therapy a patient is on now, and recovery from surgery. Quotes are verbatim from the shared corpus
(checked when it is here)."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim, one, patient_view

ROOT = Path(__file__).resolve().parents[1]
QUOTES = Quotes()
q = QUOTES.q


@pytest.fixture(scope="module")
def stable() -> PatientView:  # f02: on first-line letrozole + palbociclib since 2025-03, responding; surgery 2012
    return patient_view(
        ROOT / "benchmarks" / "trials_fresh" / "patients" / "f02-hrpos-her2zero-stable-letrozole-palbociclib.yaml"
    )


@pytest.fixture(scope="module")
def progressed() -> PatientView:  # h05: progressed on fulvestrant + palbociclib, capecitabine, T-DXd; surgery 2017
    return patient_view(ROOT / "benchmarks" / "trials_heldout" / "patients" / "h05-her2-low-after-two-chemo.yaml")


PROGRESSION = q(
    "NCT06428396",
    "Has documented radiographic confirmation of disease progression during or after the last administered "
    "endocrine therapy (ET)",
)
CURRENT = q("NCT04563507", "Current use of systemic chemotherapy, endocrine therapy or HER2-neu targeted therapy")
SURGERY = q("NCT06841354", "Has not adequately recovered from major surgery or has ongoing surgical complications")


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


def test_exposure_without_progression_does_not_meet_progression(stable: PatientView, progressed: PatientView) -> None:
    r = one(inc(PROGRESSION), stable)  # on endocrine therapy, responding: no progression anywhere
    assert r.verdict == "not_met" and "progressed on endocrine = False" in r.evidence[0]
    assert one(inc(PROGRESSION), progressed).verdict == "met"  # progressed on fulvestrant + palbociclib


def test_progression_after_a_therapy_stopped_for_another_reason_is_left_open(progressed: PatientView) -> None:
    # received the class, never progressed on it, progressed on a later line: "after it" may count: ask
    f = {**progressed.facts, "progressed_on.endocrine": False}
    r = one(inc(PROGRESSION), dataclasses.replace(progressed, facts=f))
    assert r.verdict == "unknown" and "progressed later, not on it" in r.evidence[0]


def test_current_use_is_the_ongoing_line(stable: PatientView, progressed: PatientView) -> None:
    r = one(exc(CURRENT), stable)  # letrozole ongoing: the exclusion applies
    assert r.verdict == "met" and r.excludes is True
    assert one(exc(CURRENT), progressed).verdict == "not_met"  # off treatment since T-DXd stopped


def test_recovery_from_surgery_years_ago_is_not_in_question(stable: PatientView) -> None:
    r = one(exc(SURGERY), stable)
    assert r.verdict == "not_met" and "last surgery recorded 2012" in r.evidence[0]


def test_recent_surgery_leaves_recovery_to_the_investigator(stable: PatientView) -> None:
    assert stable.record is not None and stable.as_of is not None
    recent = dataclasses.replace(stable, as_of=datetime.date(2012, 9, 1))
    assert one(exc(SURGERY), recent).verdict == "unknown"
    undated = dataclasses.replace(
        stable.record,
        local_treatments=tuple(dataclasses.replace(x, start=None, end=None) for x in stable.record.local_treatments),
    )
    assert one(exc(SURGERY), dataclasses.replace(stable, record=undated)).verdict == "unknown"


HER2_1PLUS = q(
    "NCT06551116",
    "Primary and/or metastatic tumor with 1+ level of expression of HER2 by immunohistochemistry as determined by "
    "local laboratory assessment utilizing ASCO/CAP guidelines.",
)
PLANNED_FIRST = q(
    "NCT05977036",
    "Planned to initiate standard of care first-line therapy with FDA-approved endocrine therapy plus CDK4/6 "
    "inhibitor for the stated diagnosis at the time of study enrollment.",
)
DURING_FIRST = q(
    "NCT03769415",
    "Enrolled before or during first line of treatment for metastatic breast cancer. No more than 1 prior line of "
    "therapy in the metastatic setting.",
)
PREVIOUSLY = q(
    "NCT06016738",
    "Previously received a CDK4/6 inhibitor in combination with an endocrine therapy in the advanced setting.",
)
AFTER_LAST = q(
    "NCT06263543",
    "Documented clinical and/or radiographic disease progression after most recent therapy, unless immediate prior "
    "therapy was T-DXd which was discontinued for toxicity.",
)


def with_her2(p: PatientView, her2: str | None) -> PatientView:
    return dataclasses.replace(p, facts={**p.facts, "her2": her2})


def test_her2_ihc_1plus_only(stable: PatientView) -> None:
    (c,) = inc(HER2_1PLUS)
    assert [k.params for k in c.constraints if k.type == "her2_low"] == [{"ihc_only": ["1+"]}]
    assert stable.facts["her2"] == "0"
    assert evaluate_criterion(c, stable).verdict == "not_met"
    assert evaluate_criterion(c, with_her2(stable, "1+")).verdict == "met"
    assert evaluate_criterion(c, with_her2(stable, "2+/ISH-")).verdict == "not_met"  # HER2-low, but not 1+
    assert evaluate_criterion(c, with_her2(stable, None)).verdict == "unknown"
    assert evaluate_criterion(c, with_her2(stable, "negative")).verdict == "unknown"  # no IHC score recorded


def test_first_line_planned_or_ongoing(stable: PatientView, progressed: PatientView) -> None:
    (planned,) = inc(PLANNED_FIRST)
    assert [k.params for k in planned.constraints if k.type == "prior_lines"] == [
        {"kind": "any", "setting": "metastatic", "min": None, "max": 0}
    ]
    assert evaluate_criterion(planned, stable).verdict == "not_met"  # first line started 20 months ago
    (during,) = inc(DURING_FIRST)
    assert evaluate_criterion(during, stable).verdict == "met"  # during first line: the ongoing line is allowed
    assert evaluate_criterion(during, progressed).verdict == "not_met"  # three lines finished


def test_a_drug_taken_now_is_not_yet_a_prior_therapy(stable: PatientView, progressed: PatientView) -> None:
    r = one(inc(PREVIOUSLY), stable)  # palbociclib ongoing in her first course
    assert r.verdict == "not_met" and "not yet a prior therapy" in " ".join(r.evidence)
    assert one(inc(PREVIOUSLY), progressed).verdict == "met"  # palbociclib 2021-2023, stopped at progression


def test_progression_after_the_most_recent_therapy(stable: PatientView, progressed: PatientView) -> None:
    (c,) = inc(AFTER_LAST)
    assert [k.params for k in c.constraints if k.type == "standard_therapy"] == [{"last": True, "intolerance": True}]
    assert evaluate_criterion(c, progressed).verdict == "met"  # T-DXd stopped for progression
    assert evaluate_criterion(c, stable).verdict == "not_met"  # first line ongoing
    stopped = dataclasses.replace(progressed, facts={**progressed.facts, "last_line_stopped": "completed"})
    assert evaluate_criterion(c, stopped).verdict == "unknown"


# NCT04802759 (MORPHEUS), verbatim: an arm's own exclusions under a heading no cohort name is read from
ARM = (
    "Additional Exclusion Criteria for Giredestrant + Ipatasertib Arm (Cohort 1, Stage 1):\n\n"
    "* Prior treatment with an Akt inhibitor\n"
)
QUOTES.append(("NCT04802759", ARM.split("\n\n")[0]))


def test_an_exclusion_held_under_an_unnamed_arm_decides_only_when_she_does_not_trigger_it(
    progressed: PatientView,
) -> None:
    from mbcnav.trials.criteria import parse_criteria

    (c,) = [x for x in parse_criteria("Exclusion Criteria:\n\n" + ARM) if x.text.startswith("Prior treatment")]
    assert c.conditional and c.cohort is None
    assert [(k.type, k.params) for k in c.constraints] == [("prior_therapy", {"class": "akt_inhibitor"})]
    r = evaluate_criterion(c, progressed)  # no AKT inhibitor in her record: excluded from no arm
    assert r.verdict == "not_met" and "whatever the condition" in r.evidence[-1]
    had = dataclasses.replace(progressed, facts={**progressed.facts, "prior_any.akt_inhibitor": True})
    r = evaluate_criterion(c, had)  # she had one: excluded only if that arm is hers
    assert r.verdict == "unknown" and r.excludes is None
    # an inclusion held under an unnamed condition never decides (it may be read only in part)
    text = "Inclusion Criteria:\n\n" + ARM.replace("Exclusion", "Inclusion")
    (i,) = [x for x in parse_criteria(text) if x.constraints]
    assert i.conditional and evaluate_criterion(i, had).verdict == "unknown"
