"""The packaged data tables of the trial readers (YAML files beside their modules in mbcnav.trials)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

import yaml


def read_table(name: str) -> Any:
    """The parsed YAML file `name` of the mbcnav.trials package."""
    return yaml.safe_load(resources.files("mbcnav.trials").joinpath(name).read_text(encoding="utf-8"))


def alternation(phrases: Iterable[str], *, longest_first: bool = False, word_bounded: bool = False) -> str:
    """One regular expression matching any of a table's phrases, each in its own group: the longest first when a
    shorter phrase could win at the same position, between word boundaries when the table's phrases are words."""
    items = sorted(phrases, key=len, reverse=True) if longest_first else list(phrases)
    alt = "|".join(f"(?:{p})" for p in items)
    return rf"\b(?:{alt})\b" if word_bounded else alt
