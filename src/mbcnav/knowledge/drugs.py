"""The drug catalogue (drugs.yaml): name/code lookup and drug classes, validated against its JSON Schema."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml


@dataclass(frozen=True, slots=True)
class Drug:
    name: str
    rxnorm: str | None
    classes: frozenset[str]
    line_defining: bool
    # not approved for any use by the FDA or in the EU as approvals.yaml records (a trial exclusion of
    # "investigational agents" counts it)
    investigational: bool = False
    oral: bool = False  # taken by mouth (drugs.yaml `route: oral`)


@dataclass(frozen=True, slots=True)
class Catalogue:
    version: str
    classes: dict[str, str]
    drugs: dict[str, Drug]
    by_rxnorm: dict[str, tuple[str, ...]]
    _phrases: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]

    def find(self, text: str) -> list[str]:
        """Catalogue drugs named in free text, longest name first so 'trastuzumab deruxtecan' is not 'trastuzumab'."""
        return self.scan(text)[0]

    def scan(self, text: str) -> tuple[list[str], str]:
        """The catalogue drugs named in free text (as `find`) and the text, normalised, with their names blanked out:
        what else it says."""
        low = " " + re.sub(r"[^a-z0-9/\-]+", " ", text.lower()) + " "
        found: list[str] = []
        for pattern, names in self._phrases:
            if pattern.search(low):
                for n in names:
                    if n not in found:
                        found.append(n)
                low = pattern.sub(" ", low)
        return found, low

    def has_class(self, drug: str, klass: str) -> bool:
        d = self.drugs.get(drug)
        return d is not None and klass in d.classes


def _read(name: str) -> Any:
    text = resources.files("mbcnav.knowledge").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text) if name.endswith(".yaml") else json.loads(text)


def validate_catalogue(data: Any) -> list[str]:
    """Schema and reference errors in a drug catalogue document (empty when valid)."""
    schema = _read("schemas/drugs.schema.json")
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(data)
    ]
    if errors:
        return errors
    names = {d["name"] for d in data["drugs"]}
    if len(names) != len(data["drugs"]):
        errors.append("drugs: duplicate drug name")
    for d in data["drugs"]:
        errors += [f"drugs/{d['name']}: unknown class {c!r}" for c in d["classes"] if c not in data["classes"]]
    for c in data.get("combinations", []):
        errors += [f"combinations: unknown drug {n!r}" for n in c["drugs"] if n not in names]
    return errors


@cache
def catalogue() -> Catalogue:
    data = _read("drugs.yaml")
    errors = validate_catalogue(data)
    if errors:
        raise RuntimeError("drug catalogue is invalid: " + "; ".join(errors))
    drugs: dict[str, Drug] = {}
    by_rx: dict[str, tuple[str, ...]] = {}
    phrase_map: dict[str, tuple[str, ...]] = {}
    for d in data["drugs"]:
        drug = Drug(
            d["name"],
            d.get("rxnorm"),
            frozenset(d["classes"]),
            d.get("line_defining", True),
            d.get("investigational", False),
            d.get("route") == "oral",
        )
        drugs[drug.name] = drug
        if drug.rxnorm:
            by_rx[drug.rxnorm] = (drug.name,)
        for phrase in [drug.name, *d["synonyms"]]:
            phrase_map[phrase.lower()] = (drug.name,)
    for c in data.get("combinations", []):
        for phrase in c["names"]:
            phrase_map[phrase.lower()] = tuple(c["drugs"])
    # Phrases are normalised like the text they are searched in (punctuation -> spaces).
    normalised = {re.sub(r"[^a-z0-9/\-]+", " ", p).strip(): names for p, names in phrase_map.items()}
    phrases = tuple(
        (re.compile(r"(?<![a-z0-9])" + re.escape(p) + r"(?![a-z0-9])"), names)
        for p, names in sorted(normalised.items(), key=lambda kv: -len(kv[0]))
    )
    return Catalogue(data["version"], data["classes"], drugs, by_rx, phrases)
