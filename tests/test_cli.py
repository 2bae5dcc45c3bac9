"""The `mbcnav` command line, run in-process: exit codes, JSON output, and clear messages for unusable input."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest

from mbcnav.cli import EXIT_OK, EXIT_UNUSABLE, main

ROOT = Path(__file__).resolve().parents[1]
AS_OF = ["--as-of", "2026-11-26"]
EX02 = "examples/fhir/02-recurrence-on-adjuvant-ai.json"
EX01_JSON = "examples/fhir/01-de-novo-hr-pos-bone-only.json"
EX01_YAML = "examples/cases/01-de-novo-hr-pos-bone-only.yaml"


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assess_json(capsys: pytest.CaptureFixture[str], path: str | Path, *extra: str) -> dict[str, Any]:
    code, out, err = run(capsys, "assess", str(path), "--format", "json", *AS_OF, *extra)
    assert code == EXIT_OK, err
    return dict(json.loads(out))


def assert_unusable(code: int, out: str, err: str, *expected: str) -> None:
    """Exit 2, a one-line-or-more message on stderr naming the problem, nothing on stdout, no traceback."""
    assert code == EXIT_UNUSABLE
    assert out == ""
    assert err.startswith("mbcnav: ")
    assert "Traceback" not in err
    assert "internal error" not in err
    for text in expected:
        assert text in err, err


def _bundle(path: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / path).read_text("utf-8")))


# ---- assess: the JSON report -------------------------------------------------------------------------------------


def test_assess_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    j = assess_json(capsys, EX02)
    for key in (
        "schema_version",
        "stage",
        "metastatic",
        "presentation",
        "metastasis_free_interval_months",
        "subtype",
        "sites",
        "bone_only",
        "visceral",
        "cns",
        "endocrine_resistance",
        "ecog",
        "lines",
        "biomarkers",
        "unknowns",
        "conflicts",
        "input_issues",
    ):
        assert key in j, key
    assert {"group", "basis"} <= set(j["stage"])
    assert {"er", "pr", "her2", "group", "specimen", "date", "discordance"} <= set(j["subtype"])
    assert j["lines"]
    for line in j["lines"]:
        assert {"number", "drugs", "start", "end", "reason_stopped"} <= set(line)
    for name in ("sites", "lines", "biomarkers", "unknowns", "conflicts", "input_issues"):
        assert isinstance(j[name], list), name
    assert isinstance(j["subtype"]["discordance"], list)


def test_assess_json_values_for_the_recurrence_case(capsys: pytest.CaptureFixture[str]) -> None:
    j = assess_json(capsys, EX02)
    assert j["as_of"] == "2026-11-26"
    assert j["stage"]["group"] == "IV"
    assert j["metastatic"] is True
    assert j["presentation"] == "recurrent"
    assert j["metastasis_free_interval_months"] == pytest.approx(21.4, abs=0.05)
    assert j["subtype"]["er"] == "positive"
    assert j["subtype"]["group"] == "HR+/HER2-"
    assert set(j["sites"]) == {"bone", "liver"}
    assert j["bone_only"] is False and j["visceral"] is True and j["cns"] is False
    assert j["endocrine_resistance"] == "primary"
    assert j["lines"][0]["number"] == 1
    assert set(j["lines"][0]["drugs"]) == {"abemaciclib", "fulvestrant"}
    assert {b["gene"] for b in j["biomarkers"]} >= {"PIK3CA", "ESR1"}
    assert j["input_issues"] == []


def test_as_of_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    a = assess_json(capsys, EX02)
    b = assess_json(capsys, EX02, "--as-of", "2025-01-01")
    assert a["as_of"] == "2026-11-26" and b["as_of"] == "2025-01-01"


def test_assess_text_format_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "assess", EX02, *AS_OF)
    assert code == EXIT_OK, err
    assert "IV" in out
    assert "Traceback" not in out + err


def test_oligometastatic_is_shown_as_a_lesion_count(capsys: pytest.CaptureFixture[str]) -> None:
    # fresh5 writer: "oligometastatic" printed on the count alone read as the ABC definition, which also asks that
    # every lesion be amenable to local treatment; the text says what was counted.
    code, out, err = run(capsys, "assess", "examples/cases/14-partial-dates-oligometastatic.yaml", *AS_OF)
    assert code == EXIT_OK, err
    assert "oligometastatic by count: 2" in " ".join(out.split())


def test_yaml_case_file_and_its_fhir_bundle_agree(capsys: pytest.CaptureFixture[str]) -> None:
    a = assess_json(capsys, EX01_YAML)
    b = assess_json(capsys, EX01_JSON)
    for key in ("stage", "metastatic", "presentation", "subtype", "sites", "lines", "ecog"):
        assert a[key] == b[key], key


def test_bad_as_of_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["assess", EX02, "--as-of", "26/11/2026"])
    assert info.value.code == 2
    assert "not a date" in capsys.readouterr().err


def test_de_novo_window_out_of_range_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "assess", EX02, *AS_OF, "--de-novo-window-months", "0")
    assert_unusable(code, out, err, "--de-novo-window-months")


# ---- assess: unusable input exits 2 with a clear message ---------------------------------------------------------


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "nope.json", "no such file")


def test_malformed_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"resourceType": "Patient", "id": ', encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "broken.json", "not valid JSON", "line 1")


def test_json_array_of_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "numbers.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "numbers.json", "not a FHIR resource")


def test_json_object_without_resource_type(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    path.write_text('{"id": "x", "name": "not FHIR"}', encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "plain.json", "resourceType")


def test_text_file_with_json_suffix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("Patient has breast cancer.\nSeen in clinic.\n", encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "notes.json", "not a FHIR JSON file")


def test_binary_file_with_json_suffix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "scan.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "scan.json", "UTF-8")


def test_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "empty.json")


def test_yaml_case_file_violating_the_schema_lists_the_location(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad-case.yaml"
    path.write_text(
        "schema: mbcnav-case/1\npatient:\n  sex: banana\nprimary:\n  diagnosis_date: '2024-01-01'\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "bad-case.yaml", "schema", "patient/sex", "banana")


def test_yaml_file_that_is_not_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "garbled.yaml"
    path.write_text("patient: [1, 2\nprimary: {\n", encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "garbled.yaml", "not valid YAML", "line")


def test_yaml_list_is_not_a_case_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "list.yaml", "mapping")


def test_recursive_yaml_alias_is_unusable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("schema: mbcnav-case/1\npatient: &a [*a]\n", encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "loop.yaml")


def test_deeply_nested_json_is_unusable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "deep.json", "nested too deeply")


def test_deeply_nested_ndjson_line_is_unusable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "deep.ndjson"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "deep.ndjson")


def test_unusable_input_with_format_json_prints_operation_outcome(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), "--format", "json", *AS_OF)
    assert code == EXIT_UNUSABLE
    assert "Traceback" not in err
    outcome = json.loads(out)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"]
    assert outcome["issue"][0]["severity"] == "error"
    assert "not valid JSON" in outcome["issue"][0]["diagnostics"]
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class("OperationOutcome").model_validate(outcome)


def test_schema_problems_become_operation_outcome_issues(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad-case.yaml"
    path.write_text("schema: mbcnav-case/1\npatient:\n  sex: banana\nprimary: {}\n", encoding="utf-8")
    code, out, _ = run(capsys, "assess", str(path), "--format", "json", *AS_OF)
    assert code == EXIT_UNUSABLE
    outcome = json.loads(out)
    expressions = [e for i in outcome["issue"] for e in i.get("expression", [])]
    assert "patient/sex" in expressions


# ---- --strict ----------------------------------------------------------------------------------------------------


def _bundle_with_valueless_observation(tmp_path: Path) -> tuple[Path, int]:
    bundle = _bundle(EX01_JSON)
    patient_ref = next(
        f"Patient/{e['resource']['id']}" for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:0b7c2f2e-0000-4000-8000-000000000001",
            "resource": {
                "resourceType": "Observation",
                "id": "ecog-without-value",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "89247-1"}]},
                "subject": {"reference": patient_ref},
                "effectiveDateTime": "2026-11-01",
            },
        }
    )
    path = tmp_path / "valueless.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path, len(bundle["entry"]) - 1


def test_observation_without_value_is_an_input_issue(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path, index = _bundle_with_valueless_observation(tmp_path)
    j = assess_json(capsys, path)
    hits = [i for i in j["input_issues"] if f"entry[{index}]" in i["location"]]
    assert hits and "no value" in hits[0]["message"]
    assert j["ecog"] == 0  # the latest ECOG with a value, from the original bundle


def test_strict_rejects_observation_without_value(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path, index = _bundle_with_valueless_observation(tmp_path)
    code, out, err = run(capsys, "assess", str(path), "--strict", *AS_OF)
    assert_unusable(code, out, err, "strict", f"entry[{index}]", "no value")


def test_strict_accepts_a_clean_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "assess", EX02, "--strict", "--format", "json", *AS_OF)
    assert code == EXIT_OK, err
    assert json.loads(out)["input_issues"] == []


# ---- more than one patient ---------------------------------------------------------------------------------------


def _two_patient_bundle(tmp_path: Path) -> tuple[Path, str]:
    bundle = _bundle(EX01_JSON)
    first = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:0b7c2f2e-0000-4000-8000-000000000002",
            "resource": {"resourceType": "Patient", "id": "someone-else", "gender": "male", "birthDate": "1950"},
        }
    )
    path = tmp_path / "two-patients.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path, first


def test_two_patients_exit_2_without_patient_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path, first = _two_patient_bundle(tmp_path)
    code, out, err = run(capsys, "assess", str(path), *AS_OF)
    assert_unusable(code, out, err, "--patient", first, "someone-else")


def test_patient_option_picks_one_patient(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path, first = _two_patient_bundle(tmp_path)
    a = assess_json(capsys, path, "--patient", first)
    assert a["patient"]["id"] == first
    assert a["sites"] == ["bone"]
    b = assess_json(capsys, path, "--patient", "someone-else")
    assert b["patient"]["id"] == "someone-else"
    assert b["patient"]["sex"] == "male"
    assert b["sites"] == []  # the first patient's metastases are not hers
    assert any("another patient" in i["message"] for i in b["input_issues"])


def test_unknown_patient_id_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path, _ = _two_patient_bundle(tmp_path)
    code, out, err = run(capsys, "assess", str(path), "--patient", "nobody", *AS_OF)
    assert_unusable(code, out, err, "nobody")


# ---- convert -----------------------------------------------------------------------------------------------------


def test_convert_writes_a_valid_r4_bundle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    target = tmp_path / "x.json"
    code, out, err = run(capsys, "convert", EX01_YAML, "-o", str(target))
    assert code == EXIT_OK, err
    assert out == ""
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left behind
    bundle = json.loads(target.read_text("utf-8"))
    assert bundle["resourceType"] == "Bundle"
    get_fhir_model_class("Bundle").model_validate(bundle)
    types = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        types.add(resource["resourceType"])
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["fullUrl"].startswith("urn:uuid:")
        uuid.UUID(entry["fullUrl"].removeprefix("urn:uuid:"))
    assert {"Patient", "Condition", "Observation", "MedicationRequest"} <= types


def test_convert_is_deterministic_and_matches_the_shipped_example(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["convert", EX01_YAML, "-o", str(a)]) == EXIT_OK
    assert main(["convert", EX01_YAML, "-o", str(b)]) == EXIT_OK
    assert a.read_bytes() == b.read_bytes()
    assert json.loads(a.read_text("utf-8")) == _bundle(EX01_JSON)


def test_convert_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "convert", EX01_YAML)
    assert code == EXIT_OK
    assert json.loads(out)["resourceType"] == "Bundle"


def test_convert_rejects_a_json_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "convert", EX01_JSON)
    assert_unusable(code, out, err, ".yaml")


def test_convert_reports_schema_problems(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad-case.yaml"
    path.write_text("schema: mbcnav-case/1\npatient: {sex: banana}\nprimary: {}\n", encoding="utf-8")
    target = tmp_path / "out.json"
    code, out, err = run(capsys, "convert", str(path), "-o", str(target))
    assert_unusable(code, out, err, "patient/sex")
    assert not target.exists()


def test_convert_full_urls_are_uuid_urns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "convert", EX01_YAML)
    assert code == EXIT_OK
    for entry in json.loads(out)["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        uuid.UUID(entry["fullUrl"].removeprefix("urn:uuid:"))


# ---- odd values: the CLI must still answer 0 or 2, never 70 (internal error) -------------------------------------

_ECOG = '{"coding": [{"system": "http://loinc.org", "code": "89247-1"}]}'
_PDL1 = '{"text": "PD-L1 combined positive score (CPS)"}'


def _observation(code: str, value: str) -> str:
    """An Observation as JSON text, with `value` written verbatim (so it can be a number JSON allows but Python
    would not produce, such as 1e999 or a 400-digit integer)."""
    return (
        '{"resourceType": "Observation", "status": "final", "code": '
        + code
        + ', "valueQuantity": {"value": '
        + (value + "}}")
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_observation(_ECOG, "1" + "0" * 400), id="ecog-valueQuantity-10**400"),
        pytest.param('{"resourceType": "Patient", "id": ["p1"], "gender": "female"}', id="patient-id-list"),
        pytest.param(
            '{"resourceType": "Patient", "id": "p\\ud800", "gender": "female"}', id="patient-id-lone-surrogate"
        ),
        pytest.param(
            _observation(_ECOG, "2" + "0" * 300),
            id="ecog-valueQuantity-2e300",
        ),
        pytest.param('{"resourceType": "Patient", "id": "p-é-🧬", "gender": "female"}', id="patient-id-unicode"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_odd_values_never_cause_an_internal_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, fmt: str
) -> None:
    path = tmp_path / "odd.json"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), "--format", fmt, *AS_OF)
    assert code in (EXIT_OK, EXIT_UNUSABLE), err
    assert "internal error" not in err
    if fmt == "json":
        report = _strict_json(out)
        assert report["resourceType" if code == EXIT_UNUSABLE else "schema_version"]


def _strict_json(text: str) -> Any:
    def reject(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=reject)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1e999", id="1e999"),
        pytest.param("12", id="12"),
    ],
)
def test_format_json_output_is_strict_json(capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str) -> None:
    # A finite CPS is reported as given; an infinite one must not make the report invalid JSON.
    path = tmp_path / "pdl1.json"
    path.write_text(_observation(_PDL1, value), encoding="utf-8")
    code, out, err = run(capsys, "assess", str(path), "--format", "json", *AS_OF)
    assert code == EXIT_OK, err
    cps = _strict_json(out)["subtype"]["pdl1_cps"]
    assert cps is None or math.isfinite(cps)
    if value == "12":
        assert cps == 12
