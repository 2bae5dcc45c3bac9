"""The follow-up plan (monitoring/plan.py, knowledge/monitoring.yaml): cited intervals, due dates, overdue, CarePlan."""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.careplan import CarePlan

from mbcnav.commands.monitoring import add_parsers, run_plan, run_triage
from mbcnav.dates import PartialDate
from mbcnav.knowledge.kb import knowledge_base, monitoring_kb
from mbcnav.monitoring.durations import Duration, add
from mbcnav.monitoring.plan import plan_fhir, plan_json
from mbcnav.outcome import read_patient
from mbcnav.pathway import Evaluation, evaluate
from mbcnav.record.model import LabResult, Source

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 12, 1)
EXAMPLES = sorted((ROOT / "examples/fhir").glob("*.json")) + sorted((ROOT / "examples/cases").glob("[0-9]*.yaml"))


def ev(name: str, as_of: date = AS_OF, **replace: Any) -> Evaluation:
    record = read_patient(ROOT / "examples/fhir" / name)
    if replace:
        record = dataclasses.replace(record, **replace)
    return evaluate(record, as_of=as_of)


def act(doc: dict[str, Any], activity_id: str) -> dict[str, Any]:
    return next(a for a in doc["activities"] if a["id"] == activity_id)


def lab(analyte: str, when: str, value: float = 60.0, unit: str = "%") -> LabResult:
    return LabResult(
        analyte,
        None,
        value,
        unit,
        PartialDate.parse(when),
        None,
        Source(f"Observation/{analyte}-{when}", "t"),
        value,
        unit,
    )


def test_durations() -> None:
    assert add(date(2026, 1, 31), "P1M") == date(2026, 2, 28)
    assert add(date(2024, 2, 19), "P14D") == date(2024, 3, 4)
    assert add(date(2022, 5, 9), "P12W") == date(2022, 8, 1)
    assert Duration.parse("P2W").days == 14
    assert Duration.parse("P3M").text() == "3 months"
    with pytest.raises(ValueError):
        Duration.parse("3 months")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_gets_a_valid_cited_plan(path: Path) -> None:
    e = evaluate(read_patient(path), as_of=AS_OF)
    doc = plan_json(e)
    assert doc["schema_version"] == "1.0" and doc["as_of"] == "2026-12-01"
    assert list(doc)[:6] == ["schema_version", "patient", "as_of", "regimen", "activities", "overdue"]
    known = set(knowledge_base().trials) | set(knowledge_base().guidelines)
    for a in doc["activities"]:
        assert a["kind"] in ("imaging", "lab", "cardiac", "review", "vigilance")
        assert a["source"] in known and set(a["sources"]) <= known and a["source"] in doc["evidence"]
        assert a["interval"]["text"] and a["why"]
        if a["due"] and a["overdue"] is not None and a["id"] not in ("dental",):
            assert a["interval"]["iso8601"] or a["items"], a["id"]
        if not a["evidence_read"]:
            assert a["overdue"] is None  # never assumed done, never assumed missing
    care_plan = plan_fhir(e)
    CarePlan.model_validate(care_plan)
    assert care_plan["status"] == "active" and care_plan["intent"] == "plan"
    assert len(care_plan["activity"]) == len(doc["activities"])
    for activity in care_plan["activity"]:
        detail = activity["detail"]
        assert detail["extension"][0]["url"].endswith("/monitoring-citation")
        assert sum(k in detail for k in ("scheduledTiming", "scheduledPeriod", "scheduledString")) == 1


def test_palbociclib_cbc_due_by_hand() -> None:
    doc = plan_json(ev("03-recurrence-after-adjuvant-ended.json"))
    cbc = act(doc, "cbc")
    # palbociclib from 2024-02-19; no count since: day 15 of cycle 1 = 2024-03-04 was missed
    assert (cbc["due"], cbc["overdue"], cbc["last_done"]) == ("2024-03-04", True, None)
    assert cbc["source"] == "fda_label_palbociclib" and cbc["interval"]["iso8601"] == "P14D"
    assert "cbc" in doc["overdue"]


def test_restaging_window_from_the_last_scan_by_hand() -> None:
    doc = plan_json(ev("02-recurrence-on-adjuvant-ai.json"))
    img = act(doc, "restaging")
    assert (img["last_done"], img["due_from"], img["due"], img["overdue"]) == (
        "2026-10-06",
        "2026-12-06",
        "2027-02-06",
        False,
    )
    assert img["interval"] == {"text": img["interval"]["text"], "iso8601": "P4M", "earliest_iso8601": "P2M"}
    later = plan_json(ev("02-recurrence-on-adjuvant-ai.json", as_of=date(2027, 2, 7)))
    assert act(later, "restaging")["overdue"] is True


def test_zoledronic_acid_renal_and_tdxd_counts_by_hand() -> None:
    renal = act(plan_json(ev("02-recurrence-on-adjuvant-ai.json")), "renal")
    assert (renal["due"], renal["interval"]["iso8601"], renal["overdue"]) == ("2024-06-17", "P12W", True)
    assert renal["sources"] == ["fda_label_zoledronic_acid", "asco_bma_2017"]
    cbc = act(plan_json(ev("04-her2-positive-brain.json")), "cbc")
    assert (cbc["due"], cbc["source"], cbc["interval"]["iso8601"]) == (
        "2023-11-27",
        "fda_label_trastuzumab_deruxtecan",
        "P21D",
    )
    lvef = act(plan_json(ev("04-her2-positive-brain.json")), "lvef")
    assert (lvef["due"], lvef["overdue"]) == (None, None)  # T-DXd label: no fixed interval


def test_lvef_on_trastuzumab_pertuzumab_merges_labels_and_reads_the_record() -> None:
    doc = plan_json(ev("12-no-evidence-of-disease.json"))
    lvef = act(doc, "lvef")
    assert (lvef["due"], lvef["source"], lvef["overdue"]) == ("2022-08-01", "fda_label_pertuzumab", True)
    assert set(lvef["sources"]) >= {"fda_label_pertuzumab", "fda_label_trastuzumab"}
    assert set(lvef["drugs"]) == {"pertuzumab", "trastuzumab"}
    # an echo on 2026-10-01: the next is 12 weeks later (pertuzumab), not yet overdue
    e = ev("12-no-evidence-of-disease.json", labs=(lab("lvef", "2026-10-01"),))
    lvef = act(plan_json(e), "lvef")
    assert (lvef["last_done"], lvef["due"], lvef["overdue"]) == ("2026-10-01", "2026-12-24", False)
    late = ev("12-no-evidence-of-disease.json", as_of=date(2027, 1, 10), labs=(lab("lvef", "2026-10-01"),))
    assert act(plan_json(late), "lvef")["overdue"] is True


def test_unknown_dates_stay_unknown() -> None:
    # an echo known only to the month: due between 2026-12-24 and 2027-01-23; on 2027-01-05 overdue is unknown
    e = ev("12-no-evidence-of-disease.json", as_of=date(2027, 1, 5), labs=(lab("lvef", "2026-10"),))
    lvef = act(plan_json(e), "lvef")
    assert (lvef["due"], lvef["due_latest"], lvef["overdue"]) == ("2026-12-24", "2027-01-23", None)
    # a line started in 2023 (year only): first count due 2023-01-15 at the earliest, 2024-01-14 at the latest
    doc = plan_json(evaluate(read_patient(ROOT / "examples/fhir/14-partial-dates-oligometastatic.json"), as_of=AS_OF))
    cbc = act(doc, "cbc")
    assert (cbc["due"], cbc["due_latest"], cbc["overdue"]) == ("2023-01-15", "2024-01-14", True)
    early = plan_json(
        evaluate(read_patient(ROOT / "examples/fhir/14-partial-dates-oligometastatic.json"), as_of=date(2023, 6, 1))
    )
    assert act(early, "cbc")["overdue"] is None


def test_tests_that_mbcnav_cannot_read_are_never_assumed_done() -> None:
    doc = plan_json(ev("01-de-novo-hr-pos-bone-only.json"))
    ecg = act(doc, "ecg")
    assert (ecg["due"], ecg["overdue"], ecg["evidence_read"]) == ("2025-04-03", None, False)
    assert any("ECG" in u for u in doc["unknowns"])


def test_a_test_before_the_line_started_is_not_counted() -> None:
    e = ev("12-no-evidence-of-disease.json", labs=(lab("lvef", "2022-04-20"),))
    lvef = act(plan_json(e), "lvef")
    assert lvef["last_done"] == "2022-04-20" and lvef["due"] == "2022-08-01" and lvef["overdue"] is True
    assert any("before this treatment started" in w for w in lvef["why"])


def test_abemaciclib_phases_then_as_clinically_indicated() -> None:
    def cbc(*dates: str) -> dict[str, Any]:
        labs = tuple(lab("neutrophils", d, 2.0, "10*9/L") for d in dates)
        return act(plan_json(ev("02-recurrence-on-adjuvant-ai.json", as_of=date(2024, 8, 10), labs=labs)), "cbc")

    # abemaciclib from 2024-03-11: every 2 weeks to 2024-05-11, monthly to 2024-07-11, then as clinically indicated
    assert cbc("2024-04-20")["due"] == "2024-05-04"
    assert cbc("2024-04-20", "2024-06-01")["due"] == "2024-07-01"
    done = cbc("2024-04-20", "2024-06-01", "2024-07-05")
    assert (done["due"], done["overdue"]) == (None, False)


def test_between_lines_and_supportive_items() -> None:
    doc = plan_json(ev("07-her2-low-after-cdk46.json"))
    assert doc["regimen"]["line"] is None and [d["name"] for d in doc["regimen"]["drugs"]] == ["denosumab"]
    img = act(doc, "restaging")
    assert img["items"] == ["baseline-imaging-next-line"] and img["due"] is None
    assert "4 weeks" in img["interval"]["text"]
    assert act(doc, "dental")["source"] == "fda_label_denosumab"


def test_monitoring_kb_items_cite_and_name_known_drugs() -> None:
    from mbcnav.knowledge.drugs import catalogue
    from mbcnav.record.labs import lab_table
    from mbcnav.terminology.sites import site_table

    analytes = set(lab_table().analytes)
    for item in monitoring_kb().items:
        for d in item.applies.drugs:
            assert d in catalogue().drugs
        assert set(item.evidence.analytes) <= analytes, item.id
    # the triage rules' sites are sites of the vocabulary (the knowledge lint cannot see terminology)
    from mbcnav.knowledge.kb import triage_kb

    def sites(cond: dict[str, Any]) -> list[str]:
        for key in ("all", "any"):
            if key in cond:
                return [s for c in cond[key] for s in sites(c)]
        if "not" in cond:
            return sites(cond["not"])
        if "site" in cond:
            return cond["site"] if isinstance(cond["site"], list) else [cond["site"]]
        return []

    vocabulary = set(site_table().vocabulary)
    for rule in triage_kb().rules:
        assert set(sites(rule.when)) <= vocabulary, rule.id


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_parsers(p.add_subparsers(dest="command"))
    return p


def test_cli_plan_formats(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "examples/cases/02-recurrence-on-adjuvant-ai.yaml")
    assert run_plan(_parser().parse_args(["plan", path, "--as-of", "2026-12-01", "--format", "json"])) == 0
    doc = json.loads(capsys.readouterr().out)
    assert act(doc, "restaging")["due"] == "2027-02-06"
    assert run_plan(_parser().parse_args(["plan", path, "--as-of", "2026-12-01", "--format", "fhir"])) == 0
    CarePlan.model_validate(json.loads(capsys.readouterr().out))
    assert run_plan(_parser().parse_args(["plan", path, "--as-of", "2026-12-01"])) == 0
    out = capsys.readouterr().out
    assert "Follow-up plan" in out and "[lab]" in out and "esmo_mbc_2021" in out


def test_cli_unusable_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run_plan(_parser().parse_args(["plan", str(tmp_path / "missing.json"), "--format", "json"])) == 2
    assert json.loads(capsys.readouterr().out)["resourceType"] == "OperationOutcome"
    bad = tmp_path / "r.json"
    bad.write_text(
        json.dumps({"resourceType": "QuestionnaireResponse", "status": "completed", "item": [{"answer": []}]})
    )
    patient = str(ROOT / "examples/fhir/04-her2-positive-brain.json")
    args = _parser().parse_args(["triage", str(bad), "--patient", patient, "--format", "json"])
    assert run_triage(args) == 2
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["resourceType"] == "OperationOutcome"
    assert any("missing linkId" in i["diagnostics"] for i in outcome["issue"])
    bad.write_text("{not json")
    assert run_triage(_parser().parse_args(["triage", str(bad), "--patient", patient])) == 2
    assert "not JSON" in capsys.readouterr().err


def test_cli_triage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    resp = tmp_path / "r.json"
    resp.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "QuestionnaireResponse",
                            "status": "completed",
                            "item": [{"linkId": "temperature", "answer": [{"valueDecimal": 38.6}]}],
                        }
                    }
                ],
            }
        )
    )
    patient = str(ROOT / "examples/fhir/04-her2-positive-brain.json")
    args = _parser().parse_args(
        ["triage", str(resp), "--patient", patient, "--as-of", "2026-12-01", "--format", "json"]
    )
    assert run_triage(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["level"] == "emergency" and doc["rules"][0]["id"] == "fever-myelosuppressive"
    assert run_triage(_parser().parse_args(["triage", str(resp), "--patient", patient])) == 0
    assert "Call now" in capsys.readouterr().out
