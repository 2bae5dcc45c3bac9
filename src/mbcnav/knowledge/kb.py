"""The treatment-options knowledge base (options.yaml + evidence.yaml): loading, schema checks, lint, conditions."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from mbcnav.knowledge.drugs import catalogue
from mbcnav.knowledge.model import (
    KbCompletion,
    KbGlobalExclusion,
    KbGlobalTierRule,
    KbOption,
    MonitoringKb,
    TriageKb,
)

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


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def fill(template: str, facts: dict[str, Any]) -> str:
    """A knowledge-file text with {fact} placeholders filled in (an unknown fact shows as '?')."""

    def value(m: re.Match[str]) -> str:
        v = facts.get(m.group(1))
        return "?" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    return _PLACEHOLDER.sub(value, " ".join(template.split()))


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
class KbModels:
    """The rule sections of options.yaml as typed models (pydantic), so the engine is type-checked end to end."""

    options: tuple[KbOption, ...]
    global_exclusions: tuple[KbGlobalExclusion, ...]
    global_tier_rules: tuple[KbGlobalTierRule, ...]
    completions: tuple[KbCompletion, ...]
    non_drug_alternatives: frozenset[str]
    drugs: dict[str, list[str]]  # option id -> the union of its components' drugs
    approvals: dict[str, list[dict[str, Any]]]  # option id -> approvals.yaml rows (product, regimen, fda, ema)


def models_of(options: dict[str, Any], approvals: dict[str, Any] | None = None) -> KbModels:
    """The typed rule sections, with what the engine derives from them once: drug unions and the label index."""
    opts = tuple(KbOption.model_validate(o) for o in options["options"])
    non_drug = frozenset(options.get("non_drug_alternatives", []))
    by_option: dict[str, list[dict[str, Any]]] = {}
    for name, product in (approvals or {}).get("products", {}).items():
        row = {"product": name, **{k: v for k, v in product.items() if k in ("regimen", "fda", "ema")}}
        for oid in product.get("option_ids", []):
            by_option.setdefault(oid, []).append(row)
    return KbModels(
        opts,
        tuple(KbGlobalExclusion.model_validate(g) for g in options.get("global_exclusions", [])),
        tuple(KbGlobalTierRule.model_validate(r) for r in options.get("global_tier_rules", [])),
        tuple(KbCompletion.model_validate(c) for c in options.get("completions", [])),
        non_drug,
        {o.id: option_drugs(o, non_drug) for o in opts},
        by_option,
    )


def alternative_drugs(alternative: str) -> list[str]:
    """'gemcitabine + carboplatin' -> both drugs; a single generic name -> itself."""
    return [x.strip() for x in alternative.split(" + ") if x.strip()]


def option_drugs(option: KbOption, non_drug: frozenset[str] = frozenset()) -> list[str]:
    """The union of the drugs an option's components can use (the contract's `drugs`), in order."""
    out: list[str] = []
    for comp in option.components:
        for alt in comp.alternatives:
            for d in alternative_drugs(alt):
                if d not in non_drug and d not in out:
                    out.append(d)
    return out


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    options: dict[str, Any]
    evidence: dict[str, Any]
    models: KbModels | None = None
    approvals: dict[str, Any] | None = None  # approvals.yaml: regulatory status per product, joined by option id
    unknowns: dict[str, Any] | None = None  # unknowns.yaml: what is unknown and matters, and the tests that decide

    @property
    def unknown_entries(self) -> list[dict[str, Any]]:
        return list((self.unknowns or {}).get("unknowns", []))

    @property
    def fact_tests(self) -> dict[str, str]:
        return dict((self.unknowns or {}).get("fact_tests", {}))

    def approvals_for(self, option_id: str) -> list[dict[str, Any]]:
        """Each product's FDA and EU status for this option's indication, as the label says (approvals.yaml)."""
        return [dict(x) for x in self.typed.approvals.get(option_id, [])]

    @property
    def typed(self) -> KbModels:
        return self.models if self.models is not None else models_of(self.options, self.approvals)

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


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping: YAML would silently keep the last one, and a
    second `exclusions:` would drop the first list of safety rules unseen."""


def _no_duplicate_keys(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {key_node.start_mark.line + 1})", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def load_yaml(text: str) -> Any:
    """Load a knowledge file: plain YAML, but a duplicated key is an error."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def _text(name: str) -> str:
    return resources.files("mbcnav.knowledge").joinpath(name).read_text(encoding="utf-8")


def schema_errors(options: Any, evidence: Any, unknowns: Any = None) -> list[str]:
    out = []
    docs = [
        (options, "schemas/options.schema.json", "options.yaml"),
        (evidence, "schemas/evidence.schema.json", "evidence.yaml"),
    ]
    if unknowns is not None:
        docs.append((unknowns, "schemas/unknowns.schema.json", "unknowns.yaml"))
    for doc, schema_name, label in docs:
        schema = json.loads(_text(schema_name))
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            out.append(f"{label}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}")
    return out


def lint(kb: KnowledgeBase, is_known_fact: Callable[[str], bool]) -> list[str]:
    """Problems a reviewer must fix: schema, dangling references, uncited options, unknown facts or drugs."""
    problems = schema_errors(kb.options, kb.evidence, kb.unknowns)
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
        non_drug = set(kb.options.get("non_drug_alternatives", []))
        for comp in o.get("components", []):
            for alt in comp["alternatives"]:
                problems += [
                    f"{where}: drug {d!r} not in the drug catalogue"
                    for d in alternative_drugs(alt)
                    if d not in drugs and d not in non_drug
                ]
            if "when" in comp:
                check_cond(f"{where}.components", comp["when"])
        if o.get("modality", "systemic") == "systemic" and not o.get("components") and not o.get("continue_current"):
            problems.append(f"{where}: a systemic option needs components")
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
            problems += [
                f"{where}.exclusions.{x['id']}: citation {r!r} not in evidence.yaml"
                for r in x.get("evidence", []) + x.get("guideline", [])
                if r not in trials and r not in guidelines
            ]
        for c in o.get("cautions", []):
            if "when" in c:
                check_cond(f"{where}.cautions", c["when"])
    for c in kb.options.get("completions", []):
        check_cond(f"completion {c['id']}", c["when"])
    for g in kb.options.get("global_exclusions", []):
        check_cond(f"global exclusion {g['id']}", g["when"])
        if "unknown_when" in g:
            check_cond(f"global exclusion {g['id']}.unknown_when", g["unknown_when"])
        problems += [
            f"global exclusion {g['id']}: unknown category {c!r}" for c in g.get("categories", []) if c not in cats
        ]
        problems += [
            f"global exclusion {g['id']}: unknown drug class {c!r}"
            for key in ("classes_any", "lacks_classes", "only_classes")
            for c in g.get(key, [])
            if c not in catalogue().classes
        ]
        problems += [
            f"global exclusion {g['id']}: citation {r!r} not in evidence.yaml"
            for r in g.get("evidence", []) + g.get("guideline", [])
            if r not in trials and r not in guidelines
        ]
    for r in kb.options.get("global_tier_rules", []):
        check_cond(f"global tier rule {r['id']}", r["when"])
    for u in kb.unknown_entries:
        check_cond(f"unknowns.yaml {u['id']}", u["when"])
        problems += [
            f"unknowns.yaml {u['id']}: covers unknown fact {f!r}" for f in u.get("covers", []) if not is_known_fact(f)
        ]
        problems += [
            f"unknowns.yaml {u['id']}: citation {r!r} not in evidence.yaml"
            for r in u.get("evidence", []) + u.get("guideline", [])
            if r not in trials and r not in guidelines
        ]
    for r in kb.options["referrals"]:
        check_cond(f"referral {r['to']}", r["when"])
    for f in kb.fact_tests:
        if not is_known_fact(f):
            problems.append(f"unknowns.yaml fact_tests: unknown fact {f!r}")
    cited = {e for o in kb.options["options"] for e in o["evidence"]}
    cited |= {e for o in kb.options["options"] for x in o.get("exclusions", []) for e in x.get("evidence", [])}
    cited |= {e for c in kb.options.get("completions", []) for e in c.get("evidence", [])}
    cited |= care_citations()
    problems += [
        f"evidence.yaml: trial {t!r} is cited by no option (remove it or cite it)"
        for t in trials
        if t not in cited
        and not any(t in g.get("evidence", []) for g in kb.options.get("global_exclusions", []))
        and not any(t in x.get("evidence", []) for x in kb.unknown_entries)
    ]
    problems += care_lint(kb.evidence)
    return problems


def currency_gaps(kb: KnowledgeBase) -> list[str]:
    """Options whose newest trial is newer than every guideline they cite (a reviewer's to-do, not an error:
    guidelines lag the trials; docs/knowledge.md lists them)."""
    trials, guides = kb.trials, kb.guidelines
    out = []
    for o in kb.options["options"]:
        t_years: list[int] = [int(trials[e]["year"]) for e in o["evidence"] if e in trials and trials[e].get("year")]
        g_years: list[int] = [int(guides[g]["year"]) for g in o["guideline"] if g in guides and guides[g].get("year")]
        if t_years and (not g_years or max(g_years) < max(t_years)):
            newest = max(g_years) if g_years else None
            out.append(f"{o['id']}: newest trial {max(t_years)}, newest guideline cited {newest or 'none'}")
    return out


def load_unchecked() -> KnowledgeBase:
    """The knowledge base as written, for `mbcnav kb lint` to report on (even when it is invalid)."""
    return KnowledgeBase(
        load_yaml(_text("options.yaml")),
        load_yaml(_text("evidence.yaml")),
        approvals=load_yaml(_text("approvals.yaml")),
        unknowns=load_yaml(_text("unknowns.yaml")),
    )


@cache
def knowledge_base() -> KnowledgeBase:
    raw = load_unchecked()
    errors = schema_errors(raw.options, raw.evidence, raw.unknowns)
    if errors:
        raise RuntimeError("knowledge base is invalid: " + "; ".join(errors[:5]))
    return dataclasses.replace(raw, models=models_of(raw.options, raw.approvals))


# ---- follow-up plan and symptom triage (monitoring.yaml, triage.yaml): loading and lint -----------------------------
CARE_FILES = (
    ("monitoring.yaml", "schemas/monitoring.schema.json"),
    ("triage.yaml", "schemas/triage.schema.json"),
)


def _care_doc(name: str) -> Any:
    return load_yaml(_text(name))


def _care_schema_problems(doc: Any, name: str, schema_name: str) -> list[str]:
    schema = json.loads(_text(schema_name))
    return [
        f"{name}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)
    ]


@cache
def monitoring_kb() -> MonitoringKb:
    """The follow-up plan items (monitoring.yaml), checked against their JSON Schema."""
    doc = _care_doc("monitoring.yaml")
    errors = _care_schema_problems(doc, "monitoring.yaml", "schemas/monitoring.schema.json")
    if errors:
        raise RuntimeError("monitoring.yaml is invalid: " + "; ".join(errors[:5]))
    return MonitoringKb.model_validate(doc)


@cache
def triage_kb() -> TriageKb:
    """The symptom questionnaire and triage rules (triage.yaml), checked against their JSON Schema."""
    doc = _care_doc("triage.yaml")
    errors = _care_schema_problems(doc, "triage.yaml", "schemas/triage.schema.json")
    if errors:
        raise RuntimeError("triage.yaml is invalid: " + "; ".join(errors[:5]))
    return TriageKb.model_validate(doc)


def care_citations() -> set[str]:
    """Every evidence id cited by monitoring.yaml and triage.yaml (so a trial cited only there is not unused)."""
    out: set[str] = set()
    try:
        mon, tri = _care_doc("monitoring.yaml"), _care_doc("triage.yaml")
    except (OSError, yaml.YAMLError):
        return out
    for item in (mon or {}).get("items", []) if isinstance(mon, dict) else []:
        if isinstance(item, dict):
            out |= {str(x) for x in [item.get("source"), item.get("interval_source"), *item.get("also", [])] if x}
    if isinstance(tri, dict):
        out |= {str(x) for x in tri.get("rationale", [])}
        out |= {str(r) for r in [tri.get("model", {}).get("source"), tri.get("escalation", {}).get("source")] if r}
        out |= {str(s) for r in tri.get("rules", []) if isinstance(r, dict) for s in r.get("sources", [])}
    return out


def _triage_condition_problems(where: str, cond: dict[str, Any], tri: TriageKb) -> list[str]:
    out: list[str] = []
    for key in ("all", "any"):
        if key in cond:
            for c in cond[key]:
                out += _triage_condition_problems(where, c, tri)
            return out
    if "not" in cond:
        return _triage_condition_problems(where, cond["not"], tri)
    if "group" in cond and cond["group"] not in tri.groups:
        out.append(f"{where}: unknown group {cond['group']!r}")
    if "item" in cond:
        q = tri.question(cond["item"])
        if q is None:
            return [f"{where}: unknown question {cond['item']!r}"]
        if "gte" in cond and q.type != "temperature":
            out.append(f"{where}: {q.link_id!r} is not a number (gte needs a temperature item)")
        if "in" in cond:
            allowed = tri.answer_sets.get(q.type, [])
            out += [f"{where}: {q.link_id!r} has no answer {v!r}" for v in cond["in"] if v not in allowed]
    return out


def care_lint(evidence: dict[str, Any]) -> list[str]:
    """Problems in monitoring.yaml and triage.yaml: schema, citations missing from evidence.yaml, unknown drugs,
    classes, questions, answers or groups, duplicate ids."""
    known = {e["id"] for e in evidence.get("trials", [])} | {g["id"] for g in evidence.get("guidelines", [])}
    problems: list[str] = []
    docs: dict[str, Any] = {}
    for name, schema_name in CARE_FILES:
        try:
            docs[name] = _care_doc(name)
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{name}: cannot be read: {exc}")
            continue
        problems += _care_schema_problems(docs[name], name, schema_name)
    if problems:
        return problems
    cat = catalogue()
    mon = MonitoringKb.model_validate(docs["monitoring.yaml"])
    seen: set[str] = set()
    for item in mon.items:
        where = f"monitoring.yaml {item.id}"
        if item.id in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(item.id)
        problems += [f"{where}: citation {s!r} not in evidence.yaml" for s in item.sources if s not in known]
        problems += [f"{where}: drug {d!r} not in the drug catalogue" for d in item.applies.drugs if d not in cat.drugs]
        problems += [f"{where}: unknown drug class {c!r}" for c in item.applies.classes if c not in cat.classes]
        if item.evidence.type != "labs" and item.evidence.analytes:
            problems.append(f"{where}: analytes are read only for evidence type labs")
    tri = TriageKb.model_validate(docs["triage.yaml"])
    problems += [
        f"triage.yaml: citation {s!r} not in evidence.yaml"
        for s in [tri.tool.source, tri.escalation.source, *tri.rationale]
        if s not in known
    ]
    links = [q.link_id for q in tri.questions]
    problems += [f"triage.yaml: duplicate question {x!r}" for x in sorted({x for x in links if links.count(x) > 1})]
    for name, group in tri.groups.items():
        problems += [
            f"triage.yaml group {name}: drug {d!r} not in the drug catalogue" for d in group.drugs if d not in cat.drugs
        ]
        problems += [
            f"triage.yaml group {name}: unknown drug class {c!r}" for c in group.classes if c not in cat.classes
        ]
    rule_ids: set[str] = set()
    for rule in tri.rules:
        where = f"triage.yaml rule {rule.id}"
        if rule.id in rule_ids:
            problems.append(f"{where}: duplicate id")
        rule_ids.add(rule.id)
        problems += [f"{where}: citation {s!r} not in evidence.yaml" for s in rule.sources if s not in known]
        problems += _triage_condition_problems(where, rule.when, tri)
    return problems
