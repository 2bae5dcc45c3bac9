"""`mbcnav import` and `mbcnav auth token`: the registry from the command line, and a token the service accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mbcnav.cli import main
from mbcnav.outcome import EXIT_OK, EXIT_PARTIAL, EXIT_UNUSABLE
from mbcnav.service.app import create_app
from mbcnav.service.registry import Registry
from mbcnav.service.settings import Settings

from .conftest import ROOT

EXAMPLES = ROOT / "examples"


def test_import_stores_each_file_as_a_patient_and_a_second_import_as_a_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    files = sorted((EXAMPLES / "cases").glob("*.yaml"))[:3]
    assert main(["import", *map(str, files), "--db", db, "--as", "dr-cli"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("version 1" in line and "new patient" in line for line in lines)
    assert main(["import", str(files[0]), "--db", db]) == EXIT_OK
    assert "version 2" in capsys.readouterr().out
    with Registry(db) as reg:
        rows, total = reg.patients()
        assert total == 3
        assert reg.check() == []
        first = next(r for r in rows if r.latest_version == 2)
        assert reg.versions(first.id)[0]["imported_by"] == "dr-cli"


def test_import_of_a_folder_skips_what_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.yaml").write_bytes((EXAMPLES / "cases" / "04-her2-positive-brain.yaml").read_bytes())
    (folder / "bad.json").write_text("{not json")
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["import", str(folder), "--db", db]) == EXIT_PARTIAL
    captured = capsys.readouterr()
    assert "bad.json" in captured.err and "not valid JSON" in captured.err
    assert main(["import", str(folder / "bad.json"), "--db", db]) == EXIT_UNUSABLE


def test_auth_token_is_accepted_by_the_service_on_the_same_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["import", str(EXAMPLES / "cases" / "04-her2-positive-brain.yaml"), "--db", db]) == EXIT_OK
    pid = capsys.readouterr().out.split()[0]
    assert main(["auth", "token", "--sub", "dr-x", "--role", "clinician", "--db", db]) == EXIT_OK
    clinician = capsys.readouterr().out.strip()
    assert main(["auth", "token", "--sub", "pt", "--role", "patient", "--patient", pid, "--db", db]) == EXIT_OK
    patient = capsys.readouterr().out.strip()
    assert main(["auth", "token", "--sub", "pt", "--role", "patient", "--patient", "nobody", "--db", db]) == 2
    client = TestClient(create_app(Settings(db_url=db, warm_trials=False)))
    for token in (clinician, patient):
        r = client.get(f"/api/v1/patients/{pid}/options", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    other = TestClient(create_app(Settings(db_url=f"sqlite:///{tmp_path / 'other.db'}", warm_trials=False)))
    r = other.get("/api/v1/patients", headers={"Authorization": f"Bearer {clinician}"})
    assert r.status_code == 401  # each registry signs with its own secret
