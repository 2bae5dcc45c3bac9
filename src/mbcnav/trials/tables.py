"""The packaged data tables of the trial readers (YAML files beside their modules in mbcnav.trials)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from mbcnav.terminology.patterns import alternation

__all__ = ["alternation", "read_table"]  # alternation lives in terminology (shared with the tumour vocabulary)


def read_table(name: str) -> Any:
    """The parsed YAML file `name` of the mbcnav.trials package."""
    return yaml.safe_load(resources.files("mbcnav.trials").joinpath(name).read_text(encoding="utf-8"))
