"""Tumour types other than breast cancer (tumour_types.yaml), as regular-expression alternations."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from mbcnav.terminology.patterns import alternation


@dataclass(frozen=True, slots=True)
class TumourTypes:
    named: str  # a tumour type named with its cancer word, or a bare type ("ovarian cancer", "nsclc", "melanoma")
    subject: str  # as a subject word ("ovarian patients", "colorectal cohort"): organ names that are metastatic
    # sites still need the cancer word
    no_breast_after: str = ""  # a lookahead: breast cancer (or all solid tumours) is not named later in the sentence


@cache
def tumour_types() -> TumourTypes:
    raw: Any = yaml.safe_load(
        resources.files("mbcnav.terminology").joinpath("tumour_types.yaml").read_text(encoding="utf-8")
    )
    words, bare, sites = raw["with_cancer_word"], raw["bare"], set(raw["site_words"])
    cancer = raw["cancer_words"]

    def alt(items: list[str]) -> str:
        return alternation(items, longest_first=True)

    # "ovarian cancer", "NSCLC", and "carcinoma of the bladder" / "adenocarcinoma of the rectum"
    organs = alt(raw["of_the"])
    named = rf"(?:(?:{alt(words)})\s+{cancer}|{alt(bare)}|{cancer}\s+of\s+the\s+(?:{organs}))"
    loose = [w for w in words if w not in sites]
    subject = rf"(?:(?:{alt(sorted(sites & set(words)))})\s+{cancer}|{alt(loose + bare)})"
    no_breast_after = rf"(?![^.;]*\b(?:{alt(raw['breast_words'])})\b)"
    return TumourTypes(named, subject, no_breast_after)
