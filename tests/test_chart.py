"""Problem-list integrity (mbcnav.chart): records written the way EHRs send them — SNOMED CT findings, ICD-10-CM codes,
the problem-list-item category, a resolved primary — and every example patient. Each proposed fix is a valid FHIR
R4 Condition and, once posted, makes its finding go away."""

from __future__ import annotations

import argparse
import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.condition import Condition

from mbcnav.chart.problems import (
    ChartReport,
    check_problem_list,
    on_problem_list,
    problem_codes,
    site_label,
)
from mbcnav.commands.chart import add_parser, run_chart
from mbcnav.pathway import evaluate
from mbcnav.record.fhir import record_from_resources
from mbcnav.record.reader import flatten, load_resources
from mbcnav.terminology.sites import classify_site, site_table

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "fhir").glob("*.json"))
TODAY = date(2026, 11, 26)
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
PID = "ehr-123"


# ---- records as an EHR sends them ------------------------------------------------------------------------------------
def _status(code: str) -> dict[str, Any]:
    return {"coding": [{"system": CLINICAL, "code": code}]}


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CATEGORY, "code": code}]}]


def condition(
    rid: str,
    coding: list[tuple[str, str, str]],
    *,
    text: str | None = None,
    category: str | None = "problem-list-item",
    status: str = "active",
    onset: str | None = "2024-02-20",
    stage: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": _status(status),
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "code": {"coding": [{"system": s, "code": c, "display": d} for s, c, d in coding]},
        "subject": {"reference": f"Patient/{PID}"},
    }
    if text:
        res["code"]["text"] = text
    if category:
        res["category"] = _category(category)
    if onset:
        res["onsetDateTime"] = onset
    if stage:
        res["stage"] = [{"summary": {"text": stage}}]
    res.update(extra)
    return res


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PID,
        "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-123"}],
        "gender": "female",
        "birthDate": "1962-03-04",
    }


def primary(
    status: str = "active", stage: str | None = None, category: str | None = "problem-list-item", **extra: Any
) -> dict[str, Any]:
    return condition(
        "dx-breast",
        [(ICD10CM, "C50.912", "Malignant neoplasm of unspecified site of left female breast")],
        text="Breast cancer, left",
        status=status,
        stage=stage,
        onset="2021-05-10",
        category=category,
        **extra,
    )


def bone(rid: str = "dx-bone", category: str | None = "encounter-diagnosis", **kw: Any) -> dict[str, Any]:
    return condition(rid, [(SNOMED, "94222008", "Secondary malignant neoplasm of bone")], category=category, **kw)


def letrozole_palbociclib() -> list[dict[str, Any]]:
    out = []
    for rid, code, name in (("rx-letrozole", "72965", "letrozole"), ("rx-palbo", "1601374", "palbociclib")):
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": rid,
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": name}]
                },
                "subject": {"reference": f"Patient/{PID}"},
                "authoredOn": "2024-03-11",
            }
        )
    return out


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def run(doc: dict[str, Any], as_of: date = TODAY) -> ChartReport:
    located = flatten(doc, "test:")
    record = record_from_resources(located, today=TODAY, as_of=as_of if as_of != TODAY else None)
    return check_problem_list(located, evaluate(record, as_of=as_of).assessment)


def kinds(report: ChartReport) -> list[tuple[str, str | None, str]]:
    return [(f.kind, f.site, f.action) for f in report.findings]


def apply_fixes(doc: dict[str, Any], report: ChartReport) -> dict[str, Any]:
    """Post every proposed resource: creates are added, updates replace their target."""
    out = copy.deepcopy(doc)
    for n, f in enumerate(report.findings):
        res = copy.deepcopy(f.proposed)
        if f.action == "update":
            assert f.target is not None
            out["entry"] = [
                {**e, "resource": res}
                if f"{e['resource']['resourceType']}/{e['resource'].get('id')}" == f.target
                else e
                for e in out["entry"]
            ]
        else:
            res["id"] = f"created-{n}"
            out["entry"].append({"resource": res})
    return out


def assert_valid_fhir(report: ChartReport) -> None:
    for f in report.findings:
        Condition.model_validate(f.proposed)  # raises when the resource is not valid FHIR R4
        assert f.proposed["subject"]
        assert on_problem_list(f.proposed), f.kind
        assert len(f.title) <= 140


# ---- the findings ------------------------------------------------------------------------------------------------
def test_bone_metastasis_only_as_an_encounter_diagnosis_is_missing_from_the_problem_list() -> None:
    doc = bundle(patient(), primary(), bone(), *letrozole_palbociclib())
    report = run(doc)
    assert report.metastatic is True and report.sites == ("bone",)
    assert kinds(report) == [("missing_metastasis", "bone", "create")]
    f = report.findings[0]
    assert "bone" in f.message and "Condition/dx-bone" in f.message
    assert [e.source for e in f.evidence] == ["Condition/dx-bone"]
    proposed = f.proposed
    assert proposed["meta"]["profile"] == [
        "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-secondary-cancer-condition"
    ]
    codes = {(c["system"], c["code"]) for c in proposed["code"]["coding"]}
    assert codes == {(SNOMED, "94222008"), (ICD10CM, "C79.51")}
    assert proposed["subject"] == {"reference": f"Patient/{PID}"}
    assert proposed["onsetDateTime"] == "2024-02-20"
    assert proposed["clinicalStatus"]["coding"][0]["code"] == "active"
    assert proposed["evidence"] == [{"detail": [{"reference": "Condition/dx-bone"}]}]
    assert proposed["extension"][0]["valueReference"] == {"reference": "Condition/dx-breast"}
    assert_valid_fhir(report)
    assert run(apply_fixes(doc, report)).findings == ()


def test_a_secondary_condition_without_category_gains_the_problem_list_category() -> None:
    doc = bundle(patient(), primary(), bone(category=None))
    report = run(doc)
    assert kinds(report) == [("missing_metastasis", "bone", "update")]
    f = report.findings[0]
    assert f.target == "Condition/dx-bone"
    assert f.proposed["id"] == "dx-bone"
    assert f.proposed["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert_valid_fhir(report)
    assert run(apply_fixes(doc, report)).findings == ()


def test_icd10cm_only_liver_metastasis_and_a_resolved_primary() -> None:
    """An EHR that codes in ICD-10-CM only, and closed the breast cancer after surgery: the liver metastasis is
    missing and the breast cancer is wrongly resolved."""
    liver = condition(
        "dx-liver",
        [(ICD10CM, "C78.7", "Secondary malignant neoplasm of liver and intrahepatic bile duct")],
        category="encounter-diagnosis",
    )
    doc = bundle(patient(), primary(status="resolved", abatementDateTime="2021-12-01"), liver)
    report = run(doc)
    assert kinds(report) == [("missing_metastasis", "liver", "create"), ("primary_resolved", None, "update")]
    fix = report.findings[1].proposed
    assert fix["id"] == "dx-breast"
    assert fix["clinicalStatus"]["coding"][0]["code"] == "recurrence"  # relapse after curative treatment
    assert "abatementDateTime" not in fix
    liver_fix = report.findings[0].proposed
    assert {c["code"] for c in liver_fix["code"]["coding"]} == {"94381002", "C78.7"}
    assert_valid_fhir(report)
    assert run(apply_fixes(doc, report)).findings == ()


def test_de_novo_primary_inactive_is_set_active_not_recurrence() -> None:
    doc = bundle(
        patient(),
        condition(
            "dx-breast", [(SNOMED, "254837009", "Malignant neoplasm of breast")], onset="2024-02-01", status="inactive"
        ),
        bone(category="problem-list-item", onset="2024-02-10"),
    )
    report = run(doc)
    assert kinds(report) == [("primary_resolved", None, "update")]
    assert report.findings[0].proposed["clinicalStatus"]["coding"][0]["code"] == "active"


def test_stale_stage_after_progression_to_metastatic_disease() -> None:
    doc = bundle(
        patient(),
        primary(stage="Stage IIA (AJCC 8th)"),
        bone(category="problem-list-item", onset="2024-02-20"),
    )
    report = run(doc)
    assert kinds(report) == [("stale_stage", None, "update")]
    f = report.findings[0]
    assert "IIA" in f.message and "2024-02-20" in f.message
    stages = f.proposed["stage"]
    assert stages[0]["summary"]["text"].startswith("Stage IV")
    assert stages[1] == {"summary": {"text": "Stage IIA (AJCC 8th)"}}  # the initial stage is kept as history
    assert_valid_fhir(report)
    assert run(apply_fixes(doc, report)).findings == ()


def test_same_site_twice_with_different_codes() -> None:
    doc = bundle(
        patient(),
        primary(),
        bone("dx-bone-snomed", category="problem-list-item", onset="2024-02-20"),
        condition("dx-bone-icd", [(ICD10CM, "C79.51", "Secondary malignant neoplasm of bone")], onset="2024-03-01"),
    )
    report = run(doc)
    assert kinds(report) == [("duplicate_site", "bone", "update")]
    f = report.findings[0]
    assert f.target == "Condition/dx-bone-snomed"  # the entry with the site-specific SNOMED CT code is kept
    assert {c["code"] for c in f.proposed["code"]["coding"]} == {"94222008", "C79.51"}
    assert "Condition/dx-bone-icd" in f.message
    assert_valid_fhir(report)


def test_metastatic_by_m1_only_without_a_site() -> None:
    m1 = {
        "resourceType": "Observation",
        "id": "obs-m1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "21907-1"}], "text": "Distant metastases.clinical"},
        "valueCodeableConcept": {"text": "cM1"},
        "effectiveDateTime": "2024-02-20",
        "subject": {"reference": f"Patient/{PID}"},
    }
    doc = bundle(patient(), primary(), m1)
    report = run(doc)
    assert kinds(report) == [("missing_metastasis", None, "create")]
    proposed = report.findings[0].proposed
    assert proposed["code"]["text"] == "Metastatic breast cancer, site not recorded"
    assert {c["code"] for c in proposed["code"]["coding"]} == {"128462008", "C79.9"}
    assert proposed["evidence"] == [{"detail": [{"reference": "Observation/obs-m1"}]}]
    assert_valid_fhir(report)
    assert run(apply_fixes(doc, report)).findings == ()


def test_nothing_on_the_problem_list_at_all() -> None:
    doc = bundle(patient(), primary(category=None), bone(category=None))
    report = run(doc)
    assert [k for k, _, _ in kinds(report)] == ["missing_metastasis", "missing_primary"]
    assert report.notes and "no problem-list Condition" in report.notes[0]
    created = report.findings[1].proposed
    assert {(c["system"], c["code"]) for c in created["code"]["coding"]} == {
        (SNOMED, "254837009"),
        (ICD10CM, "C50.912"),  # left, female
    }
    assert created["stage"][0]["summary"]["text"].startswith("Stage IV")
    assert_valid_fhir(report)
    assert run(apply_fixes(doc, report)).findings == ()


def test_resolved_metastasis_back_on_a_later_scan() -> None:
    closed = bone(category="problem-list-item", status="resolved", abatementDateTime="2024-12-01")
    scan = condition("dx-bone-2025", [(SNOMED, "94222008", "Secondary malignant neoplasm of bone")],
                     category="encounter-diagnosis", onset="2025-09-01")  # fmt: skip
    doc = bundle(patient(), primary(), closed, scan)
    report = run(doc)
    assert kinds(report) == [("missing_metastasis", "bone", "update")]
    f = report.findings[0]
    assert f.target == "Condition/dx-bone" and "resolved" in f.message
    assert f.proposed["clinicalStatus"]["coding"][0]["code"] == "active"
    assert "abatementDateTime" not in f.proposed
    assert_valid_fhir(report)


def test_complete_response_gives_no_finding_for_the_resolved_site() -> None:
    closed = bone(category="problem-list-item", status="resolved")
    doc = bundle(patient(), primary(status="remission"), closed)
    report = run(doc)
    assert report.findings == ()
    assert any("no metastatic site is active" in n for n in report.notes)


def test_early_breast_cancer_has_no_findings() -> None:
    doc = bundle(patient(), primary(stage="Stage IIA"))
    report = run(doc)
    assert report.metastatic is False and report.findings == ()


def test_another_patients_conditions_are_not_read() -> None:
    other = bone(category=None)
    other["subject"] = {"reference": "Patient/someone-else"}
    doc = bundle(patient(), primary(), bone(category="problem-list-item"), other)
    report = run(doc)
    assert [p.source for p in report.problem_list] == ["Condition/dx-breast", "Condition/dx-bone"]


def test_as_of_reads_the_problem_list_as_known_then() -> None:
    late = condition("dx-liver", [(SNOMED, "94381002", "Secondary malignant neoplasm of liver")], onset="2026-06-01")
    doc = bundle(patient(), primary(), bone(category="problem-list-item"), late)
    assert run(doc, as_of=date(2025, 1, 1)).findings == ()
    assert [p.source for p in run(doc, as_of=date(2025, 1, 1)).problem_list] == [
        "Condition/dx-breast",
        "Condition/dx-bone",
    ]


def test_refuted_and_entered_in_error_conditions_are_ignored() -> None:
    wrong = bone("dx-bone-wrong", category="problem-list-item")
    wrong["verificationStatus"]["coding"][0]["code"] = "entered-in-error"
    doc = bundle(patient(), primary(), bone(category="problem-list-item"), wrong)
    assert run(doc).findings == ()


# ---- the codes proposed --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("site", sorted(problem_codes()["secondary"]))
def test_each_proposed_site_code_reads_back_as_that_site(site: str) -> None:
    """The reader (terminology/sites.yaml) maps every proposed Condition to the site it was proposed for."""
    from mbcnav.chart.problems import secondary_condition

    doc = bundle(patient(), primary(), bone(category="problem-list-item"))
    a = evaluate(record_from_resources(flatten(doc, "t:"), today=TODAY), as_of=TODAY).assessment
    res = secondary_condition(a, site, [])
    Condition.model_validate(res)
    match = classify_site(res["code"], res.get("bodySite", []), [], "left")
    expected = "other" if site == "other" else site
    assert match.site == expected
    table = site_table()
    assert site in table.vocabulary
    icd = next(c["code"] for c in res["code"]["coding"] if c["system"] == ICD10CM)
    assert any(("icd10", icd) in r.codes for r in table.rules if r.site in (site, "lymph_node")) or site == "other"
    assert site_label(site)


# ---- every example patient ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_patient(path: Path) -> None:
    located = load_resources(path)
    record = record_from_resources(located, today=TODAY)
    report = check_problem_list(located, evaluate(record, as_of=TODAY).assessment)
    doc = report.as_json()
    assert doc["schema_version"] == "1.0" and doc["patient"] == record.patient.id
    json.dumps(doc)
    assert_valid_fhir(report)
    for f in report.findings:
        assert f.kind in ("missing_metastasis", "stale_stage", "primary_resolved", "missing_primary", "duplicate_site")
        assert f.evidence, f.kind
    # The examples put their metastases on the problem list: no site is missing there.
    assert not [f for f in report.findings if f.kind == "missing_metastasis"]
    fixed_doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": x.resource} for x in located]}
    fixed = run(apply_fixes(fixed_doc, report))
    assert fixed.findings == ()


# ---- the command ---------------------------------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mbcnav")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["chart", *argv])


def test_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "record.json"
    f.write_text(json.dumps(bundle(patient(), primary(), bone(), *letrozole_palbociclib())))
    assert run_chart(_args(str(f), "--format", "json", "--as-of", "2026-11-26")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == "1.0" and doc["patient"] == PID
    assert [x["kind"] for x in doc["findings"]] == ["missing_metastasis"]
    assert set(doc["findings"][0]) >= {"kind", "site", "message", "evidence", "proposed", "action"}


def test_command_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_chart(_args(str(EXAMPLES[1]), "--as-of", "2026-11-26")) == 0
    out = capsys.readouterr().out
    assert "Problem list (as recorded)" in out and "WRONG STATUS" in out and '"resourceType": "Condition"' in out


def test_command_folder_with_patient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in EXAMPLES[:2]:
        (tmp_path / path.name).write_text(path.read_text())
    assert run_chart(_args(str(tmp_path), "--patient", "case-02", "--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["patient"] == "case-02" and {p["source"] for p in doc["problem_list"]}


def test_command_unusable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run_chart(_args(str(bad), "--format", "json")) == 2
    assert json.loads(capsys.readouterr().out)["resourceType"] == "OperationOutcome"


def test_command_strict_rejects_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = bone()
    res["onsetDateTime"] = "not a date"
    f = tmp_path / "record.json"
    f.write_text(json.dumps(bundle(patient(), primary(), res)))
    assert run_chart(_args(str(f), "--strict")) == 2
    assert "strict" in capsys.readouterr().err
