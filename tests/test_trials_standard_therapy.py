"""'Standard therapy' criteria (trials/standard_therapy.py): progression on a line meets 'refractory to standard
therapy'; 'all standard therapies' is not met while the options engine still offers a line, never met by silence."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import inc

ROOT = Path(__file__).resolve().parents[1]
D = datetime.date(2026, 11, 26)


def view(name: str) -> PatientView:
    a, _ = assess_with_response(read_path(ROOT / "benchmarks" / "trials_heldout" / "patients" / name, today=D), as_of=D)
    return PatientView.of(a)


def test_all_standard_therapies_needs_the_options_engine() -> None:
    p = view("h02-esr1-after-cdk46.yaml")  # progressed on letrozole + abemaciclib
    (c,) = inc("Refractory to or relapsed after all standard therapies with proven clinical benefit")
    assert [(k.type, k.params) for k in c.constraints] == [("standard_therapy", {"some": False, "all": True})]
    assert evaluate_criterion(c, p).verdict == "unknown"  # options not evaluated
    assert evaluate_criterion(c, replace(p, options_exhausted=False)).verdict == "not_met"
    assert evaluate_criterion(c, replace(p, options_exhausted=True)).verdict == "unknown"  # silence proves nothing


def test_refractory_to_standard_therapy_is_met_by_progression() -> None:
    (c,) = inc("Must be refractory to standard therapy or for which no standard therapy exists.")
    assert evaluate_criterion(c, replace(view("h02-esr1-after-cdk46.yaml"), options_exhausted=False)).verdict == "met"
    first = replace(view("h07-gbrca1-tnbc-first-line.yaml"), options_exhausted=False)  # no metastatic line yet
    assert evaluate_criterion(c, first).verdict == "not_met"
    # a class requirement is not read as standard therapy in general
    cs = inc("Participants must have progressed on at least one line of standard endocrine therapy")
    assert not [k for c in cs for k in c.constraints if k.type == "standard_therapy"]
