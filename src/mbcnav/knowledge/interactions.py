"""Drug interactions and contraindications checked on a drafted order (interactions.yaml): loading, the one drug
matcher (cancer drugs of the catalogue + the other drugs the interactions name), and lint."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from mbcnav.knowledge.drugs import catalogue
from mbcnav.knowledge.kb import iter_leaves, load_yaml
from mbcnav.knowledge.model import InteractionsKb, IxDrugSet

SUMMARY_MAX = 140  # a CDS Hooks card summary


def _text(name: str) -> str:
    return resources.files("mbcnav.knowledge").joinpath(name).read_text(encoding="utf-8")


_RXNORM = ("http://www.nlm.nih.gov/research/umls/rxnorm",)


def _codes(concept: Any) -> list[tuple[str, str]]:
    """(system, code) of a CodeableConcept's codings, tolerant of bad shapes (knowledge does not import terminology)."""
    raw = concept.get("coding") if isinstance(concept, dict) else None
    out = []
    for c in raw if isinstance(raw, list) else []:
        if isinstance(c, dict) and isinstance(c.get("code"), str) and isinstance(c.get("system"), str):
            out.append((c["system"].rstrip("/"), c["code"].strip()))
    return out


def _texts(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    out = [concept["text"]] if isinstance(concept.get("text"), str) and concept["text"].strip() else []
    raw = concept.get("coding")
    for c in raw if isinstance(raw, list) else []:
        if isinstance(c, dict) and isinstance(c.get("display"), str) and c["display"].strip():
            out.append(c["display"])
    return out


def _normal(text: str) -> str:
    """Lower case, punctuation to spaces (as the drug catalogue searches text)."""
    return " " + re.sub(r"[^a-z0-9/\-]+", " ", text.lower()) + " "


@dataclass(frozen=True, slots=True)
class DrugMatcher:
    """Names the drugs of a medication concept: the cancer drug catalogue (RxNorm code, name, synonyms; drugs.yaml)
    first, then the other drugs interactions.yaml names (agents). One matcher for drafted orders and current drugs."""

    agent_classes: dict[str, frozenset[str]]
    by_rxnorm: dict[str, str]
    phrases: tuple[tuple[re.Pattern[str], str], ...]

    def find(self, text: str) -> list[str]:
        """Catalogue drugs and agents named in free text (longest phrase first)."""
        found = list(catalogue().find(text))
        low = _normal(text)
        for pattern, name in self.phrases:
            if pattern.search(low):
                if name not in found:
                    found.append(name)
                low = pattern.sub(" ", low)
        return found

    def match(self, concept: Any) -> list[str]:
        """The drugs of a CodeableConcept (RxNorm codes, then its text and displays)."""
        cat = catalogue()
        names: list[str] = []
        for system, code in _codes(concept):
            if system not in _RXNORM and "rxnorm" not in system:
                continue
            for n in cat.by_rxnorm.get(code, ()):
                if n not in names:
                    names.append(n)
            if code in self.by_rxnorm and self.by_rxnorm[code] not in names:
                names.append(self.by_rxnorm[code])
        for t in _texts(concept):
            names += [n for n in self.find(t) if n not in names]
        return names

    def classes(self, name: str) -> frozenset[str]:
        drug = catalogue().drugs.get(name)
        if drug is not None:
            return drug.classes
        return self.agent_classes.get(name, frozenset())

    def is_known(self, name: str) -> bool:
        return name in catalogue().drugs or name in self.agent_classes

    def in_set(self, name: str, drugset: IxDrugSet) -> bool:
        return name in drugset.drugs or bool(self.classes(name) & set(drugset.classes))


def matcher_of(kb: InteractionsKb) -> DrugMatcher:
    phrase_map: dict[str, str] = {}
    by_rx: dict[str, str] = {}
    for agent in kb.agents:
        for phrase in [agent.name, *agent.synonyms]:
            phrase_map[_normal(phrase).strip()] = agent.name
        if agent.rxnorm:
            by_rx[agent.rxnorm] = agent.name
    phrases = tuple(
        (re.compile(r"(?<![a-z0-9])" + re.escape(p) + r"(?![a-z0-9])"), name)
        for p, name in sorted(phrase_map.items(), key=lambda kv: -len(kv[0]))
    )
    return DrugMatcher({a.name: frozenset(a.classes) for a in kb.agents}, by_rx, phrases)


def schema_errors(doc: Any) -> list[str]:
    schema = json.loads(_text("schemas/interactions.schema.json"))
    return [
        f"interactions.yaml: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)
    ]


def load_unchecked() -> Any:
    return load_yaml(_text("interactions.yaml"))


@cache
def interactions_kb() -> InteractionsKb:
    """interactions.yaml, checked against its JSON Schema and typed (pydantic)."""
    doc = load_unchecked()
    errors = schema_errors(doc)
    if errors:
        raise RuntimeError("interactions.yaml is invalid: " + "; ".join(errors[:5]))
    return InteractionsKb.model_validate(doc)


@cache
def drug_matcher() -> DrugMatcher:
    return matcher_of(interactions_kb())


def _drugsets(doc: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    for ix in doc.get("interactions", []):
        for side in ix.get("pair") or []:
            yield ix["id"], side
        if ix.get("ordered"):
            yield ix["id"], ix["ordered"]


def lint(doc: Any, evidence: dict[str, Any], is_known_fact: Callable[[str], bool]) -> list[str]:
    """Problems a reviewer must fix: schema, unknown drugs or classes, uncited or dangling citations, unknown facts,
    a summary longer than a card allows, an agent that shadows a catalogue drug."""
    problems = schema_errors(doc)
    if problems:
        return problems
    cat = catalogue()
    agents = {a["name"] for a in doc["agents"]}
    known_classes = set(cat.classes) | set(doc["agent_classes"])
    cited = {e["id"] for e in evidence.get("trials", [])} | {g["id"] for g in evidence.get("guidelines", [])}
    catalogue_phrases = {_normal(p).strip() for d in cat.drugs.values() for p in [d.name]} | {
        _normal(s).strip() for s in _catalogue_synonyms()
    }
    for a in doc["agents"]:
        problems += [f"agent {a['name']}: unknown class {c!r}" for c in a["classes"] if c not in doc["agent_classes"]]
        for phrase in [a["name"], *a["synonyms"]]:
            if _normal(phrase).strip() in catalogue_phrases:
                problems.append(f"agent {a['name']}: {phrase!r} is a drug catalogue name (drugs.yaml)")
    if len(agents) != len(doc["agents"]):
        problems.append("agents: duplicate agent name")
    ids: set[str] = set()
    matcher = matcher_of(InteractionsKb.model_validate(doc))
    names = [*cat.drugs, *agents]
    for ix in doc["interactions"]:
        where = f"interaction {ix['id']}"
        if ix["id"] in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(ix["id"])
        for src in ix["sources"]:
            if src["evidence"] not in cited:
                problems.append(f"{where}: citation {src['evidence']!r} not in evidence.yaml")
        if ix.get("when"):
            for leaf in iter_leaves(ix["when"]):
                if not is_known_fact(leaf["fact"]):
                    problems.append(f"{where}: unknown fact {leaf['fact']!r}")
        sides = [IxDrugSet.model_validate(x) for x in (ix.get("pair") or [ix["ordered"]])]
        longest = [max((len(n) for n in names if matcher.in_set(n, side)), default=0) for side in sides]
        # a pair fires either way round: {drug} is one side's name, {other} the other side's
        filled = ix["summary"].replace("{drug}", "x" * longest[0]).replace("{other}", "x" * longest[-1])
        if len(filled) > SUMMARY_MAX:
            problems.append(f"{where}: summary too long for a card with the longest drug names ({len(filled)} > 140)")
        if "{other}" in ix["summary"] and not ix.get("pair"):
            problems.append(f"{where}: {{other}} needs a pair")
    for iid, side in _drugsets(doc):
        problems += [
            f"interaction {iid}: unknown drug {d!r} (not in drugs.yaml or agents)"
            for d in side.get("drugs", [])
            if d not in cat.drugs and d not in agents
        ]
        problems += [
            f"interaction {iid}: unknown class {c!r}" for c in side.get("classes", []) if c not in known_classes
        ]
    return problems


def _catalogue_synonyms() -> list[str]:
    data = load_yaml(resources.files("mbcnav.knowledge").joinpath("drugs.yaml").read_text(encoding="utf-8"))
    return [s for d in data["drugs"] for s in d.get("synonyms", [])]


__all__ = ["SUMMARY_MAX", "DrugMatcher", "drug_matcher", "interactions_kb", "lint", "load_unchecked", "matcher_of"]
