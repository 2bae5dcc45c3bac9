"""Triage of a symptom report by the cited rules of triage.yaml: emergency, same_day or routine, with the reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbcnav.assess.assessment import Assessment
from mbcnav.knowledge.drugs import catalogue
from mbcnav.knowledge.kb import triage_kb
from mbcnav.knowledge.model import TriageKb, TriageRule
from mbcnav.monitoring.plan import HasAssessment, current_regimen
from mbcnav.monitoring.questionnaire import SymptomReport

SCHEMA_VERSION = "1.0"
LEVELS = ("routine", "same_day", "emergency")
RANK = {name: i for i, name in enumerate(LEVELS)}


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What the rules know of the patient: the metastatic sites and the drug groups of the current regimen."""

    sites: frozenset[str]
    groups: frozenset[str]
    drugs: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"sites": sorted(self.sites), "groups": sorted(self.groups), "drugs": list(self.drugs)}


@dataclass(frozen=True, slots=True)
class Fired:
    rule: str
    level: str
    reason: str
    sources: tuple[str, ...]
    basis: str
    advice: str | None
    unknown: tuple[str, ...] = ()  # questions left unanswered that kept an emergency rule undecided
    symptoms: tuple[str, ...] = ()  # symptom families whose answers fired the rule

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.rule,
            "level": self.level,
            "reason": self.reason,
            "sources": list(self.sources),
            "basis": self.basis,
            "unanswered": list(self.unknown),
        }


@dataclass(frozen=True, slots=True)
class TriageResult:
    level: str
    reasons: tuple[str, ...]
    advice: str
    fired: tuple[Fired, ...]
    escalated: bool
    unanswered_red_flags: tuple[str, ...]
    facts: PatientFacts


def patient_facts(source: Assessment | HasAssessment, tri: TriageKb | None = None) -> PatientFacts:
    a = source if isinstance(source, Assessment) else source.assessment
    tri = tri or triage_kb()
    regimen = current_regimen(a)
    cat = catalogue()
    groups = set()
    for name, group in tri.groups.items():
        for d in regimen.drugs:
            drug = cat.drugs.get(d.name)
            if d.name in group.drugs or (drug is not None and drug.classes & set(group.classes)):
                groups.add(name)
    return PatientFacts(frozenset(a.spread.sites), frozenset(groups), tuple(d.name for d in regimen.drugs))


def _check(
    cond: dict[str, Any], report: SymptomReport, facts: PatientFacts, missing: set[str], hits: set[str] | None = None
) -> bool | None:
    """Three-valued: an unanswered question is unknown (None), never 'no'; `missing` collects those questions and
    `hits` the questions whose answers matched."""
    hits = set() if hits is None else hits
    if "all" in cond:
        parts = [_check(c, report, facts, missing, hits) for c in cond["all"]]
        if any(p is False for p in parts):
            return False
        return None if any(p is None for p in parts) else True
    if "any" in cond:
        parts = [_check(c, report, facts, missing, hits) for c in cond["any"]]
        if any(p is True for p in parts):
            return True
        return None if any(p is None for p in parts) else False
    if "not" in cond:
        inner = _check(cond["not"], report, facts, missing, set())
        return None if inner is None else not inner
    if "group" in cond:
        return cond["group"] in facts.groups
    if "site" in cond:
        wanted = cond["site"] if isinstance(cond["site"], list) else [cond["site"]]
        return any(s in facts.sites for s in wanted)
    value = report.get(cond["item"])
    if value is None:
        missing.add(cond["item"])
        return None
    matched = (
        isinstance(value, float | int) and float(value) >= float(cond["gte"]) if "gte" in cond else value in cond["in"]
    )
    if matched:
        hits.add(cond["item"])
    return bool(matched)


def _question_text(tri: TriageKb, link_id: str) -> str:
    q = tri.question(link_id)
    return q.text if q is not None else link_id


def _fire(
    rule: TriageRule, level: str, reason: str, unknown: tuple[str, ...] = (), symptoms: tuple[str, ...] = ()
) -> Fired:
    return Fired(
        rule.id, level, " ".join(reason.split()), tuple(rule.sources), rule.basis, rule.advice, unknown, symptoms
    )


def _family(tri: TriageKb, link_id: str) -> str:
    q = tri.question(link_id)
    return q.family if q is not None and q.family else link_id


def triage(report: SymptomReport, source: Assessment | HasAssessment) -> TriageResult:
    """Class one report for this patient: the highest level of any rule wins; an emergency rule left undecided by an
    unanswered question gives at least same_day; two or more same-day symptoms escalate to emergency (UKONS)."""
    tri = triage_kb()
    facts = patient_facts(source, tri)
    fired: list[Fired] = []
    unanswered: set[str] = set()
    for rule in tri.rules:
        missing: set[str] = set()
        hits: set[str] = set()
        verdict = _check(rule.when, report, facts, missing, hits)
        if verdict is True:
            families = tuple(sorted({_family(tri, h) for h in hits}))
            fired.append(_fire(rule, rule.level, rule.reason, (), families))
        elif verdict is None and rule.level == "emergency":
            red = {q for q in missing if (found := tri.question(q)) is not None and found.red_flag}
            if not red:
                continue
            questions = tuple(sorted(red))
            unanswered |= red
            fired.append(_fire(rule, tri.unknown_policy.emergency_unknown_gives, rule.reason, questions))
    level = max((f.level for f in fired), key=RANK.__getitem__, default="routine")
    symptom_same_day = {s for f in fired if f.level == "same_day" and not f.unknown for s in f.symptoms}
    escalated = level == "same_day" and len(symptom_same_day) >= tri.escalation.same_day_count_for_emergency
    reasons = [f.reason for f in sorted(fired, key=lambda f: -RANK[f.level]) if not f.unknown]
    if unanswered:
        texts = "; ".join(_question_text(tri, q) for q in sorted(unanswered))
        reasons.append(f"{' '.join(tri.unknown_policy.reason.split())} Not answered: {texts}")
    if escalated:
        level = "emergency"
        reasons.insert(0, " ".join(tri.escalation.reason.split()))
    advice_parts = [" ".join(tri.levels[level].advice.split())]  # type: ignore[index]
    advice_parts += list(dict.fromkeys(f.advice for f in fired if f.advice and (f.level == level or escalated)))
    if not reasons:
        reasons = ["Nothing you reported matches a rule that needs a call today."]
    return TriageResult(
        level,
        tuple(reasons),
        " ".join(advice_parts),
        tuple(sorted(fired, key=lambda f: -RANK[f.level])),
        escalated,
        tuple(sorted(unanswered)),
        facts,
    )


def triage_json(
    report: SymptomReport, source: Assessment | HasAssessment | None = None, *, result: TriageResult | None = None
) -> dict[str, Any]:
    """The triage contract: level, reasons, advice and the rules that fired first, then the details."""
    if result is None:
        if source is None:
            raise ValueError("triage_json needs the patient's assessment or evaluation")
        result = triage(report, source)
    tri = triage_kb()
    return {
        "level": result.level,
        "reasons": list(result.reasons),
        "advice": result.advice,
        "rules": [f.as_json() for f in result.fired],
        "schema_version": SCHEMA_VERSION,
        "title": tri.levels[result.level].title,  # type: ignore[index]
        "escalated": result.escalated,
        "unanswered_red_flags": list(result.unanswered_red_flags),
        "patient_facts": result.facts.as_json(),
        "answers": report.as_json()["answers"],
        "model": {"name": tri.tool.name, "source": tri.tool.source, "mapping": dict(tri.tool.mapping)},
        "knowledge_version": tri.version,
    }


__all__ = ["SCHEMA_VERSION", "Fired", "PatientFacts", "TriageResult", "patient_facts", "triage", "triage_json"]
