"""Visceral crisis from the record: ESO-ESMO ABC5 (Cardoso 2020) examples, evaluated from assess/visceral.yaml."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from mbcnav.assess import assess
from mbcnav.record.fhir import record_from_resources
from mbcnav.record.model import Record
from mbcnav.record.reader import flatten

from .conftest import PRIMARY_BREAST_CANCER, TODAY

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1962-04-01"}
PRIMARY = PRIMARY_BREAST_CANCER
SECONDARY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-secondary-cancer-condition"


def secondary(site: str, code: str) -> dict[str, Any]:
    """An mCODE secondary-cancer Condition for a metastatic site (SNOMED CT disorder code)."""
    return {
        "resourceType": "Condition",
        "id": site,
        "meta": {"profile": [SECONDARY]},
        "code": {"coding": [{"system": SCT, "code": code, "display": f"Secondary malignant neoplasm of {site}"}]},
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2026-05-10",
    }


LIVER = secondary("liver", "94381002")
LUNG = secondary("lung", "94391008")
BONE = secondary("bone", "94222008")


def bili(rid: str, value: float, when: str, *, unit: str = "mg/dL", high: float | None = 1.2) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "1975-2"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }
    if high is not None:
        res["referenceRange"] = [
            {"low": {"value": 0.1, "unit": unit}, "high": {"value": high, "unit": unit}, "text": "0.1-1.2"}
        ]
    return res


def condition(rid: str, code: dict[str, Any], when: str = "2026-11-01") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "code": code,
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": when,
    }


def read(*resources: dict[str, Any]) -> Record:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    return record_from_resources(flatten(copy.deepcopy(bundle), "t.json:"), today=TODAY)


def crisis(*resources: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = assess(read(PATIENT, PRIMARY, *resources), as_of=TODAY).to_json()["visceral_crisis"]
    return out


def test_rising_bilirubin_over_1_5_uln_with_liver_metastases_is_suspected() -> None:
    v = crisis(LIVER, bili("b1", 1.9, "2026-10-20"), bili("b2", 4.1, "2026-11-20"))
    assert v["status"] == "suspected"
    assert v["evidence"] == [
        "total bilirubin 4.1 mg/dL = 3.42 × ULN (2026-11-20, rising) — Observation/b2",
        "liver metastases — Condition/liver",
    ]
    assert v["source"] == "ESO-ESMO ABC5 (Cardoso 2020)" and "confirm" in v["confirm"]


def test_bilirubin_in_umol_per_litre_with_its_range() -> None:
    v = crisis(LIVER, bili("b1", 70, "2026-11-20", unit="umol/L", high=21))
    assert v["status"] == "suspected" and "3.33 × ULN" in v["evidence"][0]


def test_at_or_below_1_5_uln_is_not_suspected() -> None:
    v = crisis(LIVER, bili("b1", 1.8, "2026-11-20"))
    assert v["status"] == "not_suspected" and v["confirm"] is None


def test_gilberts_syndrome_explains_the_bilirubin() -> None:
    gilbert = condition(
        "gil",
        {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E80.4"}], "text": "Gilbert syndrome"},
        "2001-01-01",
    )
    v = crisis(LIVER, bili("b1", 4.1, "2026-11-20"), gilbert)
    assert v["status"] == "not_suspected"
    assert any("Gilbert's syndrome — Condition/gil" in e and "does not suggest" in e for e in v["evidence"])


def test_biliary_obstruction_by_words() -> None:
    obstruction = condition("cbd", {"text": "Malignant biliary obstruction (stented)"})
    v = crisis(LIVER, bili("b1", 4.1, "2026-11-20"), obstruction)
    assert v["status"] == "not_suspected" and any("biliary tract obstruction" in e for e in v["evidence"])


def test_negated_gilbert_does_not_exclude() -> None:
    v = crisis(LIVER, bili("b1", 4.1, "2026-11-20"), condition("g", {"text": "No Gilbert's syndrome"}))
    assert v["status"] == "suspected"


def test_no_reference_range_uses_the_cited_default_uln_marked_assumed() -> None:
    v = crisis(LIVER, bili("b1", 4.1, "2026-11-20", high=None))
    assert v["status"] == "suspected" and "3.34 × ULN" in v["evidence"][0]
    assert "assumed: no reference range in the record" in v["evidence"][0]


def test_si_bilirubin_without_ranges_rising_is_suspected() -> None:
    """Bilirubin as LOINC 14631-6 in umol/L with no referenceRange (as vignette 83): against the cited 21 umol/L."""
    rows = [
        bili(f"b{i}", v, d, unit="umol/L", high=None)
        for i, (v, d) in enumerate([(38, "2026-11-05"), (54, "2026-11-16"), (71, "2026-11-24")])
    ]
    for r in rows:
        r["code"] = {"coding": [{"system": LOINC, "code": "14631-6"}]}
    v = crisis(LIVER, *rows)
    assert v["status"] == "suspected" and "3.38 × ULN" in v["evidence"][0] and "rising" in v["evidence"][0]


def test_normal_labs_without_ranges_are_not_suspected() -> None:
    """Normal values sent without ranges (as vignette 74) reassure against the cited defaults: not 'unknown'."""
    v = crisis(LIVER, bili("b1", 0.5, "2026-11-16", high=None))
    assert v["status"] == "not_suspected" and "0.41 × ULN" in v["evidence"][0] and v["confirm"] is None


def test_no_or_stale_labs_are_unknown() -> None:
    assert crisis(LIVER)["status"] == "unknown"
    stale = crisis(LIVER, bili("b1", 0.8, "2026-06-01"))
    assert stale["status"] == "unknown" and "older than 30 days" in stale["evidence"][1]


def test_clinician_judgement_always_wins() -> None:
    judgement = {
        "resourceType": "Observation",
        "id": "vc",
        "status": "final",
        "code": {"coding": [{"system": "https://mbcnav.org/fhir/CodeSystem/observation", "code": "visceral-crisis"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-21",
        "valueBoolean": False,
    }
    v = crisis(LIVER, bili("b1", 4.1, "2026-11-20"), judgement)
    assert v["status"] == "absent" and v["evidence"][0].endswith("Observation/vc")


def judged(present: bool, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "vc",
        "status": "final",
        "code": {"coding": [{"system": "https://mbcnav.org/fhir/CodeSystem/observation", "code": "visceral-crisis"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueBoolean": present,
    }


def test_an_old_recorded_crisis_stands_but_shows_its_age_and_what_came_after() -> None:
    # fresh6 o01: a crisis recorded in July was shown as current in November with bilirubin back to normal. The
    # judgement stands (only a clinician withdraws it; endocrine monotherapy stays off) but asks to be re-assessed.
    old = crisis(LIVER, bili("b1", 0.6, "2026-11-20"), judged(True, "2026-07-16"))
    assert old["status"] == "present"
    assert f"recorded {(TODAY - date(2026, 7, 16)).days} days before {TODAY}" in old["evidence"]
    assert any(e.startswith("since then: total bilirubin 0.6 mg/dL = 0.5 × ULN") for e in old["evidence"])
    assert old["confirm"] is not None and "re-assess" in old["confirm"]
    recent = crisis(LIVER, bili("b1", 4.1, "2026-11-20"), judged(True, "2026-11-21"))
    assert recent["status"] == "present" and len(recent["evidence"]) == 1 and recent["confirm"] is None
    absent = crisis(LIVER, bili("b1", 0.6, "2026-11-20"), judged(False, "2026-01-02"))
    assert absent["status"] == "absent" and absent["confirm"] is None


def test_an_old_absent_gives_way_to_a_suspicion_from_fresh_values() -> None:
    # "absent" recorded in January, bilirubin 3.4 x ULN with liver metastases now: the old judgement must not keep
    # endocrine monotherapy on the table
    v = crisis(LIVER, bili("b1", 4.1, "2026-11-20"), judged(False, "2026-01-02"))
    assert v["status"] == "suspected" and v["evidence"][0].startswith("recorded by a clinician: absent (2026-01-02)")
    assert any("3.42 × ULN" in e for e in v["evidence"]) and v["confirm"] is not None
    fresh = crisis(LIVER, bili("b1", 4.1, "2026-11-20"), judged(False, "2026-11-21"))  # a current judgement wins
    assert fresh["status"] == "absent"


def test_without_visceral_metastases_not_applicable() -> None:
    v = crisis(BONE, bili("b1", 4.1, "2026-11-20"))
    assert v["status"] == "not_applicable"


def test_lymphangitic_lung_spread_with_dyspnoea_at_rest() -> None:
    lung = LUNG | {"note": [{"text": "lymphangitic carcinomatosis both lower lobes"}], "onsetDateTime": "2026-11-01"}
    lymph = condition("lc", {"text": "Lymphangitic carcinomatosis of lung"}, "2026-11-01")
    dyspnoea = condition("dy", {"text": "Dyspnea at rest"})
    labs = bili("b1", 0.6, "2026-11-20")
    v = crisis(lung, lymph, dyspnoea, labs)
    assert v["status"] == "suspected"
    assert "dyspnoea at rest (2026-11-01) — Condition/dy" in v["evidence"]
    without = crisis(lung, lymph, labs)
    assert without["status"] == "unknown" and "dyspnoea at rest not recorded either way" in without["evidence"]


def test_lymphangitic_spread_in_the_metastasis_description() -> None:
    lung = {
        "resourceType": "Condition",
        "id": "lung",
        "meta": {"profile": [SECONDARY]},
        "code": {"text": "Lymphangitic carcinomatosis of lung"},
        "bodySite": [{"text": "Lung"}],
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2026-11-01",
    }
    v = crisis(lung, condition("dy", {"text": "Breathless at rest"}), bili("b1", 0.6, "2026-11-20"))
    assert v["status"] == "suspected", v


def test_no_fresh_labs_names_only_the_visceral_sites() -> None:
    # fresh5 writer: the message read "visceral metastases (bone, distant_lymph_node, lung)".
    v = crisis(BONE, LUNG)
    assert v["status"] == "unknown"
    assert "visceral metastases (lung) but no laboratory values from the last 30 days" in v["evidence"], v


def count(rid: str, loinc: str, value: float, unit: str, low: float, when: str = "2026-11-20") -> dict[str, Any]:
    """A blood count Observation with the laboratory's own range."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        "referenceRange": [{"low": {"value": low, "unit": unit}}],
    }


def test_bone_marrow_infiltration_with_a_cytopenia_raises_the_suspicion() -> None:
    # fresh13 v09: trephine-proven marrow infiltration, Hb 8.5 g/dL and platelets 70: "not suspected" before (only
    # bilirubin and lymphangitic spread were read), which let endocrine monotherapy stand. Bone-only disease too.
    marrow = condition("bm", {"text": "Bone marrow infiltration by metastatic breast carcinoma"})
    hb = count("hb", "718-7", 8.5, "g/dL", 12.0)
    plt = count("plt", "777-3", 70, "10*9/L", 150)
    v = crisis(BONE, marrow, hb, plt)
    assert v["status"] == "suspected" and any("bone-marrow infiltration" in e for e in v["evidence"])
    assert v["confirm"]  # a suspicion for a clinician to confirm, never a diagnosis
    # counts in range: not suspected; no count in the last 30 days: unknown
    assert crisis(BONE, marrow, count("hb", "718-7", 13.0, "g/dL", 12.0))["status"] == "not_suspected"
    assert crisis(BONE, marrow, count("hb", "718-7", 8.5, "g/dL", 12.0, when="2026-08-01"))["status"] == "unknown"
    # marrow infiltration negated, or not stated: bone-only disease is not a visceral crisis
    negated = condition("bm", {"text": "No bone marrow infiltration on trephine"})
    assert crisis(BONE, negated, hb, plt)["status"] == "not_applicable"
    assert crisis(BONE, hb, plt)["status"] == "not_applicable"
