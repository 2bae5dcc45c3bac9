"""Real-world records are imperfect: every understandable fact is kept, every problem reported with its place."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mbcnav.record.fhir import record_from_resources
from mbcnav.record.reader import UnusableInput, flatten

from .conftest import PRIMARY_BREAST_CANCER, TODAY

PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1962-04-01"}
PRIMARY = PRIMARY_BREAST_CANCER
LIVER = {
    "resourceType": "Condition",
    "id": "m1",
    "meta": {"profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-secondary-cancer-condition"]},
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C78.7"}]},
    "subject": {"reference": "Patient/p1"},
    "onsetDateTime": "2023-05-10",
}


def read(*resources: dict[str, Any]):  # type: ignore[no-untyped-def]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    return record_from_resources(flatten(copy.deepcopy(bundle), "t.json:"), today=TODAY)


def test_clean_minimal_record_has_no_issues() -> None:
    r = read(PATIENT, PRIMARY, LIVER)
    assert r.input_issues == () and [m.site for m in r.metastases] == ["liver"]


def test_duplicated_condition_is_read_once() -> None:
    dup = {**LIVER, "id": "m2"}
    r = read(PATIENT, PRIMARY, LIVER, dup)
    assert len(r.metastases) == 1
    assert any("duplicate" in i.message and "entry[3]" in i.location for i in r.input_issues)


def test_invalid_id_is_reported_but_resource_kept() -> None:
    r = read(PATIENT, PRIMARY, {**LIVER, "id": "bad id with spaces!"})
    assert [m.site for m in r.metastases] == ["liver"]
    assert any(i.location.startswith("t.json:entry[2].resource.id") for i in r.input_issues)


def test_observation_without_value_is_reported() -> None:
    er = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "16112-5"}]},
        "effectiveDateTime": "2019-02-01",
    }
    r = read(PATIENT, PRIMARY, er)
    assert r.receptors == ()
    assert any("no value" in i.message and "entry[2]" in i.location for i in r.input_issues)


def test_component_without_code_is_located() -> None:
    obs = {
        "resourceType": "Observation",
        "id": "o2",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "48676-1"}]},
        "valueCodeableConcept": {"text": "IHC 1+"},
        "component": [{"valueString": "x"}],
    }
    r = read(PATIENT, PRIMARY, obs)
    assert r.receptors[0].ihc_score == "1+"  # the understandable part is kept
    assert any("entry[2].resource.component[0].code" in i.location for i in r.input_issues)


def test_unknown_site_code_is_other_with_issue() -> None:
    odd = {
        **LIVER,
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "999999999"}],
            "text": "Secondary malignant neoplasm of thingummy",
        },
    }
    r = read(PATIENT, PRIMARY, odd)
    assert r.metastases[0].site == "other"
    assert any("not recognised" in i.message for i in r.input_issues)


def test_future_date_is_unknown_not_used() -> None:
    r = read(PATIENT, PRIMARY, {**LIVER, "onsetDateTime": "2099-01-01"})
    assert r.metastases[0].date is None
    assert any("future" in i.message and i.severity == "error" for i in r.input_issues)


def test_impossible_ecog_is_dropped() -> None:
    ecog = {
        "resourceType": "Observation",
        "id": "e1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "89247-1"}]},
        "valueInteger": 7,
    }
    r = read(PATIENT, PRIMARY, ecog)
    assert r.performance == () and any("impossible" in i.message for i in r.input_issues)


def test_medication_statement_and_administrations() -> None:
    stmt = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1601374"}]
        },
        "effectivePeriod": {"start": "2023-06-01", "end": "2024-01-10"},
        "statusReason": [{"text": "disease progression"}],
    }
    admins = [
        {
            "resourceType": "MedicationAdministration",
            "id": f"a{i}",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "Enhertu 5.4 mg/kg"},
            "effectiveDateTime": day,
        }
        for i, day in enumerate(["2024-01-20", "2024-02-10", "2024-03-02"])
    ]
    r = read(PATIENT, PRIMARY, LIVER, stmt, *admins)
    courses = {t.drug: t for t in r.therapies}
    assert courses["palbociclib"].reason_stopped == "progression"
    assert str(courses["trastuzumab deruxtecan"].start) == "2024-01-20"
    assert str(courses["trastuzumab deruxtecan"].end) == "2024-03-02"  # 3 cycles merged into one course


def test_secondary_condition_by_generic_code_and_body_site() -> None:
    generic = {
        **LIVER,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "128462008"}]},
        "bodySite": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "12738006", "display": "Brain structure"}]}
        ],
    }
    assert read(PATIENT, PRIMARY, generic).metastases[0].site == "brain"


def test_two_patients_need_a_choice() -> None:
    with pytest.raises(UnusableInput, match="--patient"):
        read(PATIENT, {**PATIENT, "id": "p2"}, PRIMARY)


def test_resource_of_another_patient_is_skipped() -> None:
    other = {**LIVER, "subject": {"reference": "Patient/zzz"}}
    r = read(PATIENT, PRIMARY, other)
    assert r.metastases == () and any("another patient" in i.message for i in r.input_issues)


def test_refuted_condition_ignored() -> None:
    refuted = {
        **LIVER,
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]
        },
    }
    assert read(PATIENT, PRIMARY, refuted).metastases == ()


def test_nodal_region_uses_the_primary_side_whatever_the_order() -> None:
    left_primary = {**PRIMARY, "code": {"text": "Malignant neoplasm of left breast"}}
    node = {**LIVER, "id": "n1", "code": {"text": "Secondary malignant neoplasm of left axillary lymph node"}}
    contra = {**LIVER, "id": "n2", "code": {"text": "Secondary malignant neoplasm of right axillary lymph node"}}
    r = read(PATIENT, node, contra, left_primary)  # metastases listed before the primary
    regions = {m.source.resource: (m.site, m.nodal_region) for m in r.metastases}
    assert regions == {"Condition/n1": ("lymph_node", "regional"), "Condition/n2": ("distant_lymph_node", "distant")}
