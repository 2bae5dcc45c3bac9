"""Compassionate use: when it is needed, matching expanded-access records, late-phase drugs, cited routes, JSON, text.

The shared ClinicalTrials.gov corpus holds no expanded-access record (no studyType EXPANDED_ACCESS, no
expandedAccessInfo), so the expanded-access studies are synthetic API v2 fixtures (NCT99xxxxxx) in
tests/data/trials/expanded-access/ and its hidden sub-folder .compassionate/ (the loader skips dot-folders, so the
tests that count that folder's records are unchanged). NCT99000004 / NCT99000005 quote a real inclusion criterion:
"* Hormone receptor-positive, HER2-negative metastatic breast cancer." (NCT06374459).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from functools import cache
from typing import Any

import pytest
import yaml
from rich.console import Console

from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.render.compassionate import render_compassionate
from mbcnav.trials.compassionate import (
    JSON_KEYS,
    ROLES,
    CompassionateUse,
    compassionate_use,
    knowledge,
    knowledge_problems,
)
from mbcnav.trials.criteria import Constraint, Criterion, parse_criteria
from mbcnav.trials.match import MatchReport, match_patient
from mbcnav.trials.records import RecordProblem, Trial, iter_records

from .conftest import ROOT, TODAY

EA_DIR = ROOT / "tests" / "data" / "trials" / "expanded-access"
MORE_EA = EA_DIR / ".compassionate"  # NCT99000004 (EA, treatment, no longer available), NCT99000005 (phase 2/3)
SHARED_PAGE = ROOT.parent / "shared" / "data" / "trials" / "ctgov-v2-2026-01" / "page-002.json"
HER2_POSITIVE_ONLY = [
    Criterion(
        "inclusion",
        "HER2-positive",
        0,
        13,
        (Constraint("her2_status", "required", {"status": "positive"}, (0, 13), "test"),),
    )
]


@cache
def _assessment(case: str) -> Any:
    a, _ = assess_with_response(read_path(ROOT / "examples" / "cases" / case, today=TODAY), as_of=TODAY)
    return a


@cache
def _fixtures() -> tuple[Trial, ...]:
    return tuple(r for d in (EA_DIR, MORE_EA) for _, r in iter_records(d) if isinstance(r, Trial))


def _pairs(**override: list[Criterion]) -> list[tuple[Trial, list[Criterion]]]:
    return [(t, override.get(t.nct_id, parse_criteria(t.eligibility_text))) for t in _fixtures()]


def _run(
    case: str, pairs: list[tuple[Trial, list[Criterion]]], exhausted: bool
) -> tuple[MatchReport, CompassionateUse]:
    report = match_patient(_assessment(case), pairs, options_exhausted=exhausted)
    return report, compassionate_use(report, pairs, options_exhausted=exhausted, today=TODAY)


CASE07 = "07-her2-low-after-cdk46.yaml"  # HR+/HER2-low, after letrozole + palbociclib and fulvestrant
CASE04 = "04-her2-positive-brain.yaml"  # HER2-positive


def test_fixtures_follow_the_api_v2_schema_and_say_they_are_synthetic() -> None:
    records = [r for d in (EA_DIR, MORE_EA) for _, r in iter_records(d)]
    assert len(records) == 5 and len([r for _, r in iter_records(EA_DIR)]) == 3  # the folder itself loads 3
    assert not [r for r in records if isinstance(r, RecordProblem)]
    by_id = {t.nct_id: t for t in _fixtures()}
    ea, late = by_id["NCT99000004"], by_id["NCT99000005"]
    assert (ea.study_type, ea.status, ea.expanded_access_types) == (
        "EXPANDED_ACCESS",
        "NO_LONGER_AVAILABLE",
        ("treatment",),
    )
    assert (late.phases, late.has_expanded_access, late.expanded_access_nct) == (
        ("PHASE2", "PHASE3"),
        True,
        "NCT99000004",
    )
    for t in (ea, late):
        assert "Synthetic test fixture" in t.brief_summary and "NCT99xxxxxx" in t.brief_summary


def test_routes_are_valid_and_every_route_is_cited() -> None:
    kb = knowledge()
    assert {r.jurisdiction for r in kb.routes} == {"US", "EU", "UK"}
    ids = {r.id for r in kb.routes}
    assert {"us-individual-ind", "us-emergency-individual", "us-intermediate", "us-treatment"} <= ids
    for route in kb.routes:
        assert route.citations and all(c.url.startswith("https://") for c in route.all_citations())
        assert all(route.roles[r] for r in ROLES)
        assert all(tf.citations for tf in route.time_frames)  # a time frame is always a source's own
        for duties in route.roles.values():
            assert all(d.citations or d.text.startswith("Not ") for d in duties)
    single = next(r for r in kb.routes if r.id == "us-individual-ind")
    assert any("Form FDA 3926" in f.text for f in single.forms)
    assert {c.id for c in single.all_citations()} >= {"cfr-312-310", "fda-3926-guidance", "cfr-56-105"}
    assert any("30-day" in t.text for t in single.time_frames)
    emergency = next(r for r in kb.routes if r.id == "us-emergency-individual")
    assert [t.text for t in emergency.time_frames] == [
        "The emergency use is reported to the IRB within 5 working days."
    ]
    assert emergency.note and "not confirmed" in emergency.note  # the unconfirmed 312.310(d) deadline is left out
    assert kb.type_routes["intermediate"] == ("us-intermediate",) and kb.type_routes["treatment"] == ("us-treatment",)


def test_knowledge_problems_name_what_is_wrong() -> None:
    from importlib import resources

    doc = yaml.safe_load(resources.files("mbcnav.knowledge").joinpath("compassionate.yaml").read_text("utf-8"))
    assert knowledge_problems(doc) == []
    bad = copy.deepcopy(doc)
    bad["routes"][0]["cite"] = ["no-such-source"]
    assert knowledge_problems(bad) == ["routes/us-individual-ind: unknown source 'no-such-source'"]
    bad = copy.deepcopy(doc)
    bad["routes"][0]["roles"]["sponsor"][0]["cite"] = []
    assert knowledge_problems(bad) == [
        "routes/us-individual-ind/roles/sponsor: 'May make the request itself, by amending' cites no source"
    ]
    bad = copy.deepcopy(doc)
    bad["routes"][0]["time_frames"][0]["cite"] = []
    assert any("time_frames" in p for p in knowledge_problems(bad))
    bad = copy.deepcopy(doc)
    bad["ea_types"]["compassionate"] = bad["ea_types"]["individual"]
    assert knowledge_problems(bad) and "compassionate" in knowledge_problems(bad)[0]


def test_needed_when_options_are_exhausted_even_with_a_recruiting_fit() -> None:
    _, cu = _run(CASE07, _pairs(), exhausted=True)
    assert cu.needed and cu.reason_codes == ("options_exhausted",)
    assert cu.recruiting_fits == 1  # NCT99000002 (recruiting, phase 3) still fits
    assert cu.reason.startswith("standard options appear exhausted")
    _, not_needed = _run(CASE07, _pairs(), exhausted=False)
    assert (not_needed.needed, not_needed.reason, not_needed.reason_codes) == (False, "", ())
    assert not_needed.drug_routes and not_needed.routes  # still listed, for reference


def test_needed_when_no_recruiting_study_fits() -> None:
    report, cu = _run(CASE07, _pairs(NCT99000002=HER2_POSITIVE_ONLY), exhausted=False)
    # NCT99000005 fits but its enrolment is closed (ACTIVE_NOT_RECRUITING): for the report that is a fit, not here.
    assert [(m.trial.nct_id, m.verdict) for m in report.matches] == [("NCT99000005", "eligible")]
    assert not report.highlight_expanded_access
    assert cu.needed and cu.reason_codes == ("no_recruiting_fit",) and cu.recruiting_fits == 0
    assert cu.reason == "no recruiting study among those searched is eligible or possibly eligible"


def test_expanded_access_records_with_their_types_and_availability() -> None:
    _, her2 = _run(CASE04, _pairs(), exhausted=True)
    assert [(r.nct_id, r.types, r.available, r.verdict) for r in her2.expanded_access] == [
        ("NCT99000001", ("individual", "intermediate"), True, "possibly_eligible")
    ]
    assert her2.expanded_access_ruled_out == 2  # NCT99000003 (PIK3CA-mutant HR+), NCT99000004 (HR+/HER2-negative)
    assert [r.id for r in her2.routes_for_types(her2.expanded_access[0].types)] == [
        "us-individual-ind",
        "us-emergency-individual",
        "us-intermediate",
    ]
    _, low = _run(CASE07, _pairs(), exhausted=True)
    assert [(r.nct_id, r.types, r.available, r.status) for r in low.expanded_access] == [
        ("NCT99000004", ("treatment",), False, "NO_LONGER_AVAILABLE")
    ]


def test_late_phase_drugs_whose_sponsor_offers_expanded_access() -> None:
    _, cu = _run(CASE07, _pairs(), exhausted=True)
    got = [
        (
            d.nct_id,
            d.drugs,
            d.expanded_access_nct,
            d.expanded_access_available,
            d.expanded_access_types,
            d.expanded_access_products,
        )
        for d in cu.drug_routes
    ]
    assert got == [
        (
            "NCT99000002",
            (("Synthetic HER2 ADC", False), ("Capecitabine", True)),
            "NCT99000001",
            True,
            ("individual", "intermediate"),
            ("Synthetic HER2 ADC",),
        ),
        (
            "NCT99000005",
            (("Synthetic CDK2 inhibitor", False), ("Fulvestrant", True)),
            "NCT99000004",
            False,
            ("treatment",),
            ("Synthetic CDK2 inhibitor",),
        ),
    ]
    # HER2-positive: the HR-positive, HER2-negative study (NCT06374459's wording) rules her out, so no CDK2 route.
    _, her2 = _run(CASE04, _pairs(), exhausted=True)
    assert [d.nct_id for d in her2.drug_routes] == ["NCT99000002"]


def test_drug_route_needs_a_late_phase_study_whose_record_says_expanded_access() -> None:
    by_id = {t.nct_id: t for t in _fixtures()}
    late = by_id["NCT99000005"]
    phase1 = dataclasses.replace(late, nct_id="NCT99000006", phases=("PHASE1",))
    no_ea = dataclasses.replace(late, nct_id="NCT99000007", has_expanded_access=False, expanded_access_nct=None)
    # The EA record is not among the studies given: the study's own statusForNctId is used, types stay unknown.
    alone = [(late, parse_criteria(late.eligibility_text))]
    for t in (phase1, no_ea):
        alone.append((t, parse_criteria(t.eligibility_text)))
    _, cu = _run(CASE07, alone, exhausted=True)
    assert [(d.nct_id, d.expanded_access_status, d.expanded_access_types) for d in cu.drug_routes] == [
        ("NCT99000005", "NO_LONGER_AVAILABLE", ())
    ]
    unknown = dataclasses.replace(late, expanded_access_nct=None, expanded_access_status=None)
    _, cu = _run(CASE07, [(unknown, parse_criteria(unknown.eligibility_text))], exhausted=True)
    assert cu.drug_routes[0].expanded_access_available is None  # not stated is unknown, never "available"


@pytest.mark.skipif(not SHARED_PAGE.exists(), reason="../shared not present")
def test_real_late_phase_breast_study_without_expanded_access_gives_no_drug_route() -> None:
    real = next(t for _, t in iter_records(SHARED_PAGE) if isinstance(t, Trial) and t.nct_id == "NCT04090567")
    assert real.phases == ("PHASE2",) and real.has_expanded_access is False  # the corpus has no expandedAccessInfo
    _, cu = _run(CASE07, [(real, [])], exhausted=True)
    assert cu.drug_routes == () and cu.expanded_access == ()


def test_json_shape_is_stable_and_names_no_patient() -> None:
    report, cu = _run(CASE07, _pairs(), exhausted=True)
    doc = cu.as_json()
    assert tuple(doc) == JSON_KEYS and doc["schema_version"] == "1.0"
    assert set(doc["expanded_access"][0]) == {
        "nct_id", "title", "url", "status", "available", "types", "verdict", "relevance", "interventions",
        "conditions", "countries", "last_update",
    }  # fmt: skip
    assert set(doc["drug_routes"][0]) == {
        "nct_id", "title", "url", "phases", "status", "verdict", "drugs", "expanded_access_nct",
        "expanded_access_url", "expanded_access_status", "expanded_access_available", "expanded_access_types",
        "expanded_access_products",
    }  # fmt: skip
    route = doc["routes"][0]
    assert set(route) == {
        "id",
        "jurisdiction",
        "name",
        "summary",
        "ea_types",
        "roles",
        "forms",
        "time_frames",
        "cite",
        "citations",
        "note",
    }
    assert set(route["roles"]) == set(ROLES) and route["citations"][0]["url"].startswith("https://")
    text = json.dumps(doc)
    assert json.loads(text) == doc
    assert report.patient_id and report.patient_id not in text and "patient" not in doc


def test_text_fits_100_columns_in_plain_words() -> None:
    _, cu = _run(CASE07, _pairs(), exhausted=True)
    con = Console(width=160, record=True, highlight=False, color_system=None)
    render_compassionate(cu, con)
    out = con.export_text()
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 100
    assert "Shown because standard options appear exhausted" in out
    assert "NCT99000004 no longer available" in out and "NCT99000001 available" in out
    assert "Form FDA 3926" in out and "within 5 working days" in out and "Sources" in out
    _, quiet = _run(CASE07, _pairs(), exhausted=False)
    con = Console(width=80, record=True, highlight=False, color_system=None)
    render_compassionate(quiet, con)
    narrow = con.export_text()
    assert "Not needed now: 1 recruiting study may fit" in narrow
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 80
