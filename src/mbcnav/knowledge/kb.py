"""The treatment-options knowledge base (options.yaml + evidence.yaml): loading, schema checks, lint, conditions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from mbcnav.knowledge.drugs import catalogue

_OPS = ("eq", "ne", "in", "not_in", "gte", "lte", "gt", "lt", "is_unknown")


@dataclass(frozen=True, slots=True)
class Leaf:
    fact: str
    op: str
    expected: Any
    says: str
    actual: Any
    result: bool | None

    def text(self) -> str:
        shown = "unknown" if self.actual is None else self.actual
        return f"{self.says} ({self.fact} = {shown})"


@dataclass(frozen=True, slots=True)
class Verdict:
    result: bool | None
    leaves: tuple[Leaf, ...] = field(default=())

    def true_leaves(self) -> list[Leaf]:
        return [x for x in self.leaves if x.result is True]

    def false_leaves(self) -> list[Leaf]:
        return [x for x in self.leaves if x.result is False]

    def unknown_leaves(self) -> list[Leaf]:
        return [x for x in self.leaves if x.result is None]


def _compare(op: str, actual: Any, expected: Any) -> bool | None:
    if op == "is_unknown":
        return actual is None
    if actual is None:
        return None
    try:
        if op == "eq":
            return bool(actual == expected)
        if op == "ne":
            return bool(actual != expected)
        if op == "in":
            return actual in expected
        if op == "not_in":
            return actual not in expected
        if op == "gte":
            return bool(actual >= expected)
        if op == "lte":
            return bool(actual <= expected)
        if op == "gt":
            return bool(actual > expected)
        if op == "lt":
            return bool(actual < expected)
    except TypeError:
        return None
    raise ValueError(f"unknown operator {op!r}")


def evaluate(cond: dict[str, Any], facts: dict[str, Any]) -> Verdict:
    """Three-valued evaluation (true / false / unknown): an unknown fact never counts as false."""
    if "all" in cond:
        parts = [evaluate(c, facts) for c in cond["all"]]
        leaves = tuple(x for p in parts for x in p.leaves)
        if any(p.result is False for p in parts):
            return Verdict(False, leaves)
        return Verdict(None if any(p.result is None for p in parts) else True, leaves)
    if "any" in cond:
        parts = [evaluate(c, facts) for c in cond["any"]]
        leaves = tuple(x for p in parts for x in p.leaves)
        if any(p.result is True for p in parts):
            return Verdict(True, leaves)
        return Verdict(None if any(p.result is None for p in parts) else False, leaves)
    if "not" in cond:
        inner = evaluate(cond["not"], facts)
        return Verdict(None if inner.result is None else not inner.result, inner.leaves)
    op = next(o for o in _OPS if o in cond)
    actual = facts.get(cond["fact"])
    leaf = Leaf(cond["fact"], op, cond[op], cond["says"], actual, _compare(op, actual, cond[op]))
    return Verdict(leaf.result, (leaf,))


def iter_leaves(cond: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("all", "any"):
        if key in cond:
            for c in cond[key]:
                yield from iter_leaves(c)
            return
    if "not" in cond:
        yield from iter_leaves(cond["not"])
        return
    yield cond


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    options: dict[str, Any]
    evidence: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.options["version"])

    @property
    def reviewed(self) -> str:
        return str(self.options["reviewed"])

    def option(self, option_id: str) -> dict[str, Any] | None:
        return next((o for o in self.options["options"] if o["id"] == option_id), None)

    @property
    def trials(self) -> dict[str, dict[str, Any]]:
        return {t["id"]: t for t in self.evidence["trials"]}

    @property
    def guidelines(self) -> dict[str, dict[str, Any]]:
        return {g["id"]: g for g in self.evidence["guidelines"]}


def _text(name: str) -> str:
    return resources.files("mbcnav.knowledge").joinpath(name).read_text(encoding="utf-8")


def schema_errors(options: Any, evidence: Any) -> list[str]:
    out = []
    for doc, schema_name, label in (
        (options, "schemas/options.schema.json", "options.yaml"),
        (evidence, "schemas/evidence.schema.json", "evidence.yaml"),
    ):
        schema = json.loads(_text(schema_name))
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            out.append(f"{label}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}")
    return out


def lint(kb: KnowledgeBase, is_known_fact: Callable[[str], bool]) -> list[str]:
    """Problems a reviewer must fix: schema, dangling references, uncited options, unknown facts or drugs."""
    problems = schema_errors(kb.options, kb.evidence)
    if problems:
        return problems
    trials, guidelines = kb.trials, kb.guidelines
    cats = kb.options["categories"]
    drugs = catalogue().drugs
    ids: set[str] = set()

    def check_cond(where: str, cond: dict[str, Any]) -> None:
        for leaf in iter_leaves(cond):
            if not is_known_fact(leaf["fact"]):
                problems.append(f"{where}: unknown fact {leaf['fact']!r}")

    for o in kb.options["options"]:
        where = f"option {o['id']}"
        if o["id"] in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(o["id"])
        if o["category"] not in cats:
            problems.append(f"{where}: unknown category {o['category']!r}")
        problems += [f"{where}: drug {d!r} not in the drug catalogue" for d in o["drugs"] if d not in drugs]
        problems += [f"{where}: evidence {e!r} not in evidence.yaml" for e in o["evidence"] if e not in trials]
        problems += [f"{where}: guideline {g!r} not in evidence.yaml" for g in o["guideline"] if g not in guidelines]
        if not o["evidence"] and not o["guideline"]:
            problems.append(f"{where}: no evidence and no guideline cited")
        for key in ("scope", "requires"):
            check_cond(f"{where}.{key}", o[key])
        for r in o.get("tier_rules", []):
            check_cond(f"{where}.tier_rules", r["when"])
        for x in o.get("exclusions", []):
            check_cond(f"{where}.exclusions.{x['id']}", x["when"])
        for c in o.get("cautions", []):
            if "when" in c:
                check_cond(f"{where}.cautions", c["when"])
    for g in kb.options.get("global_exclusions", []):
        check_cond(f"global exclusion {g['id']}", g["when"])
        problems += [f"global exclusion {g['id']}: unknown category {c!r}" for c in g["categories"] if c not in cats]
        problems += [
            f"global exclusion {g['id']}: citation {r!r} not in evidence.yaml"
            for r in g.get("evidence", []) + g.get("guideline", [])
            if r not in trials and r not in guidelines
        ]
    for r in kb.options.get("global_tier_rules", []):
        check_cond(f"global tier rule {r['id']}", r["when"])
    for t in kb.options["tests"]:
        check_cond(f"test {t['id']}", t["when"])
    for r in kb.options["referrals"]:
        check_cond(f"referral {r['to']}", r["when"])
    for f in kb.options["fact_tests"]:
        if not is_known_fact(f):
            problems.append(f"fact_tests: unknown fact {f!r}")
    cited = {e for o in kb.options["options"] for e in o["evidence"]}
    problems += [
        f"evidence.yaml: trial {t!r} is cited by no option (remove it or cite it)"
        for t in trials
        if t not in cited
        and not any(t in g.get("evidence", []) for g in kb.options.get("global_exclusions", []))
        and not any(t in x.get("evidence", []) for x in kb.options["tests"])
    ]
    return problems


def load_unchecked() -> KnowledgeBase:
    """The knowledge base as written, for `mbcnav kb lint` to report on (even when it is invalid)."""
    return KnowledgeBase(yaml.safe_load(_text("options.yaml")), yaml.safe_load(_text("evidence.yaml")))


@cache
def knowledge_base() -> KnowledgeBase:
    raw = load_unchecked()
    options, evidence = raw.options, raw.evidence
    errors = schema_errors(options, evidence)
    if errors:
        raise RuntimeError("knowledge base is invalid: " + "; ".join(errors[:5]))
    return KnowledgeBase(options, evidence)
