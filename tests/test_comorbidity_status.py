"""A comorbidity's clinical status (FHIR Condition.clinicalStatus): a resolved condition is kept as history — "history
of" it holds, "active" it does not — instead of being dropped, from a case file and from an EHR's Condition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mbcnav.assess import assess
from mbcnav.assess.assessment import assessment_json
from mbcnav.assess.facts import build_facts
from mbcnav.record import read_path

from .trials_corpus import AS_OF, exc, one, patient_view

FRESH10 = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_fresh10" / "patients"
BASE = FRESH10 / "s04-esr1-pik3ca-after-capivasertib-on-capecitabine-alt-raised.yaml"


def with_comorbidity(tmp_path: Path, entry: dict[str, Any]) -> Path:
    case = yaml.safe_load(BASE.read_text())
    case["comorbidities"] = [*(case.get("comorbidities") or []), entry]
    out = tmp_path / "case.yaml"
    out.write_text(yaml.safe_dump(case, sort_keys=False))
    return out


RESOLVED_HBV = {
    "condition": "hepatitis_b",
    "date": "2019-05-02",
    "status": "resolved",
    "text": "past hepatitis B: HBsAg negative, anti-HBc positive, HBV DNA not detected",
}


def test_a_resolved_condition_is_history_not_an_active_one(tmp_path: Path) -> None:
    p = patient_view(with_comorbidity(tmp_path, RESOLVED_HBV))
    assert p.record is not None
    (hbv,) = [c for c in p.record.comorbidities if c.name == "hepatitis_b"]
    assert hbv.status == "resolved"
    # corpus wordings (qualifiers of screening.yaml): active / history / bare
    assert one(exc("Active hepatitis B infection or active hepatitis C infection."), p).verdict == "unknown"  # HCV
    assert one(exc("Active hepatitis B infection."), p).verdict == "not_met"
    assert one(exc("History of hepatitis B infection."), p).verdict == "met"
    r = one(exc("Hepatitis B infection."), p)  # may mean the current infection only
    assert r.verdict == "unknown" and "past hepatitis b" in r.evidence[0]
    # a current one answers the bare wording; whether it is "active" as a protocol means it stays the screening's
    active = patient_view(with_comorbidity(tmp_path, {**RESOLVED_HBV, "status": "active"}))
    assert one(exc("Hepatitis B infection."), active).verdict == "met"
    assert one(exc("Active hepatitis B infection."), active).verdict == "unknown"


def test_a_resolved_ild_still_counts_as_ild_history(tmp_path: Path) -> None:
    ild = {"condition": "interstitial_lung_disease", "date": "2024-03-01", "status": "resolved", "text": "pneumonitis"}
    a = assess(read_path(with_comorbidity(tmp_path, ild), today=AS_OF), as_of=AS_OF)
    facts, _ = build_facts(a)
    assert facts["ild_history"] is True
    (row,) = [c for c in assessment_json(a)["comorbidities"] if c["condition"] == "interstitial_lung_disease"]
    assert row["status"] == "resolved"
    # a resolved (peripartum) heart failure is not a current one; an active one is
    hf = {"condition": "heart_failure", "date": "2020-01-01", "status": "resolved", "text": "peripartum, recovered"}
    facts, _ = build_facts(assess(read_path(with_comorbidity(tmp_path, hf), today=AS_OF), as_of=AS_OF))
    assert facts["heart_failure"] is None  # s04's LVEF is normal
    facts, _ = build_facts(
        assess(read_path(with_comorbidity(tmp_path, {**hf, "status": "active"}), today=AS_OF), as_of=AS_OF)
    )
    assert facts["heart_failure"] is True


def test_an_ehr_condition_marked_resolved_is_kept_as_resolved(tmp_path: Path) -> None:
    bundle_path = Path(__file__).resolve().parents[1] / "examples" / "fhir" / "02-recurrence-on-adjuvant-ai.json"
    bundle = json.loads(bundle_path.read_text())
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    condition = {
        "resourceType": "Condition",
        "id": "hbv-past",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]
        },
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "66071002", "display": "Viral hepatitis type B"}],
            "text": "Hepatitis B, resolved",
        },
        "subject": {"reference": f"Patient/{patient['id']}"},
    }
    bundle["entry"].append({"fullUrl": "urn:uuid:hbv-past", "resource": condition})
    out = tmp_path / "b.json"
    out.write_text(json.dumps(bundle))
    rec = read_path(out, today=AS_OF)
    rows = [c for c in rec.comorbidities if c.name == "hepatitis_b"]
    assert [c.status for c in rows] == ["resolved"]
