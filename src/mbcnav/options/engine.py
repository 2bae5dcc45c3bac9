"""Evaluate the knowledge base against one patient's facts: complete regimens, not offered, tests, referrals."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mbcnav.assess import Assessment
from mbcnav.assess.facts import build_facts
from mbcnav.knowledge.drugs import catalogue
from mbcnav.knowledge.kb import (
    KbModels,
    KnowledgeBase,
    Leaf,
    Verdict,
    evaluate,
    fill,
    knowledge_base,
)
from mbcnav.knowledge.model import TIER_ORDER, KbGlobalExclusion, KbOption, Tier
from mbcnav.options.model import Component, NotOffered, Offered, OptionBase

SCHEMA_VERSION = "1.1"
_METASTATIC = {"fact": "metastatic", "eq": True, "says": "metastatic (stage IV) disease"}


@dataclass
class OptionsResult:
    kb: KnowledgeBase
    facts: dict[str, Any]
    basis: dict[str, str]
    offered: list[Offered] = field(default_factory=list)
    not_offered: list[NotOffered] = field(default_factory=list)
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
                "menopausal_status": self.facts.get("menopausal_status")
                or ("not_applicable" if (a.get("menopause") or {}).get("status") == "not_applicable" else "unknown"),
                "visceral_crisis": _crisis_state(self.facts, a.get("visceral_crisis")),
                "current_line": a["lines"][-1] if a["lines"] and a["lines"][-1]["ongoing"] else None,
            },
            "options": [o.as_json() for o in self.offered],
            "not_offered": [o.as_json() for o in self.not_offered],
            "tests_recommended": self.tests,
            "referrals": self.referrals,
            "unknowns": a["unknowns"],
            "notes": self.notes,
            "disclaimer": "Decision support, not a decision: review with the treating team and current guidelines.",
        }


def _crisis_state(facts: dict[str, Any], assessed: dict[str, Any] | None) -> str:
    """present | absent (clinician or --visceral-crisis) | suspected | not_suspected | not_applicable | unknown."""
    if facts.get("visceral_crisis") is True:
        return "present"
    if facts.get("visceral_crisis") is False:
        return "not_applicable" if (assessed or {}).get("status") == "not_applicable" else "absent"
    if facts.get("visceral_crisis_suspected"):
        return "suspected"
    return str((assessed or {}).get("status") or "unknown")


def _leaf_texts(leaves: list[Leaf]) -> list[str]:
    seen: list[str] = []
    for x in leaves:
        t = x.text()
        if t not in seen:
            seen.append(t)
    return seen


def _evidence(kb: KnowledgeBase, ids: list[str]) -> list[dict[str, Any]]:
    trials = kb.trials
    return [
        {
            "trial": trials[i]["name"],
            "citation": trials[i]["citation"],
            "pmid": trials[i].get("pmid"),
            "doi": trials[i].get("doi"),
            "population": trials[i].get("population"),
            "result": trials[i].get("result"),
            "note": trials[i].get("note"),
        }
        for i in ids
        if i in trials
    ]


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
    table = kb.fact_tests
    tests = []
    for leaf in verdict.unknown_leaves():
        broader = next(
            (
                t["test"]
                for t in kb.unknown_entries
                if t["kind"] == "test"
                and leaf.fact in t.get("covers", [])
                and evaluate(t["when"], facts).result is True
            ),
            None,
        )
        test = broader or table.get(leaf.fact)
        if test and test not in tests:
            tests.append(test)
    return tests


@cache
def _classes_of(drugs: tuple[str, ...]) -> frozenset[str]:
    cat = catalogue()
    return frozenset(c for d in drugs if d in cat.drugs for c in cat.drugs[d].classes)


def _targets(rule: KbGlobalExclusion, opt: KbOption, drugs: list[str]) -> bool:
    """Whether a global exclusion concerns this option (by category, drug, or the classes of its drugs)."""
    if opt.category in rule.categories or set(rule.drugs_any) & set(drugs):
        return True
    classes = _classes_of(tuple(drugs))
    if rule.classes_any and classes & set(rule.classes_any) and not classes & set(rule.lacks_classes):
        return True
    if rule.only_classes and drugs:
        cat = catalogue()
        return all(cat.drugs[d].classes <= set(rule.only_classes) for d in drugs if d in cat.drugs)
    return False


@dataclass
class _Regimen:
    components: list[Component]
    regimen: str
    notes: list[str]
    tests: list[str]
    rules: list[str]


def _regimen_for(kb: KnowledgeBase, m: KbModels, opt: KbOption, facts: dict[str, Any]) -> _Regimen:
    """The regimen completed for this patient: conditional parts, ovarian suppression / GnRH analogue, current drugs."""
    comps: list[Component] = []
    for c in opt.components:
        if c.when is not None and evaluate(c.when, facts).result is not True:
            continue
        comps.append(Component(role=c.role, alternatives=list(c.alternatives), optional=c.optional, note=c.note))
    text = " ".join(opt.regimen.split())
    out = _Regimen(comps, text, [], [], [])
    if opt.continue_current and facts.get("current_regimen"):
        current = list(facts["current_regimen"])
        comps.extend(Component(role="continue_current", alternatives=[d]) for d in current)
        out.regimen += f" (current regimen: {', '.join(current)})"
    roles = {c.role for c in comps}
    for rule in m.completions:
        if not roles & set(rule.roles_any) or rule.add.role in roles:
            continue
        v = evaluate(rule.when, facts)
        if v.result is False:
            continue
        note = None
        if v.result is None:
            note = " ".join(rule.unknown_note.split())
            out.notes.append(note)
            out.tests.extend(_unknown_tests(kb, v, facts))
        comps.append(
            Component(role=rule.add.role, alternatives=list(rule.add.alternatives), added_by=rule.id, note=note)
        )
        roles.add(rule.add.role)
        out.rules.append(rule.id)
        out.regimen += f" + {rule.add.role.replace('_', ' ')} ({', '.join(rule.add.alternatives)})"
    return out


def _exclusions(
    opt: KbOption, m: KbModels, drugs: list[str], facts: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """(reasons to exclude, rule ids that fired, cautions) from the option's own and the global exclusions."""
    excluded: list[str] = []
    fired: list[str] = []
    cautions: list[str] = []
    rules: list[Any] = list(opt.exclusions) + [g for g in m.global_exclusions if _targets(g, opt, drugs)]
    for x in rules:
        v = evaluate(x.when, facts)
        why = " ".join(x.why.split())
        if v.result is True:
            fired.append(x.id)
            text = f"{why} [{'; '.join(_leaf_texts(v.true_leaves()))}]"
            (excluded if x.severity == "exclude" else cautions).append(text)
        elif v.result is None and x.severity == "exclude":
            # Unknown is never permissive: an exclusion that cannot be decided becomes a check before starting,
            # unless its gate says it cannot matter for this patient (e.g. pregnancy in a man).
            gate = x.unknown_when
            if gate is None or evaluate(gate, facts).result is not False:
                cautions.append(f"check before starting — {'; '.join(_leaf_texts(v.unknown_leaves()))}: {why}")
    return excluded, fired, cautions


def _tier(m: KbModels, opt: KbOption, drugs: list[str], facts: dict[str, Any]) -> tuple[Tier, list[str]]:
    tier: Tier = opt.tier
    why: list[str] = []
    for rule in opt.tier_rules:
        if evaluate(rule.when, facts).result is True:
            tier = rule.tier
            why.append(rule.why)
            break
    classes = _classes_of(tuple(drugs))
    for g in m.global_tier_rules:
        if opt.category not in g.categories and not classes & set(g.classes_any):
            continue
        if evaluate(g.when, facts).result is not True:
            continue
        lower = TIER_ORDER[g.tier] > TIER_ORDER[tier]
        if (g.direction == "lower" and lower) or (g.direction == "raise" and TIER_ORDER[g.tier] < TIER_ORDER[tier]):
            tier = g.tier
            why.append(" ".join(g.why.split()))
    return tier, why


def recommend(a: Assessment, *, kb: KnowledgeBase | None = None, visceral_crisis: bool | None = None) -> OptionsResult:
    """Options for what comes next for this patient, each a complete regimen with why (facts) and from where."""
    kb = kb or knowledge_base()
    m = kb.typed
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
    if facts.get("visceral_crisis_suspected"):
        result.notes.append(
            "visceral crisis is suspected from the record ("
            + (basis.get("visceral_crisis_suspected") or "labs and sites")
            + "): please confirm or refute it (--visceral-crisis yes|no); "
            "endocrine monotherapy is not offered meanwhile"
        )
    if facts.get("ecog") is not None and facts["ecog"] >= 3:
        result.notes.append(
            "ECOG 3-4: best supportive and palliative care first; chemotherapy, antibody-drug conjugates and "
            "immunotherapy are not offered. If the poor performance status is due to untreated, likely responsive "
            "disease, treatment is the treating clinician's decision."
        )
    tests_seen: dict[str, dict[str, Any]] = {}
    for opt in m.options:
        drugs = m.drugs[opt.id]
        # Every option is for stage IV disease: metastatic status is part of every scope.
        scope = evaluate({"all": [_METASTATIC, opt.scope]}, facts)
        if scope.result is False:
            continue
        reg = _regimen_for(kb, m, opt, facts)
        drugs = drugs + [d for c in reg.components for d in c.alternatives if d not in drugs and d in catalogue().drugs]
        head = vars(
            OptionBase(
                id=opt.id,
                title=opt.title,
                category=opt.category,
                drugs=drugs,
                components=reg.components,
                modality=opt.modality,
            )
        )
        if scope.result is None:
            if opt.tier == "preferred":
                tests = _unknown_tests(kb, scope, facts)
                missing = "; ".join(_leaf_texts(scope.unknown_leaves()))
                result.not_offered.append(
                    NotOffered(**head, why_not=[f"cannot tell whether it applies: {missing}"], tests=tests)
                )
                for t in tests:
                    tests_seen.setdefault(t, {"test": t, "why": f"needed to decide: {opt.title}"})
            continue
        excluded, fired, cautions = _exclusions(opt, m, drugs, facts)
        req = evaluate(opt.requires, facts)
        if excluded:
            result.not_offered.append(NotOffered(**head, why_not=excluded, excluded_by=fired))
            continue
        if req.result is False:
            why_not = [f"not met: {t}" for t in _leaf_texts(req.false_leaves())]
            result.not_offered.append(NotOffered(**head, why_not=why_not))
            continue
        if req.result is None:
            tests = _unknown_tests(kb, req, facts)
            why_not = [f"unknown: {t}" for t in _leaf_texts(req.unknown_leaves())]
            result.not_offered.append(NotOffered(**head, why_not=why_not, tests=tests))
            if opt.category == "tumour_agnostic":
                continue  # profiling is recommended by its own rule, after standard options
            for t in tests:
                tests_seen.setdefault(t, {"test": t, "why": f"needed to decide: {opt.title}"})
            continue
        tier, tier_why = _tier(m, opt, drugs, facts)
        for c in opt.cautions:
            if c.when is None or evaluate(c.when, facts).result is True:
                cautions.append(" ".join(c.text.split()))
        cautions.extend(reg.notes)
        for t in reg.tests:
            tests_seen.setdefault(t, {"test": t, "why": f"decides whether {opt.title} needs ovarian suppression"})
        why = _leaf_texts(scope.true_leaves() + req.true_leaves())
        for rule_id in reg.rules:
            rule = next(r for r in m.completions if r.id == rule_id)
            why.append(" ".join(rule.why.split()))
        result.offered.append(
            Offered(
                **head,
                tier=tier,
                regimen=reg.regimen,
                why=why + [w for w in tier_why if w not in why],
                facts_used={
                    leaf.fact: basis.get(leaf.fact, leaf.actual) for leaf in scope.true_leaves() + req.true_leaves()
                },
                cautions=list(dict.fromkeys(cautions)),
                caution_rules=fired,
                evidence=_evidence(kb, opt.evidence),
                source=_sources(kb, opt.guideline),
                regulatory=opt.regulatory,
                approval=kb.approvals_for(opt.id),
                patient_text=" ".join(opt.patient_text.split()),
            )
        )
    result.offered.sort(key=lambda e: TIER_ORDER[e.tier])
    # The same entries (unknowns.yaml) that `assess` lists as unknowns: one source of truth.
    for entry in kb.unknown_entries:
        if entry["kind"] != "test" or evaluate(entry["when"], facts).result is not True:
            continue
        tests_seen[entry["test"]] = {
            "test": entry["test"],
            "why": fill(entry["why"], facts),
            "source": _sources(kb, entry.get("guideline", [])) + _evidence(kb, entry.get("evidence", [])),
        }
    result.tests = list(tests_seen.values())
    result.referrals = _referrals(kb, facts)
    return result


def _referrals(kb: KnowledgeBase, facts: dict[str, Any]) -> list[dict[str, Any]]:
    urgency_rank = {"urgent": 0, "soon": 1, "routine": 2}
    by_to: dict[str, dict[str, Any]] = {}
    for r in kb.options["referrals"]:
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
    return sorted(by_to.values(), key=lambda x: urgency_rank[x["urgency"]])
