"""Issue 16, the command line and its outputs: output errors are user errors, every command speaks the same way
(README synopsis = parser), --as-of means "as known on that date", readable text at 80 columns, RECIST without
measurable disease, and a cohort read per file."""

from __future__ import annotations

import argparse
import errno
import io
import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from mbcnav import outcome
from mbcnav.cli import main
from mbcnav.commands import build_parser
from mbcnav.dates import PartialDate
from mbcnav.outcome import AS_OF_LOCATION, EXIT_INTERNAL, EXIT_OK, EXIT_UNUSABLE
from mbcnav.record.fhir import AS_OF_LOCATION as READER_AS_OF_LOCATION
from mbcnav.record.fhir import record_from_resources
from mbcnav.record.reader import flatten, load_resources
from mbcnav.response.recist import LesionInfo, LineWindow, ResponseConfig, _Reading, evaluate_line

from .conftest import ROOT

AS_OF = ["--as-of", "2026-11-26"]
EX04 = ROOT / "examples" / "fhir" / "04-her2-positive-brain.json"
EX02 = ROOT / "examples" / "fhir" / "02-recurrence-on-adjuvant-ai.json"
CASE04 = ROOT / "examples" / "cases" / "04-her2-positive-brain.yaml"
CASE05 = ROOT / "examples" / "cases" / "05-tnbc-pdl1-cps-high.yaml"
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def outcome_of(out: str) -> dict[str, Any]:
    doc = json.loads(out)
    assert doc["resourceType"] == "OperationOutcome"
    return dict(doc)


def case(pid: str, **extra: Any) -> dict[str, Any]:
    doc = yaml.safe_load(CASE04.read_text("utf-8"))
    doc["id"] = pid
    doc.update(extra)
    return dict(doc)


def cohort(tmp_path: Path, n: int = 2) -> Path:
    folder = tmp_path / "cohort"
    folder.mkdir()
    for i in range(n):
        (folder / f"p{i}.yaml").write_text(yaml.safe_dump(case(f"p{i}")), "utf-8")
    return folder


# ---- 1. output errors are user errors (exit 2, never 70) ---------------------------------------------------------


def test_convert_to_an_unwritable_path_is_a_user_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for target in (a_file / "out.json", tmp_path / "missing" / "out.json", tmp_path):
        code, _, err = run(capsys, "convert", str(CASE04), "-o", str(target))
        assert code == EXIT_UNUSABLE, err
        assert err.startswith(f"mbcnav: cannot write {target}") and "internal error" not in err
    assert not list(tmp_path.glob("*.tmp"))


def test_plot_folder_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a_file = tmp_path / "plots"
    a_file.write_text("x")
    code, out, err = run(capsys, "response", str(CASE04), "--plot", str(a_file), *AS_OF)
    assert code == EXIT_UNUSABLE and "it is a file, not a folder" in err and out == ""
    code, out, _ = run(capsys, "response", str(CASE04), "--plot", str(a_file), "--format", "json", *AS_OF)
    assert code == EXIT_UNUSABLE
    assert "not a folder" in outcome_of(out)["issue"][0]["diagnostics"]  # only the outcome: strict JSON


def test_read_only_plot_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mbcnav.outcome.os.access", lambda *_: False)  # the test may run as root
    code, _, err = run(capsys, "response", str(CASE04), "--plot", str(tmp_path / "p"), *AS_OF)
    assert code == EXIT_UNUSABLE and "read-only" in err


def test_plot_write_failure_is_a_user_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mbcnav.response import plots

    def full(*_: Any, **__: Any) -> list[Path]:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plots, "spider", full)
    code, out, _ = run(capsys, "response", str(CASE04), "--plot", str(tmp_path), "--format", "json", *AS_OF)
    assert code == EXIT_UNUSABLE
    assert "No space left on device" in outcome_of(out)["issue"][0]["diagnostics"]


class _FullStream(io.StringIO):
    def write(self, s: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_full_stdout_in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setattr(sys, "stdout", _FullStream())
    code = main(["assess", str(EX02), "--format", fmt, *AS_OF])
    err = capsys.readouterr().err
    assert code == EXIT_UNUSABLE
    assert "cannot write standard output: No space left on device" in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_dev_full_exits_2_with_one_message() -> None:
    exe = Path(sys.executable).with_name("mbcnav")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [str(exe), "assess", str(EX02), "--format", "json", *AS_OF],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == EXIT_UNUSABLE
    assert proc.stderr.strip() == "mbcnav: cannot write standard output: No space left on device"


def test_unreadable_input_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = cohort(tmp_path)

    def denied(self: Path) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", denied)
    for command in ("assess", "options", "response"):
        code, out, err = run(capsys, command, str(folder), "--format", "json")
        assert code == EXIT_UNUSABLE, (command, err)
        assert "cannot read the folder (Permission denied)" in outcome_of(out)["issue"][0]["diagnostics"]


# ---- 2. every command speaks the same way -------------------------------------------------------------------------


def _leaves(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: p}
    out: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for name, child in subs[0].choices.items():
        out.update(_leaves(child, (*path, name)))
    return out


def _synopsis() -> dict[tuple[str, ...], str]:
    text = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"## Command line\s+```\n(.*?)```", text, re.S)
    assert block is not None, "README: no synopsis block under '## Command line'"
    joined = re.sub(r"\n\s+", " ", block.group(1).strip())
    out: dict[tuple[str, ...], str] = {}
    leaves = _leaves(build_parser())
    names = {n for path in leaves for n in path}
    for line in joined.splitlines():
        words = line.split()
        assert words[0] == "mbcnav", line
        path = tuple(w for w in words[1:3] if w in names and not w.startswith("-"))
        if len(path) == 2 and path not in leaves:
            path = path[:1]
        rest = " ".join(words[1 + len(path) :])
        assert path not in out, f"README synopsis lists {path} twice"
        out[path] = rest
    return out


def _options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", text))


def test_readme_synopsis_matches_thebuild_parser() -> None:
    readme = _synopsis()
    top = readme.pop((), "")
    assert _options(top) == {"--version", "--help"}
    leaves = _leaves(build_parser())
    assert set(readme) == set(leaves), "commands in the README synopsis and in the parser differ"
    for path, p in leaves.items():
        text = readme[path]
        documented = _options(text)
        actions = [a for a in p._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
        for a in actions:
            shown = documented & set(a.option_strings)
            assert shown, f"mbcnav {' '.join(path)}: {a.option_strings[-1]} is missing from the README synopsis"
            if a.choices:
                opt = next(iter(shown))
                m = re.search(rf"{re.escape(opt)} ([\w|-]+)", text)
                assert m and set(m.group(1).split("|")) == set(a.choices), (path, opt)
        known = {s for a in actions for s in a.option_strings}
        assert documented <= known, f"mbcnav {' '.join(path)}: README lists {documented - known} not in the parser"
        positionals = [a for a in p._actions if not a.option_strings]
        outside = re.sub(r"\[[^\]]*\]", " ", text)  # what is not optional: positionals and required options
        for a in actions:  # a required option stands outside brackets, an optional one inside
            assert bool(set(a.option_strings) & _options(outside)) == bool(a.required), (path, a.option_strings)
        outside = re.sub(r"(?<![\w-])--?[a-z][a-z-]*(?: (?![-\[])\S+)?", " ", outside)  # a required option's value
        bare = outside.split()
        optional = [g for g in re.findall(r"\[([^\]]*)\]", text) if not g.startswith("-")]
        assert len(bare) == sum(a.nargs not in ("?", "*") for a in positionals), (path, bare)
        assert len(optional) == sum(a.nargs in ("?", "*") for a in positionals), (path, optional)


def test_readme_exit_codes_match_help() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    bullet = next(line for line in text.split("\n- ") if line.startswith("Exit codes"))
    readme_codes = {int(c) for c in re.findall(r"\*\*(\d+)\*\*", bullet)}
    help_codes = {int(c) for c in re.findall(r"(?:;|:) (\d+) ", outcome.EXIT_CODES_HELP)}
    expected = {EXIT_OK, outcome.EXIT_PARTIAL, EXIT_UNUSABLE, EXIT_INTERNAL, outcome.EXIT_INTERRUPTED}
    assert readme_codes == help_codes == expected
    assert build_parser().epilog == outcome.EXIT_CODES_HELP
    assert "70 internal error" in " ".join(build_parser().format_help().split())


def _all_parsers(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {path: p}
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, child in a.choices.items():
                out.update(_all_parsers(child, (*path, name)))
    return out


def test_every_argument_has_help() -> None:
    for path, p in _all_parsers(build_parser()).items():
        for a in p._actions:
            assert a.help and a.help != argparse.SUPPRESS, f"mbcnav {' '.join(path)} {a.dest}: no help text"
        assert p.epilog and "70" in p.epilog, path


def test_outcome_never_imports_a_command() -> None:
    src = (ROOT / "src" / "mbcnav" / "outcome.py").read_text("utf-8")
    assert not re.search(r"^\s*(from|import) mbcnav(\.\w+)*\.(cli|commands)\b", src, re.M)
    commands = sorted((ROOT / "src" / "mbcnav" / "commands").glob("*.py"))
    assert {c.stem for c in commands} >= {"assess", "response", "options", "kb", "convert", "trials"}
    for command in commands:  # commands share mbcnav.outcome, not the console script (tests/test_layers.py)
        text = command.read_text("utf-8")
        assert not re.search(r"^\s*(from|import) mbcnav\.cli\b", text, re.M), command.name
        assert command.stem in ("__init__", "common") or "mbcnav.outcome import" in text, command.name
        assert "def _err(" not in text, command.name  # one way to say a user error: mbcnav.outcome.user_error
    assert AS_OF_LOCATION == READER_AS_OF_LOCATION


def test_trials_match_unusable_input_is_an_operation_outcome(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, out, _ = run(capsys, "trials", "match", str(bad), "--format", "json", "--db", f"sqlite:///{tmp_path}/t.db")
    assert code == EXIT_UNUSABLE
    assert "not valid JSON" in outcome_of(out)["issue"][0]["diagnostics"]


def test_trials_match_strict_and_patient(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = json.loads(EX02.read_text("utf-8"))
    obs = next(e for e in doc["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["resource"].pop("valueCodeableConcept", None)
    obs["resource"].pop("valueQuantity", None)
    obs["resource"].pop("valueInteger", None)
    obs["resource"]["component"] = "not a list"
    messy = tmp_path / "messy.json"
    messy.write_text(json.dumps(doc))
    db = f"sqlite:///{tmp_path}/none/t.db"
    code, out, _ = run(capsys, "trials", "match", str(messy), "--strict", "--format", "json", "--db", db)
    assert code == EXIT_UNUSABLE and "strict mode" in outcome_of(out)["issue"][0]["diagnostics"]
    code, _, err = run(capsys, "trials", "match", str(cohort(tmp_path)), "--db", db)
    assert code == EXIT_UNUSABLE and "--patient" in err
    code, _, err = run(capsys, "trials", "match", str(tmp_path / "cohort"), "--patient", "p1", "--db", db)
    assert code == EXIT_UNUSABLE and "folder" in err and "does not exist" in err  # the patient was read
    assert not (tmp_path / "none").exists()  # a missing store folder is named, never created by match


def test_missing_store_folder_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/nonexistent/dir/x.db"
    code, _, err = run(capsys, "trials", "search", "breast", "--db", db)
    assert code == EXIT_UNUSABLE and f"the trial store folder {tmp_path}/nonexistent/dir does not exist" in err
    code, out, _ = run(capsys, "trials", "search", "breast", "--db", db, "--format", "json")
    assert code == EXIT_UNUSABLE and "does not exist" in outcome_of(out)["issue"][0]["diagnostics"]
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("value", ["bogus", "", "open-ish", "recruiting;drop"])
def test_unknown_status_is_refused(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["trials", "match", str(CASE04), "--status", value])
    assert exc.value.code == EXIT_UNUSABLE
    assert "unknown status" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "normalised"),
    [("Recruiting", "RECRUITING"), ("active, not recruiting", "ACTIVE_NOT_RECRUITING"), ("ANY", "any")],
)
def test_known_statuses_are_normalised(value: str, normalised: str) -> None:
    args = build_parser().parse_args(["trials", "match", "x.yaml", "--status", value])
    assert args.status == normalised


def test_response_takes_patient_and_strict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = cohort(tmp_path, 3)
    code, out, _ = run(capsys, "response", str(folder), "--patient", "p1", "--format", "json", *AS_OF)
    assert code == EXIT_OK and json.loads(out)["patient"] == "p1"
    code, out, _ = run(capsys, "response", str(folder), "--patient", "nobody", "--format", "json", *AS_OF)
    assert code == EXIT_UNUSABLE and "nobody" in outcome_of(out)["issue"][0]["diagnostics"]
    code, _, _ = run(capsys, "response", str(CASE04), "--strict", *AS_OF)
    assert code == EXIT_OK


def test_a_folder_means_the_same_to_every_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = cohort(tmp_path)
    for command in ("assess", "options"):
        code, _, err = run(capsys, command, str(folder), *AS_OF)
        assert code == EXIT_UNUSABLE and "2 different patients" in err and "--patient" in err, command
        code, out, _ = run(capsys, command, str(folder), "--patient", "p0", "--format", "json", *AS_OF)
        assert code == EXIT_OK, command
    code, out, _ = run(capsys, "response", str(folder), "--format", "json", *AS_OF)
    assert code == EXIT_OK and [p["patient"] for p in json.loads(out)["patients"]] == ["p0", "p1"]
    # one patient split over files (a case file is read like a bundle): one patient for every command
    single = tmp_path / "single"
    single.mkdir()
    (single / "a.yaml").write_text(yaml.safe_dump(case("solo")), "utf-8")
    code, out, _ = run(capsys, "assess", str(single), "--format", "json", *AS_OF)
    assert code == EXIT_OK and json.loads(out)["patient"]["id"] == "solo"
    code, out, _ = run(capsys, "response", str(single), "--format", "json", *AS_OF)
    assert code == EXIT_OK and json.loads(out)["patient"] == "solo"


# ---- 3. --as-of: as known on that date ----------------------------------------------------------------------------


def test_as_of_leaves_later_facts_out_and_says_so_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "assess", str(EX04), "--format", "json", "--as-of", "2023-01-15")
    assert code == EXIT_OK
    j = json.loads(out)
    assert "brain" not in j["sites"] and j["cns"] is False  # the brain metastasis of October 2023 is not known yet
    assert len(j["input_issues"]) == 1
    issue = j["input_issues"][0]
    assert issue["location"] == AS_OF_LOCATION and "later fact(s) not used" in issue["message"]
    assert "future" not in json.dumps(j)
    assert run(capsys, "assess", str(EX04), "--strict", "--as-of", "2023-01-15")[0] == EXIT_OK
    code, out, _ = run(capsys, "response", str(EX04), "--format", "json", "--as-of", "2023-01-15")
    assert code == EXIT_OK and any("later fact" in n for n in json.loads(out)["notes"])


def test_dates_after_the_real_today_stay_input_issues() -> None:
    doc = json.loads(EX02.read_text("utf-8"))
    cond = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Condition")
    cond["onsetDateTime"] = "2099-01-01"
    record = record_from_resources(flatten(doc, "x.json:"), today=date(2026, 11, 26), as_of=date(2025, 1, 1))
    assert any("future" in i.message for i in record.input_issues)


_EX04_RESOURCES = load_resources(EX04)


@PROPS
@given(as_of=st.dates(min_value=date(2021, 1, 1), max_value=date(2026, 11, 26)))
def test_no_fact_after_as_of_is_used(as_of: date) -> None:
    record = record_from_resources(_EX04_RESOURCES, today=date(2026, 11, 26), as_of=as_of)
    assert [i.location for i in record.input_issues] in ([], [AS_OF_LOCATION])
    dated = (
        [m.date for m in record.metastases] + [t.start for t in record.therapies] + [t.end for t in record.therapies]
    )
    dated += [m.date for m in record.measurements] + [r.date for r in record.receptors]
    for d in dated:
        assert d is None or d.earliest <= as_of


# ---- 4. readable text at 80 columns -------------------------------------------------------------------------------


def _render_response(path: Path, as_of: date) -> str:
    from mbcnav.outcome import read_patient
    from mbcnav.pathway import assess_with_response
    from mbcnav.render.response import render_response

    _, report = assess_with_response(read_patient(path, as_of=as_of), as_of=as_of)
    con = Console(width=80, record=True, file=io.StringIO(), highlight=False)
    render_response(report, con)
    return con.export_text()


def test_response_text_at_80_columns_keeps_every_word() -> None:
    text = _render_response(CASE04, date(2026, 11, 26))
    assert "non-CR/non-PD" in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_assessment_text_at_80_columns_keeps_every_word() -> None:
    from mbcnav.outcome import read_patient
    from mbcnav.pathway import assess_with_response
    from mbcnav.render.assessment import render_assessment

    for path in sorted((ROOT / "examples" / "cases").glob("[0-9]*.yaml")):
        a, _ = assess_with_response(read_patient(path, as_of=date(2026, 11, 26)), as_of=date(2026, 11, 26))
        con = Console(width=80, record=True, file=io.StringIO(), highlight=False)
        render_assessment(a, con)
        text = con.export_text()
        assert "…" not in text, path.name
        flat = " ".join(text.split())
        for line in a.lines:
            for drug in line.drugs:
                assert drug.split()[0] in flat, (path.name, drug)


# ---- 5. RECIST without measurable disease; an ongoing line says which drug stopped --------------------------------


def _info(lid: str, role: str | None) -> LesionInfo:
    return LesionInfo(lid, "liver", "liver", False, False, role, f"Observation/{lid}")


def _line(base: dict[str, float], later: list[dict[str, float]]) -> Any:
    infos = {lid: _info(lid, "target") for lid in base} | {"N1": _info("N1", "non_target")}
    start = date(2024, 1, 10)
    readings: dict[date, dict[str, _Reading]] = {
        date(2024, 1, 5): {
            **{lid: _Reading(size, "absent" if size == 0 else "measured") for lid, size in base.items()},
            "N1": _Reading(None, "present"),
        }
    }
    for i, sizes in enumerate(later, 1):
        readings[start + timedelta(days=42 * i)] = {
            **{lid: _Reading(size, "absent" if size == 0 else "measured") for lid, size in sizes.items()},
            "N1": _Reading(None, "present"),
        }
    window = LineWindow(1, PartialDate.of(start), None, None, ("paclitaxel",))
    return evaluate_line(window, infos, readings, (), ResponseConfig())


def test_targets_of_0_mm_at_baseline_never_give_a_partial_response() -> None:
    r = _line({"L1": 0.0, "L2": 0.0}, [{"L1": 0.0, "L2": 0.0}, {"L1": 0.0, "L2": 0.0}, {"L1": 0.0, "L2": 0.0}])
    assert r.best_overall_response != "PR" and r.best_overall_detail == "non-CR/non-PD"
    assert r.measurable_disease is False and r.targets == []
    j = r.as_json()
    assert j["best_overall_response_detail"] == "non-CR/non-PD" and j["measurable_disease_at_baseline"] is False


@PROPS
@given(
    base=st.lists(st.floats(min_value=0, max_value=9.9, allow_nan=False), min_size=1, max_size=3),
    later=st.lists(st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), min_size=3, max_size=3), max_size=5),
)
def test_without_measurable_disease_only_cr_non_cr_non_pd_or_pd(base: list[float], later: list[list[float]]) -> None:
    ids = [f"L{i}" for i in range(len(base))]
    r = _line(dict(zip(ids, base, strict=False)), [dict(zip(ids, row, strict=False)) for row in later])
    assert r.best_overall_detail in ("CR", "non-CR/non-PD", "PD", "NE")
    assert all(tp.overall != "PR" and tp.target is None for tp in r.timepoints)


def test_ongoing_line_names_the_drug_that_stopped() -> None:
    from mbcnav.outcome import read_patient
    from mbcnav.pathway import assess_with_response
    from mbcnav.render.assessment import line_stops, render_assessment

    a, _ = assess_with_response(read_patient(CASE05, as_of=date(2026, 11, 26)), as_of=date(2026, 11, 26))
    line = a.lines[0]
    assert line.ongoing
    text = line_stops(line)
    assert re.fullmatch(r"nab-paclitaxel stopped \d{4}-\d\d-\d\d for toxicity; pembrolizumab ongoing", text), text
    con = Console(width=80, record=True, file=io.StringIO(), highlight=False)
    render_assessment(a, con)
    flat = " ".join(con.export_text().replace("│", " ").split())
    assert "for toxicity; pembrolizumab ongoing" in flat


# ---- 6. a cohort is read per file ---------------------------------------------------------------------------------


def test_one_corrupt_file_does_not_refuse_the_cohort(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = cohort(tmp_path, 2)
    (folder / "corrupt.json").write_text('{"resourceType": "Bundle", "entry": [', "utf-8")
    code, out, err = run(capsys, "response", str(folder), "--format", "json", *AS_OF)
    assert code == outcome.EXIT_PARTIAL  # something was skipped (exit 1, as `trials load`)...
    doc = json.loads(out)  # ...and the others are reported
    assert [p["patient"] for p in doc["patients"]] == ["p0", "p1"]
    assert [p["file"] for p in doc["problems"]] == ["corrupt.json"]
    assert "not valid JSON" in doc["problems"][0]["message"]
    assert "corrupt.json" in err
    code, out, err = run(capsys, "response", str(folder), *AS_OF)
    assert code == outcome.EXIT_PARTIAL and "RECIST 1.1 response — patient p1" in out and "corrupt.json" in err


def test_a_cohort_of_only_bad_files_is_unusable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("a.json", "b.json"):
        (folder / name).write_text("{", "utf-8")
    code, out, _ = run(capsys, "response", str(folder), "--format", "json", *AS_OF)
    assert code == EXIT_UNUSABLE
    issues = outcome_of(out)["issue"]
    assert {i.get("expression", [""])[0] for i in issues[1:]} == {"a.json", "b.json"}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad=st.lists(st.sampled_from(["{", "[1,", "null", '{"resourceType": 3}', "\x00\x01"]), min_size=1, max_size=3))
def test_cohort_with_any_bad_files_still_reports_the_good_ones(bad: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = cohort(Path(tmp), 2)
        for i, text in enumerate(bad):
            (folder / f"bad{i}.json").write_text(text, "utf-8")
        read = outcome.read_patients(folder, as_of=date(2026, 11, 26))
        assert isinstance(read, outcome.Cohort)
        assert [r.patient.id for _, r in read.records] == ["p0", "p1"]
        assert {p.location for p in read.problems if ":" not in p.location} == {f"bad{i}.json" for i in range(len(bad))}


def test_a_therapy_that_ended_after_as_of_is_ongoing_then(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "assess", str(CASE05), "--format", "json", "--as-of", "2026-03-01")
    assert code == EXIT_OK
    j = json.loads(out)
    nab = next(t for t in j["therapies"] if t["drug"] == "nab-paclitaxel")
    assert nab["end"] is None and nab["reason_stopped"] is None  # stopped for toxicity in June 2026: not known yet
    assert j["lines"][0]["ongoing"] is True


def test_match_with_an_unknown_country_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    assert main(["trials", "load", str(ROOT / "tests" / "data" / "trials" / "expanded-access"), "--db", db]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "trials", "match", str(CASE04), "--db", db, "--country", "Narnia", "--format", "json")
    assert code == EXIT_UNUSABLE and "Narnia" in outcome_of(out)["issue"][0]["diagnostics"]


def test_matching_progress_shows_on_a_terminal_and_passes_every_study(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mbcnav.commands.trials import _matching_progress

    assert list(_matching_progress(iter(range(5)), 5)) == [0, 1, 2, 3, 4]  # not a terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert list(_matching_progress(iter(range(7)), None)) == list(range(7))
    assert "matching trials" in capsys.readouterr().err


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    code=st.sampled_from([errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES]),
    argv=st.sampled_from(
        [
            ["assess", str(EX02), *AS_OF],
            ["assess", str(EX02), "--format", "json", *AS_OF],
            ["response", str(CASE04), "--format", "json", *AS_OF],
            ["convert", str(CASE04)],
            ["kb", "show"],
        ]
    ),
)
def test_any_stdout_failure_is_exit_2(
    code: int, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Failing(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError(code, os.strerror(code))

    with monkeypatch.context() as m:
        m.setattr(sys, "stdout", Failing())
        assert main(argv) == EXIT_UNUSABLE
    err = capsys.readouterr().err
    assert err.startswith("mbcnav: cannot write standard output") and "internal error" not in err


def test_convert_to_a_pipe_writes_to_it_and_never_replaces_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text("utf-8")), daemon=True)
    reader.start()
    code, _, err = run(capsys, "convert", str(CASE04), "-o", str(fifo))
    reader.join(timeout=30)
    assert code == EXIT_OK, err
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # a device or pipe (e.g. -o /dev/full) is never replaced by a file
    assert json.loads(received[0])["resourceType"] == "Bundle"


# ---- 7. one way to end: store errors under --format json; the service commands ------------------------------------


def test_store_errors_are_an_operation_outcome_under_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from mbcnav.trials.migrations import StoreError
    from mbcnav.trials.store import TrialStore

    db = f"sqlite:///{tmp_path}/t.db"
    assert main(["trials", "load", str(ROOT / "tests" / "data" / "trials" / "expanded-access"), "--db", db]) == 0
    capsys.readouterr()

    def failing_search(self: TrialStore, *args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(TrialStore, "search", failing_search)
    code, out, _ = run(capsys, "trials", "search", "breast", "--db", db, "--format", "json")
    assert code == EXIT_UNUSABLE
    assert outcome_of(out)["issue"][0]["diagnostics"] == "the trial store failed: disk I/O error"
    code, out, err = run(capsys, "trials", "search", "breast", "--db", db)
    assert code == EXIT_UNUSABLE and out == "" and "mbcnav: the trial store failed: disk I/O error" in err

    def failing_count(self: TrialStore) -> int:
        raise StoreError("the trial store is locked")

    monkeypatch.setattr(TrialStore, "count", failing_count)
    code, out, _ = run(capsys, "trials", "match", str(CASE04), "--db", db, "--format", "json", *AS_OF)
    assert code == EXIT_UNUSABLE and outcome_of(out)["issue"][0]["diagnostics"] == "the trial store is locked"


def test_auth_token_for_a_patient_needs_the_patient(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["auth", "token", "--sub", "pat", "--role", "patient"])
    assert exc.value.code == EXIT_UNUSABLE
    err = capsys.readouterr().err
    assert "usage: mbcnav auth token" in err and "--role patient needs --patient ID" in err


def test_serve_and_auth_call_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake(name: str, code: int) -> Any:
        def call(**kwargs: Any) -> int:
            calls.append((name, kwargs))
            return code

        return call

    monkeypatch.setattr("mbcnav.service.server.serve", fake("serve", 0))
    monkeypatch.setattr("mbcnav.service.auth.issue_token_cli", fake("token", 2))
    assert main(["serve", "--port", "9000", "--trials-db", "sqlite:///t.db", "--no-sign-in-link"]) == 0
    assert main(["auth", "token", "--sub", "p", "--role", "patient", "--patient", "case-04", "--hours", "1.5"]) == 2
    from mbcnav.service.settings import Settings

    assert calls[0][0] == "serve"
    assert {k: v for k, v in calls[0][1].items() if k != "settings"} == {
        "host": "127.0.0.1",
        "port": 9000,
        "sign_in_link": False,
    }
    assert calls[0][1]["settings"] == Settings(trials_db_url="sqlite:///t.db")
    assert calls[1:] == [
        ("token", {"db_url": None, "sub": "p", "role": "patient", "patient": "case-04", "hours": 1.5}),
    ]


def test_serve_refuses_oidc_options_that_do_not_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["serve", "--oidc-issuer", "https://idp"], ["serve", "--no-embedded-issuer"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == EXIT_UNUSABLE
        assert "usage: mbcnav serve" in capsys.readouterr().err
