"""Map a problem-list Condition (SNOMED CT, ICD-10-CM or words) onto the comorbidities.yaml vocabulary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from mbcnav.terminology.codes import MBCNAV_CS, codings, texts, words_pattern

# mbcnav's own comorbidity codes (the condition keys): written by the case-file reader beside any SNOMED CT concept
COMORBIDITY_CS = f"{MBCNAV_CS}/comorbidity"


@dataclass(frozen=True, slots=True)
class ComorbidityRule:
    name: str
    label: str
    complication: bool
    snomed: tuple[str, ...]  # the first is the concept written into FHIR
    icd10: tuple[str, ...]  # ICD-10-CM codes matched as prefixes ("I48" covers I48.91)
    words: re.Pattern[str]
    snomed_display: str | None


@dataclass(frozen=True, slots=True)
class ComorbidityTable:
    version: str
    rules: tuple[ComorbidityRule, ...]
    not_words: re.Pattern[str]
    negated_before: re.Pattern[str]  # a negation cue just before a condition's words, in the same clause

    def rule(self, name: str) -> ComorbidityRule | None:
        return next((r for r in self.rules if r.name == name), None)


@cache
def comorbidity_table() -> ComorbidityTable:
    data = yaml.safe_load(resources.files("mbcnav.terminology").joinpath("comorbidities.yaml").read_text("utf-8"))
    rules = tuple(
        ComorbidityRule(
            name=name,
            label=str(r["label"]),
            complication=bool(r.get("complication", False)),
            snomed=tuple(str(c) for c in r.get("snomed", [])),
            icd10=tuple(str(c).upper() for c in r.get("icd10", [])),
            words=words_pattern(r["words"]),
            snomed_display=r.get("snomed_display"),
        )
        for name, r in data["conditions"].items()
    )
    negated = re.compile(rf"(?:{'|'.join(data['negated_before'])})\s*$", re.IGNORECASE)
    return ComorbidityTable(str(data["version"]), rules, words_pattern(data["not_words"]), negated)


def comorbidity_names() -> tuple[str, ...]:
    """Every condition key, in table order (the case-file schema's enum)."""
    return tuple(r.name for r in comorbidity_table().rules)


def comorbidity_coded(code: Any) -> str | None:
    """The comorbidity a Condition.code names by mbcnav's own key (a case file's), a SNOMED CT code or an ICD-10-CM
    prefix (its words not read)."""
    coded = list(codings(code))
    names = {r.name for r in comorbidity_table().rules}
    own = next((c for system, c, _ in coded if system == COMORBIDITY_CS and c in names), None)
    if own is not None:
        return own
    for rule in comorbidity_table().rules:
        for system, c, _ in coded:
            if system == "snomed" and c in rule.snomed:
                return rule.name
            if system == "icd10" and any(c.upper().startswith(p) for p in rule.icd10):
                return rule.name
    return None


def comorbidity_in_words(code: Any) -> str | None:
    """The comorbidity a Condition.code's displays and text name (not a family history, a negative test ...)."""
    table = comorbidity_table()
    words = " ; ".join(texts(code))
    if not words or table.not_words.search(words):
        return None
    for rule in table.rules:
        for m in rule.words.finditer(words):
            # "no interstitial lung disease on CT": a condition named after a negation cue in its clause is absent
            clause = re.split(r"[;.,:()]", words[: m.start()])[-1]
            if not table.negated_before.search(clause):
                return rule.name
    return None


def comorbidity_of(code: Any) -> str | None:
    """The comorbidity a Condition.code names: by SNOMED CT code, then ICD-10-CM prefix, then its words."""
    return comorbidity_coded(code) or comorbidity_in_words(code)


def is_complication(name: str | None) -> bool:
    """An oncological emergency of the cancer itself (cord compression, hypercalcaemia), not a metastatic site."""
    rule = comorbidity_table().rule(name) if name else None
    return bool(rule and rule.complication)
