"""Menopausal status read by code and by meaning (never by substring), and derived with provenance (NCCN)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from mbcnav.assess import assess
from mbcnav.assess.menopause import assess_menopause
from mbcnav.record.fhir import record_from_resources
from mbcnav.record.markers import parse_menopause
from mbcnav.record.model import Record
from mbcnav.record.reader import flatten
from mbcnav.terminology.findings import menopause_from_text

from .conftest import PRIMARY_BREAST_CANCER, TODAY

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
PRIMARY = PRIMARY_BREAST_CANCER


def patient(birth: str = "1975-05-01", gender: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "gender": gender, "birthDate": birth}


def status_obs(rid: str, when: str | None, value: dict[str, Any]) -> dict[str, Any]:
    """As the MII Onkologie Mamma profile sends it: SNOMED 161712005 'Menopause, function' + a SNOMED answer."""
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {
            "coding": [{"system": SCT, "code": "161712005", "display": "Menopause, function (observable entity)"}]
        },
        "subject": {"reference": "Patient/p1"},
        "valueCodeableConcept": value,
    }
    if when:
        res["effectiveDateTime"] = when
    return res


def sct(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": SCT, "code": code, "display": display}]}


def read(*resources: dict[str, Any]) -> Record:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    return record_from_resources(flatten(copy.deepcopy(bundle), "t.json:"), today=TODAY)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Menopause present", "post"),  # trap: used to read "pre" from "present"
        ("Menopause present (finding)", "post"),
        ("Premature menopause", "post"),  # trap: used to read "pre" from "premature"
        ("Not postmenopausal", None),  # trap: used to read "post"
        ("not post-menopausal", None),
        ("Postmenopausal state (finding)", "post"),
        ("Post-menopausal", "post"),
        ("Pre-menopausal", "pre"),
        ("Premenopausal state", "pre"),
        ("Perimenopausal", "peri"),
        ("Menopause absent", "pre"),
        ("Surgical menopause", "post"),
        ("Postmenopausal bleeding", None),
        ("Menopausal status unknown", None),
        ("Artificial menopause state", None),
        ("premenopausal or perimenopausal", None),
    ],
)
def test_status_by_meaning_not_substring(text: str, want: str | None) -> None:
    assert menopause_from_text(text)[0] == want
    assert parse_menopause({"valueCodeableConcept": {"text": text}}) == want


def test_snomed_question_and_answer_as_mii_sends_it() -> None:
    r = read(patient(), PRIMARY, status_obs("o1", "2024-03-01", sct("22636003", "Premenopausal state (finding)")))
    assert r.patient.menopausal_status == "pre" and r.input_issues == ()
    m = assess_menopause(r, TODAY)
    assert (m.status, m.source) == ("pre", "Observation/o1")


def test_code_wins_over_a_misleading_display() -> None:
    # SNOMED 289903006 Menopause present: menopause has happened -> post, whatever the display says.
    r = read(patient(), PRIMARY, status_obs("o1", "2024-03-01", sct("289903006", "Menopause present")))
    assert r.patient.menopausal_status == "post"


def test_condition_postmenopausal_state() -> None:
    cond = {
        "resourceType": "Condition",
        "id": "meno",
        "code": sct("76498008", "Postmenopausal state (finding)"),
        "subject": {"reference": "Patient/p1"},
        "recordedDate": "2025-01-10",
    }
    r = read(patient(), PRIMARY, cond)
    assert r.patient.menopausal_status == "post" and r.comorbidities == ()
    assert assess_menopause(r, TODAY).source == "Condition/meno"


def test_not_postmenopausal_text_is_not_a_status() -> None:
    r = read(patient(), PRIMARY, status_obs("o1", "2024-03-01", {"text": "Not postmenopausal"}))
    assert r.patient.menopausal_status == "unknown"
    assert any("negated" in i.message for i in r.input_issues)
    assert assess_menopause(r, TODAY).status == "unknown"


def test_latest_dated_reading_wins_not_the_last_in_file() -> None:
    r = read(
        patient(),
        PRIMARY,
        status_obs("new", "2026-06-01", sct("76498008", "Postmenopausal state")),
        status_obs("old", "2020-01-01", sct("22636003", "Premenopausal state")),
        status_obs("undated", None, sct("22636003", "Premenopausal state")),
    )
    assert r.patient.menopausal_status == "post"
    m = assess_menopause(r, TODAY)
    assert (m.status, m.source, str(m.date)) == ("post", "Observation/new", "2026-06-01")


def test_same_date_disagreement_is_unknown() -> None:
    r = read(
        patient(),
        PRIMARY,
        status_obs("a", "2026-06-01", sct("76498008", "Postmenopausal state")),
        status_obs("b", "2026-06-01", sct("22636003", "Premenopausal state")),
    )
    assert r.patient.menopausal_status == "unknown"
    assert assess_menopause(r, TODAY).status == "unknown"


@pytest.mark.parametrize(
    ("birth", "want"),
    [("1966-11-26", "post"), ("1966-11-27", "unknown"), ("1966", "unknown"), ("1965", "post")],
)
def test_age_60_boundary_on_the_as_of_date(birth: str, want: str) -> None:
    m = assess_menopause(read(patient(birth), PRIMARY), date(2026, 11, 26))
    assert m.status == want
    if want == "post":
        assert "age 60 or older" in m.basis and "NCCN" in m.basis


def test_under_60_without_evidence_is_never_post() -> None:
    r = read(patient("1980-01-01"), PRIMARY)
    m = assess_menopause(r, TODAY)
    assert m.status == "unknown" and "not assumed postmenopausal" in m.basis
    assert assess(r, as_of=TODAY).to_json()["patient"]["menopausal_status"] == "unknown"


def test_bilateral_oophorectomy_procedure_is_post() -> None:
    proc = {
        "resourceType": "Procedure",
        "id": "bso",
        "status": "completed",
        "code": {"text": "Laparoscopic bilateral salpingo-oophorectomy"},
        "subject": {"reference": "Patient/p1"},
        "performedDateTime": "2023-04-02",
    }
    r = read(patient("1980-01-01"), PRIMARY, proc, status_obs("o1", "2019-01-01", sct("22636003", "Premenopausal")))
    m = assess_menopause(r, TODAY)
    assert (m.status, m.source, str(m.date)) == ("post", "Procedure/bso", "2023-04-02")
    assert "recorded status pre" in m.basis
    j = assess(r, as_of=TODAY).to_json()
    assert j["menopause"]["status"] == "post" and j["patient"]["menopausal_status"] == "post"


def test_unilateral_or_negated_oophorectomy_is_not_enough() -> None:
    uni = {
        "resourceType": "Procedure",
        "id": "uso",
        "status": "completed",
        "code": {"text": "Left oophorectomy"},
        "subject": {"reference": "Patient/p1"},
        "performedDateTime": "2023-04-02",
    }
    assert assess_menopause(read(patient("1980-01-01"), PRIMARY, uni), TODAY).status == "unknown"


def test_men_are_not_applicable_and_json_stays_consistent() -> None:
    r = read(patient("1950-01-01", "male"), PRIMARY)
    j = assess(r, as_of=TODAY).to_json()
    assert j["menopause"]["status"] == "not_applicable"
    assert j["patient"]["menopausal_status"] == "unknown"


def _amenorrhoea_record(extra: list[dict[str, Any]]) -> Record:
    lmp = {
        "resourceType": "Observation",
        "id": "lmp",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8665-2", "display": "Last menstrual period start date"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-01-05",
        "valueDateTime": "2025-05-01",
    }
    post = {"text": "postmenopausal"}
    fsh = {
        "resourceType": "Observation",
        "id": "fsh",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "15067-2"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-10-01",
        "valueQuantity": {"value": 78, "unit": "m[IU]/mL", "system": "http://unitsofmeasure.org", "code": "m[IU]/mL"},
        "referenceRange": [
            {"low": {"value": 3.5, "unit": "m[IU]/mL"}, "high": {"value": 12.5, "unit": "m[IU]/mL"}},
            {"low": {"value": 25.8, "unit": "m[IU]/mL"}, "high": {"value": 134.8, "unit": "m[IU]/mL"}} | post,
        ],
    }
    e2 = {
        "resourceType": "Observation",
        "id": "e2",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2243-4"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-10-01",
        "valueQuantity": {"value": 12, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL"},
        "referenceRange": [{"high": {"value": 32.2, "unit": "pg/mL"}} | post],
    }
    return read(patient("1972-01-01"), PRIMARY, lmp, fsh, e2, *extra)


def test_amenorrhoea_with_postmenopausal_fsh_and_estradiol_is_post() -> None:
    m = assess_menopause(_amenorrhoea_record([]), TODAY)
    assert m.status == "post" and "amenorrhoea" in m.basis and "FSH 78" in m.basis


def _hormones(fsh: float, e2: float, fsh_ranges: list[dict[str, Any]], e2_ranges: list[dict[str, Any]]) -> Record:
    """Amenorrhoea Condition since 2023-01 (SNOMED 14302001, as vignette 80) with FSH and estradiol."""
    amen = {
        "resourceType": "Condition",
        "id": "amen",
        "code": {"coding": [{"system": SCT, "code": "14302001", "display": "Amenorrhea"}], "text": "Amenorrhoea"},
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2023-01-15",
    }

    def obs(rid: str, code: str, value: float, unit: str, ranges: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2026-10-19",
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
            "referenceRange": ranges,
        }

    return read(
        patient("1970-10-30"),
        PRIMARY,
        amen,
        obs("fsh", "15067-2", fsh, "m[IU]/mL", fsh_ranges),
        obs("e2", "2243-4", e2, "pg/mL", e2_ranges),
    )


FOLLICULAR_FSH = [{"low": {"value": 3.5, "unit": "m[IU]/mL"}, "high": {"value": 12.5, "unit": "m[IU]/mL"}}]
FOLLICULAR_E2 = [{"low": {"value": 12.5, "unit": "pg/mL"}, "high": {"value": 166.0, "unit": "pg/mL"}}]


def test_unlabelled_lab_ranges_use_the_cited_postmenopausal_default_marked_assumed() -> None:
    """The lab sent only its (follicular) range, not a postmenopausal one (vignette 80): NCCN's 'postmenopausal
    range' is then the cited default (FSH > 30 IU/L, estradiol < 110 pmol/L), named as assumed in the basis."""
    m = assess_menopause(_hormones(64, 12, FOLLICULAR_FSH, FOLLICULAR_E2), TODAY)
    assert m.status == "post" and m.source == "Condition/amen"
    assert "assumed, no postmenopausal range in the record" in m.basis and "BMJ Best Practice" in m.basis


@pytest.mark.parametrize(("fsh", "e2"), [(20, 12), (64, 45)])
def test_outside_the_cited_default_stays_unknown(fsh: float, e2: float) -> None:
    m = assess_menopause(_hormones(fsh, e2, FOLLICULAR_FSH, FOLLICULAR_E2), TODAY)
    assert m.status == "unknown" and "not shown in the laboratory's postmenopausal range" in m.basis


def test_fsh_above_the_postmenopausal_upper_limit_is_still_postmenopausal() -> None:
    """Menopause raises FSH: the criterion is the range's lower limit, not membership of a two-sided interval."""
    post = [
        {
            "low": {"value": 25.8, "unit": "m[IU]/mL"},
            "high": {"value": 134.8, "unit": "m[IU]/mL"},
            "text": "postmenopausal",
        }
    ]
    e2_post = [
        {"low": {"value": 5.0, "unit": "pg/mL"}, "high": {"value": 54.7, "unit": "pg/mL"}, "text": "postmenopausal"}
    ]
    m = assess_menopause(_hormones(150, 3, post, e2_post), TODAY)
    assert m.status == "post" and "the record's range" in m.basis and "assumed" not in m.basis


def test_the_records_postmenopausal_range_wins_over_the_default() -> None:
    post = [{"low": {"value": 70, "unit": "m[IU]/mL"}, "text": "postmenopausal"}]
    m = assess_menopause(_hormones(64, 12, post, FOLLICULAR_E2), TODAY)
    assert m.status == "unknown" and "FSH" in m.basis


def test_amenorrhoea_after_tamoxifen_does_not_establish_menopause() -> None:
    tam = {
        "resourceType": "MedicationStatement",
        "id": "tam",
        "status": "active",
        "medicationCodeableConcept": {"text": "tamoxifen 20 mg"},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2024-06-01"},
    }
    m = assess_menopause(_amenorrhoea_record([tam]), TODAY)
    assert m.status == "unknown" and "tamoxifen" in m.basis


def test_case_file_menopausal_status_still_reads() -> None:
    r = read(
        patient(),
        PRIMARY,
        {
            "resourceType": "Observation",
            "id": "m",
            "status": "final",
            "code": {
                "coding": [{"system": "https://mbcnav.org/fhir/CodeSystem/observation", "code": "menopausal-status"}]
            },
            "subject": {"reference": "Patient/p1"},
            "valueCodeableConcept": {
                "coding": [{"system": "https://mbcnav.org/fhir/CodeSystem/menopausal-status", "code": "peri"}],
                "text": "Perimenopausal",
            },
        },
    )
    assert r.patient.menopausal_status == "peri"


def test_traps_as_other_ehrs_send_them() -> None:
    present = status_obs("a", "2025-02-01", {"text": "Menopause present"})
    premature = {
        "resourceType": "Condition",
        "id": "pm",
        "code": {"coding": [{"system": SCT, "code": "373717006", "display": "Premature menopause"}]},
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2024-01-01",
    }
    premature_text = {**premature, "id": "pm2", "code": {"text": "Premature menopause"}}
    assert read(patient(), PRIMARY, present).patient.menopausal_status == "post"
    assert read(patient(), PRIMARY, premature).patient.menopausal_status == "post"
    assert read(patient(), PRIMARY, premature_text).patient.menopausal_status == "post"
    bleeding = {**premature, "id": "b", "code": {"text": "Postmenopausal bleeding"}}
    r = read(patient(), PRIMARY, bleeding)
    assert r.patient.menopausal_status == "unknown" and r.menopause_readings == ()
