"""Population screening (`mbcnav cohort`): both engines give the same tables on one synthetic Bulk Data export of
2,000 patients; bad lines and orphan resources are reported, never fatal; a re-run gives the same tables; a run that
dies leaves no output. One Spark session (local[2]) for the module."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mbcnav.cohort import classify_line, patient_key, screen_export
from mbcnav.cohort.core import TABLES, screen_patient
from mbcnav.cohort.output import atomic_folder
from mbcnav.cohort.synthetic import write_export
from mbcnav.commands.app import main

from .conftest import ROOT, TODAY

N = 2000
SEED = 7
TRIALS = ROOT / "tests" / "data" / "trials" / "api"


def _table(path: Path) -> list[dict[str, Any]]:
    """A table as rows, in file order (Spark: its part files in name order)."""
    if path.is_dir():
        parts = sorted(path.glob("part-*.parquet"))
        return pa.concat_tables([pq.read_table(p) for p in parts]).to_pylist() if parts else []
    return pq.read_table(path).to_pylist()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("export")
    stats = write_export(N, folder, seed=SEED)
    # One file compressed, as Bulk Data servers may serve them.
    plain = folder / "Procedure.ndjson"
    with plain.open("rb") as src, gzip.open(folder / "Procedure.ndjson.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain.unlink()
    return folder, stats


@pytest.fixture(scope="module")
def trials_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from mbcnav.trials.load import load_paths
    from mbcnav.trials.store import TrialStore

    url = f"sqlite:///{tmp_path_factory.mktemp('trials') / 'trials.db'}"
    with TrialStore(url) as store:
        load_paths(store, [TRIALS])
    return url


@pytest.fixture(scope="module")
def local_out(export: tuple[Path, Any], trials_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "cohort"
    screen_export(export[0], out, as_of=TODAY, trials_db=trials_db, workers=2, progress=False)
    return out


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    from mbcnav.cohort.spark import session

    s = session("local[2]", partitions=4)
    yield s
    s.stop()


def test_the_engines_give_identical_tables(
    export: tuple[Path, Any], trials_db: str, local_out: Path, spark: Any, tmp_path: Path
) -> None:
    out = tmp_path / "spark"
    result = screen_export(export[0], out, engine="spark", as_of=TODAY, trials_db=trials_db, spark=spark)
    for name in TABLES:
        local_rows = _table(local_out / f"{name}.parquet")
        spark_rows = _table(out / f"{name}.parquet")
        assert local_rows == spark_rows, name
        assert [c for c, _ in TABLES[name]] == pq.read_schema(local_out / f"{name}.parquet").names
    assert result.counts.rows["patients"] == N
    assert (out / "summary.html").read_text().count("<svg") == 4
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in local_out.iterdir())


def test_the_tables_say_what_the_cohort_holds(export: tuple[Path, Any], local_out: Path) -> None:
    _, stats = export
    patients = _table(local_out / "patients.parquet")
    assert [p["patient_id"] for p in patients] == sorted(p["patient_id"] for p in patients)
    assert len(patients) == N
    breast = [p for p in patients if p["breast_cancer"]]
    assert stats.breast * 0.85 < len(breast) <= stats.breast  # a few lost their primary with the dropped facts
    metastatic = [p for p in breast if p["metastatic"]]
    assert {p["subtype"] for p in metastatic} >= {"HR+/HER2-", "HR-/HER2+", "TNBC"}
    assert {s for p in metastatic for s in (p["sites"] or "").split(";")} >= {"bone", "liver", "lung", "brain"}
    assert {p["lines"] for p in metastatic} >= {0, 1, 2}
    assert any(p["conflicts"] for p in patients)  # the contradicting receptor results
    findings = _table(local_out / "chart_findings.parquet")
    assert {f["kind"] for f in findings} >= {"missing_metastasis"}
    due = _table(local_out / "monitoring_due.parquet")
    assert {d["status"] for d in due} == {"overdue", "due_soon"}
    assert any(d["kind"] == "cardiac" for d in due)  # LVEF on trastuzumab
    candidates = _table(local_out / "trial_candidates.parquet")
    assert candidates and max(c["rank"] for c in candidates) <= 5
    ids = {p["patient_id"] for p in metastatic}
    assert {c["patient_id"] for c in candidates} <= ids
    summary = (local_out / "summary.html").read_text()
    assert summary.count("<svg") == 4 and "Gaps found" in summary
    run = json.loads((local_out / "run.json").read_text())
    assert run["rows"]["patients"] == N


def test_bad_lines_and_orphans_are_reported_not_fatal(export: tuple[Path, Any], local_out: Path) -> None:
    _, stats = export
    problems = _table(local_out / "problems.parquet")
    kinds = [p["kind"] for p in problems]
    assert kinds.count("malformed") == stats.malformed
    assert kinds.count("orphan") == stats.orphans
    first = next(p for p in problems if p["kind"] == "malformed")
    assert first["file"].endswith((".ndjson", ".ndjson.gz")) and first["line"] >= 1
    assert [(p["file"], p["line"]) for p in problems] == sorted((p["file"], p["line"]) for p in problems)


def test_a_rerun_gives_the_same_tables(export: tuple[Path, Any], trials_db: str, local_out: Path) -> None:
    out = local_out.parent / "again"
    screen_export(export[0], out, as_of=TODAY, trials_db=trials_db, workers=1, progress=False, limit=300)
    first = _table(local_out / "patients.parquet")[:300]
    assert _table(out / "patients.parquet") == first
    ids = {p["patient_id"] for p in first}
    assert _table(out / "monitoring_due.parquet") == [
        r for r in _table(local_out / "monitoring_due.parquet") if r["patient_id"] in ids
    ]


def _line(res: dict[str, Any]) -> str:
    return json.dumps(res)


def test_the_command_on_a_small_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export"
    write_export(20, export, seed=3)
    with (export / "Observation.ndjson").open("a") as fh:
        fh.write('{"resourceType": "Observation", "status": \n')  # cut short
        fh.write("\n")  # blank: ignored
        fh.write(_line({"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"}}) + "\n")
    (export / "Medication.ndjson").write_text(_line({"resourceType": "Medication", "id": "m1"}) + "\n")
    # Resources of a patient whose Patient resource is not in the export.
    with (export / "Condition.ndjson").open("a") as fh:
        fh.write(_line({"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/ghost"}}) + "\n")
    out = tmp_path / "out"
    code = main(["cohort", str(export), "--out", str(out), "--as-of", TODAY.isoformat()])
    text = capsys.readouterr().out
    assert code == 1, text  # done, but lines were skipped (each in the problems table)
    assert "21 patients screened" in text
    problems = _table(out / "problems.parquet")
    assert {p["kind"] for p in problems} >= {"malformed", "orphan", "no_patient_resource"}
    assert (out / "patients.csv").read_text().splitlines()[0].startswith('"patient_id"')
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary folder left


def test_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cohort", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["cohort", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert main(["cohort", str(tmp_path / "empty"), "--spark-master", "local[1]"]) == 2
    write_export(2, tmp_path / "two", seed=1)
    assert main(["cohort", str(tmp_path / "two"), "--trials-db", f"sqlite:///{tmp_path / 'no.db'}"]) == 2
    assert "no trial store" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_run_that_dies_leaves_no_output(
    export: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("kept")
    import mbcnav.cohort.output as output

    def boom(self: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.TableWriter, "close", boom)
    with pytest.raises(OSError):
        screen_export(export[0], out, as_of=TODAY, limit=5, workers=1, progress=False)
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with pytest.raises(KeyboardInterrupt), atomic_folder(tmp_path / "new"):
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_lines_are_keyed_to_their_patient() -> None:
    assert patient_key({"resourceType": "Patient", "id": "p1"}) == "p1"
    assert patient_key({"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}) == "p1"
    assert patient_key({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p1"}}) == "p1"
    assert patient_key({"resourceType": "Observation", "subject": {"reference": "https://h/fhir/Patient/p1"}}) == "p1"
    assert patient_key({"resourceType": "Observation", "subject": {"reference": "Group/g"}}) is None
    assert patient_key({"resourceType": "Observation", "subject": "Patient/p1"}) is None
    assert classify_line('{"resourceType": "Observation"}').kind == "orphan"
    assert classify_line('{"resourceType": "Medication", "id": "m"}').key == "Medication/m"
    assert classify_line('{"resourceType": "Practitioner", "id": "x"}').kind == "shared"
    assert classify_line("[1, 2]").kind == "malformed"
    assert classify_line('{"a": ' + "1" * 5000 + "}").kind == "malformed"
    assert classify_line("{" * 100_000).kind == "malformed"
    assert classify_line("  \n").kind == "blank"


def test_a_patient_whose_record_cannot_be_used_is_a_problem_row() -> None:
    stu3 = {"resourceType": "Condition", "subject": {"reference": "Patient/p"}, "clinicalStatus": "active"}
    sources = [("Patient.ndjson", 1, _line({"resourceType": "Patient", "id": "p"})), ("C.ndjson", 4, _line(stu3))]
    result = screen_patient("p", sources, as_of=TODAY, today=TODAY)
    assert result.rows["patients"][0][:3] == ("p", True, False)
    assert [r[2] for r in result.rows["problems"]] == ["unusable_record"]
    assert "STU3" in result.rows["problems"][0][5]


def test_synthetic_exports_are_reproducible(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_export(30, a, seed=5)
    write_export(30, b, seed=5)
    write_export(40, c, seed=5)
    for f in a.iterdir():
        assert f.read_bytes() == (b / f.name).read_bytes()
        assert (c / f.name).read_bytes().startswith(f.read_bytes())  # patient i is the same whatever N
