"""`mbcnav response`: JSON contract, plots, cohort mode, and RECIST progression feeding the line-of-therapy rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mbcnav.assess import assess
from mbcnav.cli import main
from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path

from .conftest import TODAY

CASE = {
    "schema": "mbcnav-case/1",
    "id": "recist-demo",
    "patient": {"sex": "female", "birth_date": "1960-02", "menopausal_status": "post"},
    "primary": {"diagnosis_date": "2018-03-01", "laterality": "left"},
    "receptors": [
        {"marker": "ER", "percent": 0, "specimen": "primary", "date": "2018-03-01"},
        {"marker": "PR", "percent": 0, "specimen": "primary", "date": "2018-03-01"},
        {"marker": "HER2", "ihc": "0", "specimen": "primary", "date": "2018-03-01"},
    ],
    "metastases": [{"site": "liver", "date": "2024-01-02", "lesions": 2}],
    "therapies": [
        # no reason_stopped recorded: the RECIST engine must supply the progression
        {"drug": "capecitabine", "start": "2024-01-15", "end": "2024-07-20", "setting": "metastatic"},
        {"drug": "eribulin", "start": "2024-07-25", "setting": "metastatic"},
    ],
    "measurements": [
        {"lesion": "L1", "site": "liver", "date": "2024-01-08", "size_mm": 40},
        {"lesion": "L2", "site": "liver", "date": "2024-01-08", "size_mm": 20},
        {"lesion": "L1", "site": "liver", "date": "2024-03-18", "size_mm": 30},
        {"lesion": "L2", "site": "liver", "date": "2024-03-18", "size_mm": 15},
        {"lesion": "L1", "site": "liver", "date": "2024-07-15", "size_mm": 45},
        {"lesion": "L2", "site": "liver", "date": "2024-07-15", "size_mm": 22},
        {"lesion": "L1", "site": "liver", "date": "2024-10-01", "size_mm": 30},
        {"lesion": "L2", "site": "liver", "date": "2024-10-01", "size_mm": 14},
        {"lesion": "L1", "site": "liver", "date": "2024-12-01", "size_mm": 28},
        {"lesion": "L2", "site": "liver", "date": "2024-12-01", "size_mm": 12},
    ],
}


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    p = tmp_path / "recist-demo.yaml"
    p.write_text(yaml.safe_dump(CASE))
    return p


def test_json_contract(case_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["response", str(case_file), "--format", "json", "--as-of", "2026-11-26"]) == 0
    doc = json.loads(capsys.readouterr().out)
    first, second = doc["lines"]
    assert first["line"] == 1 and first["baseline"]["date"] == "2024-01-08"
    assert {t["id"] for t in first["baseline"]["target_lesions"]} == {"L1", "L2"}
    assert first["baseline"]["sum_mm"] == 60
    tp = first["timepoints"][0]
    assert set(tp) >= {
        "date",
        "sum_mm",
        "change_from_baseline_pct",
        "change_from_nadir_pct",
        "target",
        "non_target",
        "new_lesions",
        "overall",
    }
    assert [t["overall"] for t in first["timepoints"]] == ["SD", "PD"]  # -25% then +48% over nadir 45
    assert first["best_overall_response"] == "SD" and first["confirmed"] is False
    assert first["progression_date"] == "2024-07-15"
    assert second["baseline"]["date"] == "2024-07-15"  # a new line resets the baseline
    assert second["best_overall_response"] == "PR" and second["confirmed"] is True


def test_recist_progression_feeds_lines(case_file: Path) -> None:
    record = read_path(case_file, today=TODAY)
    plain = assess(record, as_of=TODAY).to_json()
    assert plain["lines"][0]["reason_stopped"] is None  # nothing recorded
    enriched, _ = assess_with_response(record, as_of=TODAY)
    line1 = enriched.to_json()["lines"][0]
    assert line1["reason_stopped"] == "progression"


def test_assess_command_uses_recist_progression(case_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", str(case_file), "--format", "json", "--as-of", "2026-11-26"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"][0]["reason_stopped"] == "progression"


def test_plots_are_written(case_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    assert main(["response", str(case_file), "--plot", str(out), "--as-of", "2026-11-26"]) == 0
    for name in ("spider.png", "spider.svg", "swimmer.png", "swimmer.svg"):
        assert (out / name).stat().st_size > 1000
    svg = (out / "spider.svg").read_text()
    assert "capecitabine" in svg and "eribulin" in svg


def test_cohort_folder_gives_waterfall(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for i, shrink in enumerate((0.5, 0.9, 1.3)):
        case = json.loads(json.dumps(CASE))
        case["id"] = f"p{i}"
        case["measurements"] = [
            {"lesion": "L1", "site": "liver", "date": "2024-01-08", "size_mm": 40},
            {"lesion": "L1", "site": "liver", "date": "2024-03-18", "size_mm": 40 * shrink},
        ]
        (cohort / f"p{i}.yaml").write_text(yaml.safe_dump(case))
    (cohort / "broken.yaml").write_text("schema: mbcnav-case/1\n")
    # a file that cannot be read is reported and skipped, the rest kept; the exit code says something was skipped
    assert (
        main(["response", str(cohort), "--format", "json", "--plot", str(tmp_path / "w"), "--as-of", "2026-11-26"]) == 1
    )
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert [p["patient"] for p in doc["patients"]] == ["p0", "p1", "p2"]
    assert doc["problems"][0]["file"] == "broken.yaml"
    assert "broken.yaml" in captured.err
    assert (tmp_path / "w" / "waterfall.png").stat().st_size > 1000


def test_unusable_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["response", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_case_file_rejects_impossible_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = json.loads(json.dumps(CASE))
    case["measurements"][0]["size_mm"] = -3
    p = tmp_path / "neg.yaml"
    p.write_text(yaml.safe_dump(case))
    assert main(["response", str(p)]) == 2
    assert "measurements/0/size_mm" in capsys.readouterr().err


def test_role_stated_at_a_later_baseline_reselects_targets(tmp_path: Path) -> None:
    """RECIST 1.1 §4.2 at a new line's baseline: a lesion the record names a non-target there (a 6 mm remnant of a
    first-line target) leaves the target sum of that line, though it kept its first-line target role; the roles
    travel through the case file's FHIR bundle (recist-role on the assessment Observation)."""
    case = {**CASE, "id": "recist-roles"}
    ms = [dict(x) for x in CASE["measurements"]]
    ms[0]["role"] = ms[1]["role"] = "target"  # first line: both targets
    ms[5] = {"lesion": "L2", "site": "liver", "date": "2024-07-15", "status": "too_small", "role": "non_target"}
    case["measurements"] = ms
    p = tmp_path / "roles.yaml"
    p.write_text(yaml.safe_dump(case))
    record = read_path(p, today=TODAY)
    assert {(m.lesion_id, m.role) for m in record.measurements if m.role} == {
        ("L1", "target"),
        ("L2", "target"),
        ("L2", "non_target"),
    }
    lines = assess_with_response(record, as_of=TODAY)[1].lines
    first, second = lines
    assert {t.lesion_id for t, _ in first.targets} == {"L1", "L2"} and first.baseline_sum == 60
    assert {t.lesion_id for t, _ in second.targets} == {"L1"} and second.baseline_sum == 45  # not 45 + 5 mm
    assert "L2" in {n.lesion_id for n in second.non_targets}


def test_stated_targets_beyond_the_recist_limits_are_kept_with_a_note(tmp_path: Path) -> None:
    """RECIST 1.1 §4.2: at most 2 targets per organ. Three stated liver targets stay as the record states them (the
    radiologist's choice), and the line says they break the rule."""
    case = {**CASE, "id": "recist-three-liver"}
    ms = [dict(x) for x in CASE["measurements"][:2]]
    ms.append({"lesion": "L3", "site": "liver", "date": "2024-01-08", "size_mm": 15})
    for x in ms:
        x["role"] = "target"
    case["measurements"] = ms + [dict(x) for x in CASE["measurements"][2:4]]
    p = tmp_path / "three.yaml"
    p.write_text(yaml.safe_dump(case))
    first = assess_with_response(read_path(p, today=TODAY), as_of=TODAY)[1].lines[0]
    assert first.baseline_sum == 75
    assert any("3 stated targets in liver" in n and "at most 2 per organ" in n for n in first.notes)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"irradiated": True}, "previously irradiated area (RECIST 1.1 §3.1.3"),
        ({"size_mm": 8}, "below the 10 mm minimum"),
    ],
)
def test_a_stated_target_that_is_not_measurable_says_why(
    tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    """fresh8 q10: "is a stated target but is not measurable by RECIST 1.1 at baseline (34.0 mm)" read as a size
    problem for a lesion that was not measurable because it had been irradiated."""
    case = {**CASE, "id": "recist-stated-not-measurable"}
    ms = [dict(x) for x in CASE["measurements"][:4]]
    ms[0] |= {"role": "target", **change}
    ms[1]["role"] = "target"
    case["measurements"] = ms
    p = tmp_path / "stated.yaml"
    p.write_text(yaml.safe_dump(case))
    first = assess_with_response(read_path(p, today=TODAY), as_of=TODAY)[1].lines[0]
    (note,) = [n for n in first.notes if n.startswith("lesion L1 is a stated target")]
    assert reason in note and note.endswith("kept as a target because the record names it")


def test_a_target_irradiated_after_the_baseline_is_noted(tmp_path: Path) -> None:
    """fresh8 q06: SBRT to the progressing rib target while the line went on; its later sizes reflect the
    radiotherapy too. A radiotherapy elsewhere, or before the baseline, says nothing."""
    case = {**CASE, "id": "recist-irradiated-later"}
    ms = [dict(x) for x in CASE["measurements"]]
    for x in ms:
        x["lesion"] = {"L1": "liver segment VI", "L2": "liver segment II"}[x["lesion"]]
    case["measurements"] = ms
    case["procedures"] = [
        {"kind": "radiotherapy", "description": "SBRT", "date": "2024-04-02", "site": "liver segment VI"},
        {"kind": "radiotherapy", "description": "whole brain", "date": "2024-04-02", "site": "brain"},
        {"kind": "radiotherapy", "description": "breast", "date": "2019-04-02", "site": "liver segment II"},
    ]
    p = tmp_path / "rt.yaml"
    p.write_text(yaml.safe_dump(case))
    first = assess_with_response(read_path(p, today=TODAY), as_of=TODAY)[1].lines[0]
    noted = [n for n in first.notes if "was irradiated on" in n]
    assert noted == [
        "target liver segment VI was irradiated on 2024-04-02 (after this line's baseline): its later sizes reflect "
        "the radiotherapy as well as the line; read the response from then on with that in mind"
    ]
