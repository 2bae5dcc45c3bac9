"""The architecture holds: one pathway below every face, renderers in one place, no import cycle — the contracts of
.importlinter are kept, they say the layers we mean, and they fail when an import breaks them."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

CONFIG = ROOT / ".importlinter"
LINT = Path(sys.executable).with_name("lint-imports")  # import-linter, a dev dependency, next to this interpreter

LAYERS = [
    "mbcnav.cli",
    "mbcnav.commands",
    "mbcnav.service | mbcnav.cohort",
    "mbcnav.render | mbcnav.outcome | mbcnav.summary",
    "mbcnav.pathway",
    "mbcnav.trials | mbcnav.options | mbcnav.response | mbcnav.monitoring | mbcnav.chart",
    "mbcnav.assess",
    "mbcnav.record",
    "mbcnav.knowledge | mbcnav.terminology",
    "mbcnav.dates",
]


def _contracts() -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser()
    assert parser.read(CONFIG, encoding="utf-8"), CONFIG
    return {s.removeprefix("importlinter:contract:"): parser[s] for s in parser.sections() if ":contract:" in s}


def _lint(cwd: Path, src: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if src is not None:  # analyse this copy of the package instead of the installed one
        env["PYTHONPATH"] = str(src)
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_contracts_are_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [c["name"] for c in _contracts().values()]
    for name in names:
        assert f"{name} KEPT" in result.stdout, name
    assert f"Contracts: {len(names)} kept, 0 broken." in result.stdout


def test_the_contracts_say_the_architecture() -> None:
    contracts = _contracts()
    assert contracts["layers"]["type"] == "layers"
    assert contracts["layers"]["layers"].split() == " ".join(LAYERS).split()
    commands = contracts["commands"]
    assert (commands["type"], commands["forbidden_modules"].strip()) == ("forbidden", "mbcnav.commands")
    assert commands["ignore_imports"].strip() == "mbcnav.cli -> mbcnav.commands"  # the console script, no one else
    assert contracts["acyclic"]["type"] == "acyclic_siblings"
    assert "mbcnav.record" in contracts["acyclic"]["ancestors"].split()


VIOLATIONS = {  # a file of a copy of the package, an import that breaks a contract
    "response/engine.py": "from mbcnav.pathway import evaluate  # layers: response is below the pathway\n",
    "render/__init__.py": "from mbcnav.commands import main  # only mbcnav.cli imports the commands\n",
    "render/assessment.py": "from mbcnav.record.reader import read_path  # a renderer reads no input\n",
    "record/fhir.py": "from mbcnav.record.reader import flatten  # reader -> fhir -> reader: a cycle\n",
}


def test_a_broken_contract_fails(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "mbcnav", src / "mbcnav", ignore=shutil.ignore_patterns("__pycache__"))
    violations = dict(VIOLATIONS)
    service = src / "mbcnav" / "service" / "__init__.py"
    if service.exists():
        violations["service/__init__.py"] = "from mbcnav.commands import main  # the service never calls a command\n"
    for name, line in violations.items():
        path = src / "mbcnav" / name
        path.write_text(path.read_text("utf-8") + line, "utf-8")
    result = _lint(tmp_path, src)
    assert result.returncode == 1, result.stdout + result.stderr
    for contract in _contracts().values():
        assert f"{contract['name']} BROKEN" in result.stdout, contract["name"]
    assert "mbcnav.response.engine -> mbcnav.pathway" in result.stdout
    if service.exists():
        assert "mbcnav.service -> mbcnav.commands" in result.stdout
