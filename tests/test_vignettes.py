"""Clinical vignettes: for each patient, options a guideline says must be offered and must not be (cited in
tests/vignettes/EXPECTED.yaml). Also: every option of the knowledge base is reachable, and every exclusion fires."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from mbcnav.knowledge.kb import knowledge_base
from mbcnav.options import recommend
from mbcnav.record import read_path
from mbcnav.response import assess_with_response

from .conftest import ROOT, TODAY

VIGNETTES = ROOT / "tests" / "vignettes"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((VIGNETTES / "EXPECTED.yaml").read_text())


@cache
def options_for(path: Path) -> dict[str, Any]:
    a, _ = assess_with_response(read_path(path, today=TODAY), as_of=TODAY)
    return recommend(a).as_json(a)


def test_at_least_30_vignettes_with_citations() -> None:
    assert len(EXPECTED) >= 30
    for name, exp in EXPECTED.items():
        assert (VIGNETTES / name).exists(), name
        assert exp["rationale"].strip(), name
        assert not set(exp.get("must_offer", [])) & set(exp.get("must_not_offer", [])), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vignette(name: str) -> None:
    doc = options_for(VIGNETTES / name)
    offered = {o["id"] for o in doc["options"]}
    exp = EXPECTED[name]
    missing = set(exp.get("must_offer", [])) - offered
    wrong = set(exp.get("must_not_offer", [])) & offered
    assert not missing, f"{name}: must be offered: {sorted(missing)} — {exp['rationale']}"
    assert not wrong, f"{name}: must NOT be offered: {sorted(wrong)} — {exp['rationale']}"


def _all_docs() -> list[dict[str, Any]]:
    paths = sorted(VIGNETTES.glob("[0-9]*.yaml")) + sorted((ROOT / "examples" / "cases").glob("[0-9]*.yaml"))
    return [options_for(p) for p in paths]


def test_every_option_is_reachable() -> None:
    offered = {o["id"] for doc in _all_docs() for o in doc["options"]}
    all_ids = {o["id"] for o in knowledge_base().options["options"]}
    assert all_ids - offered == set(), "options no vignette or example reaches"


def test_every_exclusion_rule_fires() -> None:
    fired = {rule for doc in _all_docs() for o in doc["not_offered"] for rule in o.get("excluded_by", [])}
    fired |= {rule for doc in _all_docs() for o in doc["options"] for rule in o.get("caution_rules", [])}
    kb = knowledge_base().options
    rules = {g["id"] for g in kb["global_exclusions"]}
    rules |= {x["id"] for o in kb["options"] for x in o.get("exclusions", [])}
    assert rules - fired == set(), "exclusion rules no vignette exercises"
