"""Evaluate the knowledge base against one patient's facts: offered / not offered / tests / referrals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mbcnav.assess import Assessment
from mbcnav.knowledge.kb import KnowledgeBase, Leaf, Verdict, evaluate, knowledge_base
from mbcnav.options.facts import build_facts

SCHEMA_VERSION = "1.0"
_TIER_ORDER = {"preferred": 0, "recommended": 1, "consider": 2}
_METASTATIC = {"fact": "metastatic", "eq": True, "says": "metastatic (stage IV) disease"}


@dataclass
class OptionsResult:
    kb: KnowledgeBase
    facts: dict[str, Any]
    basis: dict[str, str]
    offered: list[dict[str, Any]] = field(default_factory=list)
    not_offered: list[dict[str, Any]] = field(default_factory=list)
    tests: list[dict[str, Any]] = field(default_factory=list)
    referrals: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self, assessment: Assessment) -> dict[str, Any]:
        a = assessment.to_json()
        return {
            "schema_version": SCHEMA_VERSION,
            "kb": {"version": self.kb.version, "reviewed": self.kb.reviewed},
            "as_of": a["as_of"],
            "patient": a["patient"]["id"],
            "summary": {
                "stage": a["stage"]["group"],
                "presentation": a["presentation"],
                "subtype": a["subtype"]["group"],
                "her2": a["subtype"]["her2"],
                "sites": a["sites"],
                "endocrine_resistance": a["endocrine_resistance"],
                "lines_so_far": self.facts.get("lines_so_far"),
                "ecog": a["ecog"],
                "current_line": a["lines"][-1] if a["lines"] and a["lines"][-1]["ongoing"] else None,
            },
            "options": self.offered,
            "not_offered": self.not_offered,
            "tests_recommended": self.tests,
            "referrals": self.referrals,
            "unknowns": a["unknowns"],
            "notes": self.notes,
            "disclaimer": "Decision support, not a decision: review with the treating team and current guidelines.",
        }


def _leaf_texts(leaves: list[Leaf]) -> list[str]:
    seen: list[str] = []
    for x in leaves:
        t = x.text()
        if t not in seen:
            seen.append(t)
    return seen


def _evidence(kb: KnowledgeBase, ids: list[str]) -> list[dict[str, Any]]:
    trials = kb.trials
    out = []
    for i in ids:
        t = trials[i]
        out.append(
            {
                "trial": t["name"],
                "citation": t["citation"],
                "pmid": t.get("pmid"),
                "doi": t.get("doi"),
                "population": t.get("population"),
                "result": t.get("result"),
                "note": t.get("note"),
            }
        )
    return out


def _sources(kb: KnowledgeBase, ids: list[str]) -> list[dict[str, Any]]:
    g = kb.guidelines
    return [
        {
            "guideline": g[i]["citation"],
            "pmid": g[i].get("pmid"),
            "doi": g[i].get("doi"),
            "statement": g[i].get("statement"),
        }
        for i in ids
        if i in g
    ]


def _unknown_tests(kb: KnowledgeBase, verdict: Verdict, facts: dict[str, Any]) -> list[str]:
    """Tests that would decide an unknown leaf; a broader rule-based test that applies replaces the narrow one."""
    table = kb.options["fact_tests"]
    tests = []
    for leaf in verdict.unknown_leaves():
        broader = next(
            (
                t["test"]
                for t in kb.options["tests"]
                if leaf.fact in t.get("covers", []) and evaluate(t["when"], facts).result is True
            ),
            None,
        )
        test = broader or table.get(leaf.fact)
        if test and test not in tests:
            tests.append(test)
    return tests


def recommend(a: Assessment, *, kb: KnowledgeBase | None = None, visceral_crisis: bool | None = None) -> OptionsResult:
    """Options for what comes next for this patient, each with why (facts used) and from where (evidence)."""
    kb = kb or knowledge_base()
    facts, basis = build_facts(a, visceral_crisis=visceral_crisis)
    result = OptionsResult(kb, facts, basis)
    if a.stage.metastatic is not True:
        result.notes.append("the record does not establish metastatic disease: options are shown for stage IV only")
    current = a.lines[-1] if a.lines and a.lines[-1].ongoing else None
    if current is not None:
        result.notes.append(
            f"line {current.number} ({', '.join(current.drugs)}) is ongoing: the options below are "
            "for the next decision (progression or intolerance)"
        )
    kbo = kb.options
    tests_seen: dict[str, dict[str, Any]] = {}
    for opt in kbo["options"]:
        # Every option is for stage IV disease: metastatic status is part of every scope.
        scope = evaluate({"all": [_METASTATIC, opt["scope"]]}, facts)
        if scope.result is False:
            continue
        entry = {"id": opt["id"], "title": opt["title"], "category": opt["category"], "drugs": opt["drugs"]}
        if scope.result is None:
            if opt["tier"] == "preferred":
                missing = _leaf_texts(scope.unknown_leaves())
                entry["why_not"] = ["cannot tell whether it applies: " + "; ".join(missing)]
                entry["tests"] = _unknown_tests(kb, scope, facts)
                result.not_offered.append(entry)
                for t in entry["tests"]:
                    tests_seen.setdefault(t, {"test": t, "why": f"needed to decide: {opt['title']}"})
            continue
        # Exclusions: option-level and category-level.
        excluded: list[str] = []
        fired: list[str] = []
        cautions: list[str] = []
        exclusions = list(opt.get("exclusions", []))
        for g in kbo.get("global_exclusions", []):
            if opt["category"] in g["categories"] or set(g.get("drugs_any", [])) & set(opt["drugs"]):
                exclusions.append(
                    {"id": g["id"], "when": g["when"], "why": g["why"], "unknown_when": g.get("unknown_when")}
                )
        for x in exclusions:
            v = evaluate(x["when"], facts)
            severity = x.get("severity", "exclude")
            if v.result is True:
                fired.append(x["id"])
                if severity == "exclude":
                    excluded.append(f"{x['why']} [{'; '.join(_leaf_texts(v.true_leaves()))}]")
                else:
                    cautions.append(f"{x['why']} [{'; '.join(_leaf_texts(v.true_leaves()))}]")
            elif v.result is None and severity == "exclude":
                gate = x.get("unknown_when")
                if gate is None or evaluate(gate, facts).result is True:
                    cautions.append(f"check before starting — {'; '.join(_leaf_texts(v.unknown_leaves()))}: {x['why']}")
        req = evaluate(opt["requires"], facts)
        if excluded:
            entry["why_not"] = excluded
            entry["excluded_by"] = fired
            result.not_offered.append(entry)
            continue
        if req.result is False:
            failing = req.false_leaves()
            entry["why_not"] = [f"not met: {t}" for t in _leaf_texts(failing)]
            result.not_offered.append(entry)
            continue
        if req.result is None:
            entry["why_not"] = [f"unknown: {t}" for t in _leaf_texts(req.unknown_leaves())]
            entry["tests"] = _unknown_tests(kb, req, facts)
            result.not_offered.append(entry)
            if opt["category"] == "tumour_agnostic":
                continue  # profiling is recommended by its own rule, after standard options
            for t in entry["tests"]:
                tests_seen.setdefault(t, {"test": t, "why": f"needed to decide: {opt['title']}"})
            continue
        tier = opt["tier"]
        tier_why: list[str] = []
        for rule in opt.get("tier_rules", []):
            if evaluate(rule["when"], facts).result is True:
                tier = rule["tier"]
                tier_why.append(rule["why"])
                break
        for rule in kbo.get("global_tier_rules", []):
            if (
                opt["category"] in rule["categories"]
                and evaluate(rule["when"], facts).result is True
                and (_TIER_ORDER[rule["tier"]] > _TIER_ORDER[tier])
            ):
                tier = rule["tier"]
                tier_why.append(rule["why"])
        for c in opt.get("cautions", []):
            if "when" not in c or evaluate(c["when"], facts).result is True:
                cautions.append(c["text"])
        why = _leaf_texts(scope.true_leaves() + req.true_leaves())
        entry.update(
            {
                "tier": tier,
                "regimen": opt["regimen"],
                "why": why + tier_why,
                "facts_used": {
                    leaf.fact: basis.get(leaf.fact, leaf.actual) for leaf in scope.true_leaves() + req.true_leaves()
                },
                "cautions": cautions,
                "caution_rules": fired,
                "evidence": _evidence(kb, opt["evidence"]),
                "source": _sources(kb, opt["guideline"]),
                "regulatory": opt.get("regulatory"),
                "patient_text": " ".join(opt["patient_text"].split()),
            }
        )
        result.offered.append(entry)
    result.offered.sort(key=lambda e: _TIER_ORDER[e["tier"]])
    for t in kbo["tests"]:
        v = evaluate(t["when"], facts)
        if v.result is True:
            tests_seen[t["test"]] = {
                "test": t["test"],
                "why": t["why"],
                "source": _sources(kb, t.get("guideline", [])) + _evidence(kb, t.get("evidence", [])),
            }
    result.tests = list(tests_seen.values())
    urgency_rank = {"urgent": 0, "soon": 1, "routine": 2}
    by_to: dict[str, dict[str, Any]] = {}
    for r in kbo["referrals"]:
        v = evaluate(r["when"], facts)
        if v.result is not True:
            continue
        item = {
            "to": r["to"],
            "why": f"{r['why']} ({'; '.join(_leaf_texts(v.true_leaves()))})",
            "urgency": r["urgency"],
            "source": _sources(kb, r.get("guideline", [])),
        }
        prev = by_to.get(r["to"])
        if prev is None or urgency_rank[item["urgency"]] < urgency_rank[prev["urgency"]]:
            by_to[r["to"]] = item
    result.referrals = sorted(by_to.values(), key=lambda x: urgency_rank[x["urgency"]])
    return result
