"""The evidence shown to clinicians is real text: no editing placeholders left in a population, result or citation."""

from __future__ import annotations

import re
from importlib import resources

import yaml

PLACEHOLDER = re.compile(r"\(unchanged|\bTODO\b|\bTBD\b|\bFIXME\b|\bXXX\b|lorem ipsum", re.IGNORECASE)


def test_no_placeholder_text_in_the_evidence() -> None:
    text = resources.files("mbcnav.knowledge").joinpath("evidence.yaml").read_text("utf-8")
    doc = yaml.safe_load(text)
    bad = []
    for section in doc.values():
        if not isinstance(section, list):
            continue
        for entry in section:
            for field in ("citation", "population", "result", "name", "title"):
                value = entry.get(field) if isinstance(entry, dict) else None
                if isinstance(value, str) and PLACEHOLDER.search(value):
                    bad.append(f"{entry.get('id')}.{field}: {value[:80]}")
    assert bad == []
