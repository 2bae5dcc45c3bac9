"""The documentation's examples stay true: the case file in docs/casefile.md is valid and assesses as described."""

from __future__ import annotations

import re

import yaml

from mbcnav.assess import assess
from mbcnav.record.casefile import case_to_bundle, check_case
from mbcnav.record.fhir import record_from_resources
from mbcnav.record.reader import flatten

from .conftest import ROOT, TODAY


def test_casefile_doc_example_is_valid_and_assesses() -> None:
    text = (ROOT / "docs" / "casefile.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    case = check_case(yaml.safe_load(block.group(1)), "docs/casefile.md")
    record = record_from_resources(flatten(case_to_bundle(case), "doc:"), today=TODAY)
    j = assess(record, as_of=TODAY).to_json()
    assert j["presentation"] == "recurrent"
    assert j["subtype"]["her2"] == "2+/ISH-" and j["subtype"]["group"] == "HR+/HER2-"
    assert j["endocrine_resistance"] == "sensitive"  # relapse 3 years after adjuvant letrozole ended
    assert [line["drugs"] for line in j["lines"]] == [["letrozole", "ribociclib"]]


def test_readme_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
