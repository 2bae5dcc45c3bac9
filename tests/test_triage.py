"""Triage of symptom reports (monitoring/triage.py, knowledge/triage.yaml) against the cited test set."""

from __future__ import annotations

import time
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from mbcnav.knowledge.kb import knowledge_base, triage_kb
from mbcnav.monitoring.questionnaire import ANSWER_CS, YESNO_CS, read_response
from mbcnav.monitoring.triage import triage, triage_json
from mbcnav.outcome import read_patient
from mbcnav.pathway import Evaluation, evaluate

ROOT = Path(__file__).resolve().parents[1]
SET = yaml.safe_load((ROOT / "tests/data/triage/cases.yaml").read_text())
AS_OF = date.fromisoformat(SET["as_of"])
CASES = SET["cases"]
RANK = {"routine": 0, "same_day": 1, "emergency": 2}


@cache
def patient(key: str) -> Evaluation:
    return evaluate(read_patient(ROOT / SET["patients"][key], strict=True), as_of=AS_OF)


def answers_of(case: dict[str, Any]) -> dict[str, Any]:
    """The case's answers; complete cases answer every other question none/no (temperature stays empty)."""
    out = dict(case.get("answers") or {})
    if case.get("complete", True):
        for q in triage_kb().questions:
            if q.link_id not in out and q.type != "temperature":
                out[q.link_id] = "no" if q.type == "yesno" else "none"
    for omit in case.get("omit", []):
        out.pop(omit, None)
    return out


def answer(value: Any, style: int) -> dict[str, Any]:
    if isinstance(value, float | int):
        return (
            {"valueQuantity": {"value": value, "unit": "°C", "system": "http://unitsofmeasure.org", "code": "Cel"}}
            if style
            else {"valueDecimal": value}
        )
    if value in ("yes", "no"):
        if style == 1:
            return {"valueBoolean": value == "yes"}
        return {"valueCoding": {"system": YESNO_CS, "code": "Y" if value == "yes" else "N"}}
    if style == 1 and value != "none":
        codes = {"mild": "255604002", "moderate": "6736007", "severe": "24484000"}
        return {"valueCoding": {"system": "http://snomed.info/sct", "code": codes[value]}}
    return {"valueCoding": {"system": ANSWER_CS, "code": value}}


def response(answers: dict[str, Any], style: int = 0) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": "2026-12-01T09:00:00Z",
        "item": [{"linkId": k, "answer": [answer(v, style)]} for k, v in answers.items()],
    }


def by_code_response(answers: dict[str, Any]) -> dict[str, Any]:
    """Another system's response: its own linkIds, coded through a contained Questionnaire (SNOMED / LOINC / ours)."""
    tri = triage_kb()
    contained_items, items = [], []
    for i, (k, v) in enumerate(answers.items()):
        q = tri.question(k)
        assert q is not None
        if q.snomed:
            code = {"system": "http://snomed.info/sct", "code": q.snomed}
        elif q.loinc:
            code = {"system": "http://loinc.org", "code": q.loinc}
        else:
            code = {"system": "https://mbcnav.org/fhir/CodeSystem/symptom-item", "code": q.link_id}
        contained_items.append({"linkId": f"q{i}", "type": "choice", "code": [code]})
        items.append({"linkId": f"q{i}", "answer": [answer(v, 0)]})
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "contained": [{"resourceType": "Questionnaire", "id": "theirs", "status": "active", "item": contained_items}],
        "questionnaire": "#theirs",
        "item": items,
    }


def test_the_set_is_large_and_cited() -> None:
    evidence = knowledge_base()
    known = set(evidence.trials) | set(evidence.guidelines)
    assert len(CASES) >= 60
    levels = {c["expected"] for c in CASES}
    assert levels == {"emergency", "same_day", "routine"}
    assert len({c["id"] for c in CASES}) == len(CASES)
    for c in CASES:
        assert c["cite"], c["id"]
        assert set(c["cite"]) <= known, c["id"]
        for k in answers_of(c):
            assert triage_kb().question(k) is not None, (c["id"], k)
    assert len({c["patient"] for c in CASES}) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_level(case: dict[str, Any]) -> None:
    ev = patient(case["patient"])
    report = read_response(response(answers_of(case)))
    result = triage(report, ev)
    assert result.level == case["expected"], (case["id"], result.reasons)
    if case["expected"] == "emergency":
        assert result.level != "routine"
    if case["expected"] != "routine":
        cited = {s for f in result.fired for s in f.sources}
        if result.escalated:
            cited.add(triage_kb().escalation.source)
        assert cited & set(case["cite"]), (case["id"], cited)


def test_no_emergency_report_is_ever_routine() -> None:
    emergencies = [c for c in CASES if c["expected"] == "emergency"]
    assert len(emergencies) >= 20
    for c in emergencies:
        level = triage(read_response(response(answers_of(c))), patient(c["patient"])).level
        assert level != "routine", c["id"]


def test_removing_a_red_flag_answer_never_makes_an_emergency_routine() -> None:
    """An unknown answer to a red-flag question is never read as 'no'."""
    red = {q.link_id for q in triage_kb().questions if q.red_flag}
    for c in CASES:
        if c["expected"] != "emergency":
            continue
        full = answers_of(c)
        for k in sorted(red & set(full)):
            partial = {x: v for x, v in full.items() if x != k}
            level = triage(read_response(response(partial)), patient(c["patient"])).level
            assert RANK[level] >= RANK["same_day"], (c["id"], k)


@pytest.mark.parametrize("style", [1])
def test_other_answer_forms_give_the_same_levels(style: int) -> None:
    """valueBoolean, SNOMED severity qualifiers and valueQuantity °C are read like our own codes."""
    for c in CASES:
        got = triage(read_response(response(answers_of(c), style)), patient(c["patient"])).level
        assert got == c["expected"], c["id"]


def test_responses_coded_by_another_system_are_read_by_code() -> None:
    for c in CASES[::3]:
        got = triage(read_response(by_code_response(answers_of(c))), patient(c["patient"])).level
        assert got == c["expected"], c["id"]


def test_triage_json_contract() -> None:
    c = next(x for x in CASES if x["id"] == "e01")
    doc = triage_json(read_response(response(answers_of(c))), patient(c["patient"]))
    assert list(doc)[:4] == ["level", "reasons", "advice", "rules"]
    assert doc["level"] == "emergency"
    assert doc["reasons"] and all(isinstance(r, str) for r in doc["reasons"])
    assert "24-hour" in doc["advice"]
    assert doc["rules"][0]["id"] == "mscc-neurology"
    assert doc["rules"][0]["sources"] == ["nice_cg75_mscc", "nice_ng234_mscc"]


def test_escalation_is_said_and_counts_symptoms_not_rules() -> None:
    ev = patient("ribociclib_bone")
    two = triage(
        read_response(response(answers_of({"answers": {"back-pain": "moderate", "bone-pain": "moderate"}}))), ev
    )
    assert two.escalated and two.level == "emergency"
    assert "multiple amber" in two.reasons[0]
    one = triage(
        read_response(response(answers_of({"answers": {"back-pain": "moderate", "back-pain-new": "yes"}}))), ev
    )
    assert not one.escalated and one.level == "same_day"
    assert len([f for f in one.fired if f.level == "same_day"]) >= 2  # two rules, one symptom


def test_unanswered_red_flags_are_listed() -> None:
    result = triage(read_response(response({"cough": "none"})), patient("hp_maintenance"))
    assert result.level == "same_day"
    assert "limb-weakness" in result.unanswered_red_flags
    assert any("Not answered" in r for r in result.reasons)


def test_the_whole_set_runs_fast() -> None:
    for key in SET["patients"]:
        patient(key)
    start = time.perf_counter()
    for c in CASES:
        triage(read_response(response(answers_of(c))), patient(c["patient"]))
    assert time.perf_counter() - start < 5.0


def test_docs_list_every_rule_question_and_plan_item() -> None:
    from mbcnav.knowledge.kb import monitoring_kb

    doc = (ROOT / "docs/monitoring.md").read_text()
    for rule in triage_kb().rules:
        assert f"| `{rule.id}` | {rule.level} |" in doc, rule.id
    for q in triage_kb().questions:
        assert f"| `{q.link_id}` |" in doc, q.link_id
    for item in monitoring_kb().items:
        assert f"| `{item.id}` —" in doc, item.id
