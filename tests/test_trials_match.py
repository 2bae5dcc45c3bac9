"""Trial matching: criterion verdicts with the record's evidence, study verdicts, ranking, expanded access, CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mbcnav.cli import main
from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.trials.criteria import Constraint, Criterion
from mbcnav.trials.match import PatientView, evaluate_criterion, match_patient, match_trial
from mbcnav.trials.records import iter_records

from .conftest import ROOT, TODAY

EA_DIR = ROOT / "tests" / "data" / "trials" / "expanded-access"


def view(case: str) -> PatientView:
    a, _ = assess_with_response(read_path(ROOT / "examples" / "cases" / case, today=TODAY), as_of=TODAY)
    return PatientView.of(a)


def crit(kind: str, *constraints: Constraint) -> Criterion:
    return Criterion(kind, "criterion text", 0, 14, tuple(constraints))


def c(type_: str, polarity: str, **params: object) -> Constraint:
    return Constraint(type_, polarity, dict(params), (0, 1), "test")


@pytest.fixture(scope="module")
def p07() -> PatientView:
    return view("07-her2-low-after-cdk46.yaml")  # HR+/HER2 2+/ISH-, after letrozole+palbociclib and fulvestrant


def test_inclusion_verdicts_carry_evidence(p07: PatientView) -> None:
    her2_low = evaluate_criterion(crit("inclusion", c("her2_low", "required")), p07)
    assert her2_low.verdict == "met" and "low" in her2_low.evidence[0]
    her2_pos = evaluate_criterion(crit("inclusion", c("her2_status", "required", status="positive")), p07)
    assert her2_pos.verdict == "not_met" and her2_pos.excludes
    lines = evaluate_criterion(crit("inclusion", c("prior_lines", "required", kind="endocrine", min=1, max=2)), p07)
    assert lines.verdict == "met"


def test_negation_trap_prior_cdk46(p07: PatientView) -> None:
    no_prior = evaluate_criterion(
        crit("inclusion", c("prior_therapy", "excluded", **{"class": "cdk46_inhibitor"})), p07
    )
    required = evaluate_criterion(
        crit("inclusion", c("prior_therapy", "required", **{"class": "cdk46_inhibitor"})), p07
    )
    assert (no_prior.verdict, required.verdict) == ("not_met", "met")


def test_exclusion_semantics_and_exceptions(p07: PatientView) -> None:
    # "Prior chemotherapy in the metastatic setting": she had none for metastatic disease -> the exclusion does
    # not apply (verdict not_met) even though she had (neo)adjuvant chemotherapy.
    chemo = evaluate_criterion(
        crit("exclusion", c("prior_therapy", "excluded", setting="metastatic", **{"class": "chemotherapy"})), p07
    )
    assert chemo.verdict in ("not_met", "unknown") and chemo.excludes is not True
    # "Active brain metastases; treated stable ones allowed": no brain metastases -> does not apply; the
    # exception clause alone never excludes.
    brain = evaluate_criterion(
        crit("exclusion", c("brain_mets", "excluded", state="active"), c("brain_mets", "required", state="any")), p07
    )
    assert brain.verdict == "not_met" and brain.excludes is False
    cdk = evaluate_criterion(crit("exclusion", c("prior_therapy", "excluded", **{"class": "cdk46_inhibitor"})), p07)
    assert cdk.verdict == "met" and cdk.excludes


def test_unknown_stays_unknown(p07: PatientView) -> None:
    free = evaluate_criterion(crit("inclusion"), p07)
    assert free.verdict == "unknown" and free.excludes is None
    karnofsky = evaluate_criterion(crit("inclusion", c("karnofsky", "required", min=70)), p07)
    assert karnofsky.verdict == "unknown"


def _ea_trials() -> list:  # type: ignore[type-arg]
    return [r for _, r in iter_records(EA_DIR)]


def test_study_verdicts_and_expanded_access_listed_apart(p07: PatientView) -> None:
    a, _ = assess_with_response(
        read_path(ROOT / "examples" / "cases" / "07-her2-low-after-cdk46.yaml", today=TODAY), as_of=TODAY
    )
    trials = _ea_trials()
    inter = next(t for t in trials if t.study_type == "INTERVENTIONAL")
    excluding = [crit("inclusion", c("her2_status", "required", status="positive"))]
    assert match_trial(inter, excluding, p07).verdict == "ineligible"
    report = match_patient(a, [(t, []) for t in trials], options_exhausted=True)
    assert {m.trial.nct_id for m in report.expanded_access} == {
        t.nct_id for t in trials if t.study_type == "EXPANDED_ACCESS"
    }
    assert all(m.trial.study_type != "EXPANDED_ACCESS" for m in report.matches)
    assert report.highlight_expanded_access and "exhausted" in report.highlight_reason


def test_structured_sex_limit_excludes_a_man() -> None:
    man = view("09-male-hr-positive.yaml")
    trial = dataclasses.replace(_ea_trials()[1], sex="FEMALE")
    assert match_trial(trial, [], man).verdict == "ineligible"


SHARED = ROOT.parent / "shared" / "data" / "trials" / "ctgov-v2-2026-01"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared not present")
def test_match_cli_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    assert main(["trials", "match", "examples/cases/07-her2-low-after-cdk46.yaml", "--db", db]) == 2
    assert "empty" in capsys.readouterr().err
    assert (
        main(["trials", "load", str(SHARED / "page-001.json"), str(SHARED / "page-002.json"), str(EA_DIR), "--db", db])
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "trials",
                "match",
                "examples/cases/07-her2-low-after-cdk46.yaml",
                "--db",
                db,
                "--format",
                "json",
                "--top",
                "5",
                "--as-of",
                "2026-11-26",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"matches", "expanded_access"}
    assert len(doc["matches"]) <= 5
    for m in doc["matches"]:
        assert set(m) >= {"nct_id", "title", "study_type", "phases", "status", "verdict", "score", "criteria"}
        assert m["verdict"] in ("eligible", "possibly_eligible")
        for cr in m["criteria"]:
            assert set(cr) >= {"kind", "text", "verdict", "evidence"}
            assert cr["verdict"] in ("met", "not_met", "unknown")
    scores = [m["score"] for m in doc["matches"]]
    assert scores == sorted(scores, reverse=True)
    assert [m["nct_id"] for m in doc["expanded_access"]] == ["NCT99000001"]  # AVAILABLE; the other is not open
