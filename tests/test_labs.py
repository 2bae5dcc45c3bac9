"""Laboratory Observations read by LOINC with UCUM units and reference ranges, as other EHRs send them."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from mbcnav.assess import assess
from mbcnav.assess.labs import display_number, summarize_labs
from mbcnav.record.fhir import record_from_resources
from mbcnav.record.labs import lab_table
from mbcnav.record.model import Record
from mbcnav.record.reader import flatten

from .conftest import PRIMARY_BREAST_CANCER, TODAY

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1972-04-01"}
PRIMARY = PRIMARY_BREAST_CANCER


def lab(
    rid: str,
    code: str,
    value: Any,
    unit: str | None,
    when: str,
    *,
    low: float | None = None,
    high: float | None = None,
    range_unit: str | None = None,
    display: str = "",
    ranges: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value}
    if unit is not None:
        q |= {"unit": unit, "system": UCUM, "code": unit}
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": code} | ({"display": display} if display else {})]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueQuantity": q,
    }
    rr: dict[str, Any] = {}
    if low is not None:
        rr["low"] = {"value": low, "unit": range_unit or unit, "system": UCUM, "code": range_unit or unit}
    if high is not None:
        rr["high"] = {"value": high, "unit": range_unit or unit, "system": UCUM, "code": range_unit or unit}
    if rr:
        res["referenceRange"] = [rr]
    if ranges is not None:
        res["referenceRange"] = ranges
    return res


def read(*resources: dict[str, Any]) -> Record:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    return record_from_resources(flatten(copy.deepcopy(bundle), "t.json:"), today=TODAY)


def test_every_loinc_code_maps_to_one_analyte() -> None:
    tab = lab_table()
    seen: dict[str, str] = {}
    for key, a in tab.analytes.items():
        for code in a.loinc:
            assert code not in seen, f"{code} in {seen.get(code)} and {key}"
            seen[code] = key
        assert a.unit in a.units and a.units[a.unit] == 1.0


def test_bilirubin_in_umol_per_litre_with_range_converts_to_mg_dl() -> None:
    # A French/European lab: LOINC 14631-6 in umol/L with its reference range (as the EDSH profile sends it).
    r = read(PATIENT, PRIMARY, lab("b1", "14631-6", 70.0, "umol/L", "2026-11-10", low=5.0, high=21.0))
    assert r.input_issues == ()
    (x,) = r.labs
    assert x.analyte == "bilirubin" and x.unit == "mg/dL"
    assert x.value == pytest.approx(70.0 / 17.1, rel=1e-4)
    assert x.reference_range is not None and x.reference_range.high == pytest.approx(21.0 / 17.1, rel=1e-4)
    (s,) = summarize_labs(r, TODAY)
    assert s.times_uln == pytest.approx(70.0 / 21.0, abs=0.01) and s.flag == "high" and s.trend == "single"


def test_converted_values_are_shown_to_three_significant_digits_and_kept_whole_in_json() -> None:
    # fresh5 writer: "bilirubin ... 0.1754385–1.2280695 mg/dL" after conversion from umol/L. People read 3 digits;
    # the JSON (a contract) keeps the converted value as the reader stored it.
    r = read(PATIENT, PRIMARY, lab("b1", "14631-6", 15.0, "umol/L", "2026-11-09", low=3.0, high=21.0))
    (s,) = summarize_labs(r, TODAY)
    # fresh10-12 writers: the value as the laboratory reported it comes first, so it can be matched to the report
    assert s.describe().startswith("total bilirubin 15 umol/L (0.877 mg/dL) = 0.71 × ULN")
    assert s.as_json()["value"] == pytest.approx(15.0 / 17.1, rel=1e-3) and s.as_json()["value"] != 0.877
    assert s.as_json()["reported"] == {"value": 15.0, "unit": "umol/L", "reference_range": {"low": 3.0, "high": 21.0}}
    # a value reported in the canonical unit has no "reported" twin
    (same,) = summarize_labs(read(PATIENT, PRIMARY, lab("b2", "14631-6", 0.9, "mg/dL", "2026-11-09", high=1.2)), TODAY)
    assert same.as_json()["reported"] is None and same.describe().startswith("total bilirubin 0.9 mg/dL")
    assert [display_number(x) for x in (15 / 17.1, 3 / 17.1, 11.9, 150.0, 224, 1234.6, 0, 0.0049)] == [
        "0.877",
        "0.175",
        "11.9",
        "150",
        "224",
        "1235",
        "0",
        "0.0049",
    ]


def test_creatinine_calcium_albumin_haemoglobin_units() -> None:
    r = read(
        PATIENT,
        PRIMARY,
        lab("cr", "14682-9", 88.4, "umol/L", "2026-11-01"),
        lab("ca", "2000-8", 2.5, "mmol/L", "2026-11-01"),
        lab("alb", "1751-7", 30.0, "g/L", "2026-11-01"),
        lab("hb", "718-7", 105, "g/L", "2026-11-01"),
        lab("plt", "26515-7", 150, "10*3/uL", "2026-11-01"),
        lab("anc", "751-8", 1500, "/uL", "2026-11-01"),
        lab("gfr", "98979-8", 72, "mL/min/{1.73_m2}", "2026-11-01"),
        lab("ef", "10230-1", 55, "%", "2026-10-01"),
    )
    by = {x.analyte: x for x in r.labs}
    assert by["creatinine"].value == pytest.approx(1.0, abs=1e-3)
    assert by["calcium"].value == pytest.approx(10.02, abs=1e-3)
    assert by["albumin"].value == pytest.approx(3.0)
    assert by["haemoglobin"].value == pytest.approx(10.5)
    assert by["platelets"].value == 150 and by["platelets"].unit == "10*9/L"
    assert by["neutrophils"].value == pytest.approx(1.5)
    assert by["egfr"].value == 72 and by["lvef"].value == 55
    # No range in the record: the cited default of labs.yaml, marked assumed; none where none is cited (eGFR, LVEF)
    # or where the source splits by sex (haemoglobin: resolved with the patient's sex in the summary).
    assumed = {x.analyte for x in r.labs if x.reference_range is not None}
    assert assumed == {"creatinine", "calcium", "albumin", "platelets", "neutrophils"}
    assert all(x.reference_range.assumed for x in r.labs if x.reference_range is not None)
    hb = next(s for s in summarize_labs(r, TODAY) if s.analyte == "haemoglobin")
    assert hb.reference_range is not None and hb.reference_range.low == pytest.approx(12.0) and hb.flag == "low"
    # Albumin-corrected calcium is computed from the same day's calcium and albumin (Payne 1973).
    cc = next(s for s in summarize_labs(r, TODAY) if s.analyte == "corrected_calcium")
    assert cc.value == pytest.approx(10.02 + 0.8 * (4.0 - 3.0), abs=0.01)
    assert cc.source.startswith("computed from Observation/ca and Observation/alb")


def test_missing_range_without_a_cited_default_leaves_uln_unknown_never_invented() -> None:
    # albumin-corrected calcium sent as its own Observation: no cited default in labs.yaml
    r = read(PATIENT, PRIMARY, lab("cc", "29265-6", 3.1, "mmol/L", "2026-11-10"))
    (s,) = summarize_labs(r, TODAY)
    assert s.reference_range is None and s.times_uln is None and s.flag is None
    assert "ULN unknown" in s.describe()
    j = s.as_json()
    assert j["reference_range"] is None and j["times_uln"] is None


def test_missing_range_uses_the_cited_default_marked_assumed() -> None:
    """Bilirubin in SI units without a range: compared with the cited default ULN (21 umol/L, Pathology Harmony)."""
    r = read(
        PATIENT,
        PRIMARY,
        lab("b1", "14631-6", 38, "umol/L", "2026-11-05"),
        lab("b2", "14631-6", 71, "umol/L", "2026-11-24"),
    )
    (s,) = summarize_labs(r, TODAY)
    rr = s.reference_range
    assert rr is not None and rr.assumed and rr.low is None and rr.high == pytest.approx(21 / 17.1, rel=1e-3)
    assert "Pathology Harmony" in rr.source
    assert s.times_uln == pytest.approx(71 / 21, abs=0.01) and s.flag == "high" and s.trend == "rising"
    assert "assumed: no reference range in the record" in s.describe() and "Pathology Harmony" in s.describe()
    j = s.as_json()["reference_range"]
    assert j["assumed"] is True and "Pathology Harmony" in j["source"] and j["high"] == pytest.approx(1.228, abs=1e-3)


@pytest.mark.parametrize(("gender", "high"), [("female", 34.0), ("male", 45.0), ("unknown", None)])
def test_sex_split_default_follows_the_patient(gender: str, high: float | None) -> None:
    r = read(PATIENT | {"gender": gender}, PRIMARY, lab("a1", "1742-6", 40, "U/L", "2026-11-10"))
    (s,) = summarize_labs(r, TODAY)
    if high is None:  # sex not known: the source splits by sex, so no default rather than a guess
        assert s.reference_range is None and s.times_uln is None
    else:
        assert s.reference_range is not None and s.reference_range.assumed and s.reference_range.high == high
        assert s.times_uln == round(40 / high, 2)


def test_every_cited_default_shows_its_numbers_where_it_was_seen() -> None:
    """A default range is never invented: each bound must appear, as printed, in the quoted `seen` text."""
    import re
    from importlib import resources

    import yaml

    raw = yaml.safe_load(resources.files("mbcnav.terminology").joinpath("labs.yaml").read_text("utf-8"))
    n = 0
    for key, spec in raw["analytes"].items():
        for field in ("default_range", "postmenopausal_default"):
            d = spec.get(field)
            if d is None:
                continue
            assert d["source"] and d["seen"] and d["unit"] in spec["units"], key
            numbers = {float(x) for x in re.findall(r"\d+(?:\.\d+)?", d["seen"])}
            for part in [d.get("female"), d.get("male"), d]:
                for bound in ("low", "high"):
                    if part and part.get(bound) is not None:
                        assert float(part[bound]) in numbers, f"{key} {field} {bound} {part[bound]} not in seen"
                        n += 1
    assert n >= 15


def test_trend_and_previous_use_dates_not_file_order() -> None:
    r = read(
        PATIENT,
        PRIMARY,
        lab("b3", "1975-2", 4.1, "mg/dL", "2026-11-10", high=1.2),
        lab("b1", "1975-2", 1.0, "mg/dL", "2026-09-01", high=1.2),
        lab("b2", "1975-2", 2.0, "mg/dL", "2026-10-15", high=1.2),
    )
    (s,) = summarize_labs(r, TODAY)
    assert s.value == 4.1 and s.trend == "rising" and s.previous is not None and s.previous.value == 2.0
    assert s.times_uln == pytest.approx(3.42, abs=0.01)
    assert s.describe() == "total bilirubin 4.1 mg/dL = 3.42 × ULN (2026-11-10, rising) — Observation/b3"
    falling = summarize_labs(r, date(2026, 10, 20))[0]
    assert falling.value == 2.0 and falling.trend == "rising"
    stable = read(
        PATIENT,
        PRIMARY,
        lab("a", "1742-6", 40, "U/L", "2026-10-01", high=35),
        lab("b", "1742-6", 42, "U/L", "2026-11-01", high=35),
    )
    assert summarize_labs(stable, TODAY)[0].trend == "stable"


@pytest.mark.parametrize(
    ("value", "unit", "why"),
    [
        (-1.0, "mg/dL", "impossible"),
        (900.0, "mg/dL", "impossible"),
        ("4.1", "mg/dL", "not a number"),
        (4.1, "mmol/L", "not understood"),
        (4.1, None, "not understood"),
    ],
)
def test_impossible_or_unparseable_values_are_issues_not_facts(value: Any, unit: str | None, why: str) -> None:
    r = read(PATIENT, PRIMARY, lab("b1", "1975-2", value, unit, "2026-11-10"))
    assert r.labs == ()
    assert any(why in i.message and i.severity == "error" for i in r.input_issues), r.input_issues


def test_display_text_alone_does_not_make_a_lab() -> None:
    obs = lab("b1", "LOCAL-BILI", 4.1, "mg/dL", "2026-11-10", display="Total bilirubin")
    obs["code"]["coding"][0]["system"] = "http://example.org/local-codes"
    assert read(PATIENT, PRIMARY, obs).labs == ()


def test_censored_value_is_not_a_number() -> None:
    obs = lab("b1", "1975-2", 0.2, "mg/dL", "2026-11-10")
    obs["valueQuantity"]["comparator"] = "<"
    r = read(PATIENT, PRIMARY, obs)
    assert r.labs == () and any("censored" in i.message for i in r.input_issues)


def test_panel_components_are_read_by_loinc() -> None:
    panel = {
        "resourceType": "Observation",
        "id": "cbc",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "58410-2", "display": "CBC panel - Blood by Automated count"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-20",
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "718-7"}]},
                "valueQuantity": {"value": 9.1, "unit": "g/dL", "system": UCUM, "code": "g/dL"},
                "referenceRange": [{"low": {"value": 12.0, "unit": "g/dL"}, "high": {"value": 15.5, "unit": "g/dL"}}],
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
                "valueQuantity": {"value": 95, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
            },
        ],
    }
    r = read(PATIENT, PRIMARY, panel)
    by = {s.analyte: s for s in summarize_labs(r, TODAY)}
    assert by["haemoglobin"].flag == "low" and by["haemoglobin"].source == "Observation/cbc"
    assert by["platelets"].value == 95


def test_assess_json_labs_contract() -> None:
    r = read(
        PATIENT,
        PRIMARY,
        lab("b1", "1975-2", 1.0, "mg/dL", "2026-09-01", low=0.1, high=1.2),
        lab("b2", "1975-2", 4.1, "mg/dL", "2026-11-10", low=0.1, high=1.2),
    )
    j = assess(r, as_of=TODAY).to_json()
    assert j["schema_version"] == "1.1"
    (b,) = j["labs"]
    assert set(b) == {
        "analyte",
        "loinc",
        "value",
        "unit",
        "date",
        "reference_range",
        "times_uln",
        "flag",
        "trend",
        "previous",
        "source",
        "reported",  # 1.1, additive (2026-12-07): as the laboratory reported it; null in the canonical unit
    }
    assert b["reported"] is None
    assert b["reference_range"] == {"low": 0.1, "high": 1.2, "source": "record", "assumed": False}
    assert b["previous"] == {"value": 1.0, "date": "2026-09-01"}
    assert (b["analyte"], b["loinc"], b["flag"], b["trend"], b["source"]) == (
        "bilirubin",
        "1975-2",
        "high",
        "rising",
        "Observation/b2",
    )


def test_case_file_labs_section_becomes_loinc_observations() -> None:
    from mbcnav.record.casefile import case_to_bundle, check_case

    case = check_case(
        {
            "schema": "mbcnav-case/1",
            "id": "labs-1",
            "patient": {
                "sex": "female",
                "birth_date": "1972-04-01",
                "menopausal_status": "pre",
                "menopausal_status_date": "2026-01-10",
            },
            "primary": {"diagnosis_date": "2019-02-01"},
            "labs": [
                {"analyte": "bilirubin", "date": "2026-11-10", "value": 70, "unit": "umol/L", "low": 5, "high": 21},
                {"analyte": "lvef", "date": "2026-10-01", "value": 58, "unit": "%"},
            ],
        },
        "t.yaml",
    )
    bundle = case_to_bundle(case)
    r = record_from_resources(flatten(bundle, "t.yaml:"), today=TODAY)
    by = {x.analyte: x for x in r.labs}
    assert by["bilirubin"].loinc == "14631-6" and by["bilirubin"].reference_range is not None
    assert by["lvef"].value == 58
    assert r.patient.menopausal_status == "pre"
    assert r.menopause_readings[0].date is not None and str(r.menopause_readings[0].date) == "2026-01-10"


def test_a_cited_default_range_is_marked_assumed_with_its_source() -> None:
    import dataclasses

    from mbcnav.record.labs import parse_lab
    from mbcnav.record.model import ReferenceRange, Source

    base = lab_table().analytes["bilirubin"]
    cited = dataclasses.replace(base, default_ranges=(("any", ReferenceRange(None, 1.2, "Example ref 2020", True)),))
    obs = lab("b1", "1975-2", 2.4, "mg/dL", "2026-11-10")
    result, problems = parse_lab(obs, cited, None, Source("Observation/b1", "x"))
    assert problems == [] and result is not None
    assert result.reference_range == ReferenceRange(None, 1.2, "Example ref 2020", True)
    # with a range in the record, the record's range is used and not assumed
    result2, _ = parse_lab(lab("b2", "1975-2", 2.4, "mg/dL", "2026-11-10", high=1.0), cited, None, Source("O/b2", "x"))
    assert result2 is not None and result2.reference_range == ReferenceRange(None, 1.0, "record", False)
