"""Trials v2 matching: alternatives, conjunctive exclusions, cohorts, ranking by fit with its explanation, the
coordinator's compact output and `--explain`, sites nearest first, and compassionate use in the JSON contract."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from mbcnav.cli import main
from mbcnav.trials.match import PatientView, match_trial, relevance
from mbcnav.trials.model import Constraint, Criterion
from mbcnav.trials.ranking import Unknown, next_checks, unknown_of
from mbcnav.trials.records import Site, Trial, iter_records

from .test_trials_match import EA_DIR, SHARED, view


def c(type_: str, polarity: str, **params: object) -> Constraint:
    return Constraint(type_, polarity, dict(params), (0, 1), "test")


def crit(kind: str, *cs: Constraint, cohort: str | None = None, any_of: str | None = None, all_of: bool = False):
    return Criterion(kind, f"{kind} criterion", 0, 10, tuple(cs), cohort, any_of, all_of)


@pytest.fixture(scope="module")
def p07() -> PatientView:
    return view("07-her2-low-after-cdk46.yaml")  # HR+/HER2-low, after letrozole+palbociclib, then fulvestrant


@pytest.fixture(scope="module")
def study() -> Trial:
    t = next(r for _, r in iter_records(EA_DIR) if r.study_type == "INTERVENTIONAL")
    return dataclasses.replace(t, sex="ALL", min_age_years=None, max_age_years=None)


def test_one_of_the_following_needs_one_alternative(p07: PatientView, study: Trial) -> None:
    # "Participants must have one of the following: progression on a CDK4/6 inhibitor / on a PARP inhibitor"
    met = crit("inclusion", c("prior_therapy", "required", **{"class": "cdk46_inhibitor"}), any_of="g1")
    not_met = crit("inclusion", c("prior_therapy", "required", **{"class": "parp_inhibitor"}), any_of="g1")
    m = match_trial(study, [met, not_met], p07)
    assert m.verdict != "ineligible"
    assert [r.excludes for r in m.criteria] == [False, False]
    assert [r.verdict for r in m.criteria] == ["met", "not_met"]  # each keeps its own verdict
    assert "another is met" in m.criteria[1].group_note
    # without the group the same two criteria exclude: the group is what makes the difference
    alone = match_trial(study, [met, dataclasses.replace(not_met, any_of=None)], p07)
    assert alone.verdict == "ineligible"
    # every alternative fails -> the group excludes
    both_fail = [dataclasses.replace(not_met, any_of="g2"), dataclasses.replace(not_met, any_of="g2", start=11)]
    assert match_trial(study, both_fail, p07).verdict == "ineligible"


def test_conjunctive_exclusion_needs_every_part(p07: PatientView, study: Trial) -> None:
    # "gBRCA mutation and prior PARP inhibitor": p07 had a CDK4/6 inhibitor, never a PARP inhibitor
    both = crit(
        "exclusion",
        c("prior_therapy", "excluded", **{"class": "cdk46_inhibitor"}),
        c("prior_therapy", "excluded", **{"class": "parp_inhibitor"}),
        all_of=True,
    )
    r = match_trial(study, [both], p07).criteria[0]
    assert (r.verdict, r.excludes) == ("not_met", False)
    either = dataclasses.replace(both, all_of=False)  # the same parts read separately: the CDK4/6 one excludes
    assert match_trial(study, [either], p07).verdict == "ineligible"


def test_the_patient_needs_to_fit_one_cohort_and_the_output_names_it(p07: PatientView, study: Trial) -> None:
    common = crit("inclusion", c("advanced_disease", "required"))
    cohort_1 = crit("inclusion", c("hr_status", "required", status="positive"), cohort="Cohort 1")
    cohort_2 = crit("inclusion", c("hr_status", "required", status="negative"), cohort="Cohort 2")
    m = match_trial(study, [common, cohort_1, cohort_2], p07)
    assert m.verdict != "ineligible" and m.cohort == "Cohort 1"
    assert [r.applies for r in m.criteria] == [True, True, False]
    assert "fits Cohort 1" in m.explanation
    assert m.as_json()["cohort"] == "Cohort 1"
    # every named cohort fails -> ineligible, and the cohort named is the closest one
    her2_pos = crit("inclusion", c("her2_status", "required", status="positive"), cohort="Cohort 3")
    none_fit = match_trial(study, [common, cohort_2, her2_pos], p07)
    assert none_fit.verdict == "ineligible" and none_fit.cohort in ("Cohort 2", "Cohort 3")
    # a single named cohort that does not fit ("Cohort B only: ..."): the study may have other cohorts -> open
    only_2 = match_trial(study, [common, cohort_2], p07)
    assert only_2.verdict == "possibly_eligible" and only_2.cohort is None
    assert only_2.criteria[1].excludes is None and "may have other cohorts" in only_2.criteria[1].group_note


def test_explanation_counts_decisive_criteria_and_names_the_unknowns(p07: PatientView, study: Trial) -> None:
    crits = [
        crit("inclusion", c("hr_status", "required", status="positive")),
        crit("inclusion", c("her2_low", "required")),
        crit("inclusion", c("biomarker", "required", gene="AKT1", state="mutated")),  # AKT1 not tested in 07
        crit("inclusion", c("screening", "required", item="consent")),
        Criterion("exclusion", "Any condition that in the investigator's opinion ...", 0, 10, ()),
    ]
    m = match_trial(study, crits, p07)
    assert m.verdict == "possibly_eligible"
    assert m.explanation.startswith("2 of 3 decisive criteria met; AKT1 status unknown")
    assert "1 criterion to read" in m.explanation and "1 screening item" in m.explanation
    fit = m.as_json()["fit"]
    assert (fit["decisive_met"], fit["decisive_unknown"], fit["screening_items"], fit["free_text"]) == (2, 1, 1, 1)
    assert fit["next_checks"] == ["AKT1 test (tumour tissue or ctDNA) — AKT1 status"]


def test_a_cheap_unknown_ranks_above_an_expensive_one(p07: PatientView, study: Trial) -> None:
    base = [crit("inclusion", c("hr_status", "required", status="positive"))]
    lab = match_trial(
        study,
        [*base, crit("inclusion", c("lab", "required", analyte="bilirubin", op="<=", times_uln=1.5, unit="x ULN"))],
        p07,
    )
    gene = match_trial(study, [*base, crit("inclusion", c("biomarker", "required", gene="AKT1"))], p07)
    assert lab.verdict == gene.verdict == "possibly_eligible"
    assert lab.score > gene.score  # a blood test at screening settles the first; the second needs an assay


def test_a_test_on_tissue_ranks_below_screening_visit_unknowns_even_with_more_criteria_met(
    p07: PatientView, study: Trial
) -> None:
    """Judges grade a study whose required biomarker was never tested 1, not 2 (TREC convention): it ranks below a
    study whose open items a screening visit settles, even when more of its decisive criteria are met."""
    met = [crit("inclusion", c("hr_status", "required", status="positive")) for _ in range(4)]
    visit = [crit("exclusion", c("comorbidity", "excluded", condition="serious_illness")) for _ in range(2)]
    screening_only = match_trial(study, [met[0], *visit], p07)
    needs_assay = match_trial(study, [*met, crit("inclusion", c("biomarker", "required", gene="AKT1"))], p07)
    assert screening_only.verdict == needs_assay.verdict == "possibly_eligible"
    assert screening_only.score > needs_assay.score


def test_next_checks_cheapest_first_each_once() -> None:
    u = [Unknown("ESR1 status", "ESR1 test", 0.5), Unknown("ANC", "blood test", 0.1), Unknown("ALT", "blood test", 0.1)]
    assert next_checks(u) == ["blood test — ANC, ALT", "ESR1 test — ESR1 status"]
    assert unknown_of(()).item == "criterion in free text"
    assert unknown_of((c("brain_mets", "excluded", state="active"),)).check == "brain MRI"


def test_a_study_whose_conditions_say_only_tumors_is_read(study: Trial) -> None:
    # a basket study listing "Tumors" as its condition used to be "not a breast cancer study" without being read
    t = dataclasses.replace(study, title="A study of drug X", conditions=("Tumors",), keywords=())
    assert relevance(dataclasses.replace(t, eligibility_text="Inclusion: advanced breast cancer or NSCLC")) == (
        "solid_tumour"
    )
    assert relevance(dataclasses.replace(t, eligibility_text="Inclusion: advanced NSCLC")) == "other_cancer"


def test_sites_nearest_first() -> None:
    from mbcnav.render.trials import nearest_sites
    from mbcnav.trials.match import StudyMatch

    paris = Site("Institut Curie", "Paris", "France", "RECRUITING", None, 48.84, 2.34)
    lyon = Site("Centre Léon Bérard", "Lyon", "France", "RECRUITING", None, 45.74, 4.88)
    closed = Site("Gustave Roussy", "Villejuif", "France", "COMPLETED", None, 48.79, 2.36)
    t = next(r for _, r in iter_records(EA_DIR) if r.study_type == "INTERVENTIONAL")
    m = StudyMatch(dataclasses.replace(t, sites=(lyon, closed, paris)), "possibly_eligible", 0.0, [], "breast", [])
    near_paris = nearest_sites(m, (48.85, 2.35))
    assert [s.split(",")[0] for s in near_paris] == ["Institut Curie", "Centre Léon Bérard"]  # a closed site is not
    assert re.search(r"— 1 km$", near_paris[0]) and re.search(r"— 39\d km$", near_paris[1])


def test_sites_are_read_from_api_v2_locations() -> None:
    from mbcnav.trials.records import parse_v2_study

    doc = json.loads((EA_DIR / "NCT99000002-with-expanded-access.json").read_text())
    doc["protocolSection"]["contactsLocationsModule"] = {
        "locations": [
            {"facility": "Hartford Hospital", "city": "Hartford", "state": "Connecticut", "country": "United States",
             "status": "RECRUITING", "geoPoint": {"lat": 41.76, "lon": -72.69}},
            {"country": "Canada"},  # a country alone (the shared corpus pages): no site
            {"facility": "Bad geo", "city": "X", "country": "Y", "geoPoint": {"lat": 400, "lon": 0}},
        ]
    }  # fmt: skip
    trial, _ = parse_v2_study(doc, "x.json")
    assert trial is not None
    assert [s.facility for s in trial.sites] == ["Hartford Hospital", "Bad geo"]
    assert trial.sites[0].lat == 41.76 and trial.sites[1].lat is None
    assert Trial.from_json(json.loads(json.dumps(trial.to_json()))) == trial  # the store's round trip


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = f"sqlite:///{tmp_path_factory.mktemp('ranking')}/t.db"
    assert (
        main(["trials", "load", str(SHARED / "page-001.json"), str(SHARED / "page-002.json"), str(EA_DIR), "--db", db])
        == 0
    )
    return db


@pytest.mark.skipif(not SHARED.exists(), reason="../shared not present")
def test_text_output_fits_100_columns_and_explain_shows_one_study(
    loaded_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = "examples/cases/07-her2-low-after-cdk46.yaml"
    capsys.readouterr()
    assert main(["trials", "match", case, "--db", loaded_db, "--top", "5", "--as-of", "2026-11-26"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines and max(len(x) for x in lines) <= 100
    ids = re.findall(r"^\s*\d+\. (NCT\d{8})", out.split("Expanded access programmes")[0], re.M)
    assert 1 <= len(ids) <= 5
    assert re.search(r"\d+ of \d+ decisive criteria met", out)
    assert main(["trials", "match", case, "--db", loaded_db, "--explain", ids[0], "--as-of", "2026-11-26"]) == 0
    detail = capsys.readouterr().out
    assert detail.startswith(ids[0]) and "Fit:" in detail
    assert max(len(x) for x in detail.splitlines()) <= 100
    assert "https://clinicaltrials.gov/study/" + ids[0] in detail
    assert main(["trials", "match", case, "--db", loaded_db, "--explain", ids[0], "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["nct_id"] == ids[0] and {"explanation", "fit", "cohort"} <= set(doc)
    # a study not in the store is a user error (exit 2), a malformed id an argument error
    assert main(["trials", "match", case, "--db", loaded_db, "--explain", "NCT00000000"]) == 2
    with pytest.raises(SystemExit) as err:
        main(["trials", "match", case, "--db", loaded_db, "--explain", "12345"])
    assert err.value.code == 2


@pytest.mark.skipif(not SHARED.exists(), reason="../shared not present")
def test_match_json_carries_the_fit_and_compassionate_use(loaded_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    case = "examples/cases/11-ecog-3.yaml"
    assert main(["trials", "match", case, "--db", loaded_db, "--format", "json", "--as-of", "2026-11-26"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == "1.1"
    for m in doc["matches"]:
        assert m["explanation"] and set(m["fit"]) >= {"decisive_met", "decisive_unknown", "next_checks"}
        for cr in m["criteria"]:
            assert {"cohort", "any_of", "applies", "decisive"} <= set(cr)
    cu = doc["compassionate_use"]
    assert cu["schema_version"] and isinstance(cu["needed"], bool)
    assert cu["routes"] and all(r["citations"] for r in cu["routes"])
