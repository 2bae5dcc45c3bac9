"""A drafted order against the current regimen, the other drafted orders and the record: the interactions and
contraindications of knowledge/interactions.yaml (each citing a label section or a guideline). Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mbcnav.assess.assessment import Assessment
from mbcnav.assess.facts import build_facts
from mbcnav.knowledge.interactions import SUMMARY_MAX, DrugMatcher, drug_matcher, interactions_kb
from mbcnav.knowledge.kb import evaluate, fill
from mbcnav.knowledge.model import IxInteraction

_MED_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationAdministration", "MedicationDispense")


@dataclass(frozen=True, slots=True)
class DrugUse:
    """A drug in a drafted order or in the current regimen: its name, how the record names it, where it is."""

    name: str
    text: str
    source: str  # Type/id of the order, or the record's resource


@dataclass(frozen=True, slots=True)
class InteractionHit:
    interaction: IxInteraction
    drug: DrugUse  # the drafted drug
    other: DrugUse | None  # the current or other drafted drug (a pair), else None
    other_is_draft: bool
    facts: tuple[str, ...]  # the facts of the record it rests on (`when`), as text

    @property
    def summary(self) -> str:
        text = self.interaction.summary.replace("{drug}", self.drug.name)
        text = text.replace("{other}", self.other.name if self.other else "")
        text = text[:1].upper() + text[1:]
        return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"

    @property
    def key(self) -> str:
        other = self.other.name if self.other else ""
        return f"{self.interaction.id}|{self.drug.name}|{other}"


def _concept(res: dict[str, Any], contained: dict[str, dict[str, Any]]) -> Any:
    concept = res.get("medicationCodeableConcept") or res.get("vaccineCode")
    if concept is not None:
        return concept
    ref = res.get("medicationReference")
    if isinstance(ref, dict):
        target = contained.get(str(ref.get("reference", "")))
        if target is not None:
            return target.get("code")
        if isinstance(ref.get("display"), str):
            return {"text": ref["display"]}
    return None


def _contained(resources: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for res in resources:
        for c in res.get("contained") or []:
            if isinstance(c, dict) and c.get("resourceType") == "Medication" and isinstance(c.get("id"), str):
                out[f"#{c['id']}"] = c
        if res.get("resourceType") == "Medication" and isinstance(res.get("id"), str):
            out[f"Medication/{res['id']}"] = res
    return out


def _text_of(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"]).strip()
    for c in concept.get("coding") or []:
        if isinstance(c, dict) and isinstance(c.get("display"), str):
            return str(c["display"])
    return ""


def drafted_drugs(orders: Sequence[dict[str, Any]], matcher: DrugMatcher | None = None) -> list[DrugUse]:
    """The drugs of drafted orders (MedicationRequest; an Immunization or other medication resource is read the
    same way), each named through the one drug matcher."""
    m = matcher or drug_matcher()
    contained = _contained(orders)
    out: list[DrugUse] = []
    for res in orders:
        if res.get("resourceType") not in (*_MED_TYPES, "Immunization"):
            continue
        concept = _concept(res, contained)
        where = f"{res.get('resourceType')}/{res.get('id', '?')}"
        for name in m.match(concept):
            use = DrugUse(name, _text_of(concept) or name, where)
            if use not in out:
                out.append(use)
    return out


def current_drugs(a: Assessment, matcher: DrugMatcher | None = None) -> list[DrugUse]:
    """The drugs she is taking now, as the record says (ongoing courses; a drug outside the cancer catalogue is
    named through the same matcher)."""
    m = matcher or drug_matcher()
    out: list[DrugUse] = []
    for t in a.record.therapies:
        if not t.ongoing:
            continue
        names = [t.drug] if t.known_drug else m.find(t.drug)
        for name in names:
            if not any(u.name == name for u in out):
                out.append(DrugUse(name, t.drug, t.source.resource))
    return out


def check_orders(
    drafts: Sequence[DrugUse],
    current: Sequence[DrugUse],
    facts: dict[str, Any],
    *,
    selected: Sequence[str] | None = None,
    basis: dict[str, str] | None = None,
) -> list[InteractionHit]:
    """Every interaction of the drafted drugs. `selected` (order references) limits the check to the orders just
    selected (the CDS Hooks `selections`); the other drafts still count as the other side of a pair."""
    kb = interactions_kb()
    m = drug_matcher()
    checked = [d for d in drafts if not selected or d.source in selected]
    hits: list[InteractionHit] = []
    seen: set[str] = set()
    for ix in kb.interactions:
        for d in checked:
            found: list[InteractionHit] = []
            if ix.pair is not None:
                a, b = ix.pair
                for mine, theirs in ((a, b),) if ix.one_way else ((a, b), (b, a)):
                    if not m.in_set(d.name, mine):
                        continue
                    others = [(o, True) for o in drafts if o.source != d.source and o.name != d.name]
                    others += [(o, False) for o in current if o.name != d.name]
                    for o, is_draft in others:
                        if m.in_set(o.name, theirs):
                            found.append(InteractionHit(ix, d, o, is_draft, ()))
                            break
                    if found:
                        break
            elif ix.ordered is not None and ix.when is not None and m.in_set(d.name, ix.ordered):
                verdict = evaluate(ix.when, facts)
                if verdict.result is True:
                    said = tuple(
                        f"{x.says} ({(basis or {})[x.fact]})" if x.fact in (basis or {}) else x.text()
                        for x in verdict.true_leaves()
                    )
                    found.append(InteractionHit(ix, d, None, False, said))
            for hit in found:
                if hit.key not in seen:
                    seen.add(hit.key)
                    hits.append(hit)
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(hits, key=lambda h: order[h.interaction.indicator])


def check_draft_orders(
    a: Assessment, orders: Sequence[dict[str, Any]], *, selected: Sequence[str] | None = None
) -> list[InteractionHit]:
    """The drafted orders (FHIR resources) of a patient whose record is assessed as `a`."""
    facts, basis = build_facts(a)
    return check_orders(drafted_drugs(orders), current_drugs(a), facts, selected=selected, basis=basis)


def detail_text(hit: InteractionHit) -> str:
    """The interaction in Markdown, with what in the record it rests on."""
    ix = hit.interaction
    lines = [fill(ix.detail, {})]
    if hit.other is not None:
        where = "another order being drafted" if hit.other_is_draft else "her current medicines"
        lines.append(f"\n\n**{hit.other.name}** is in {where} ({hit.other.text}; {hit.other.source}).")
    if hit.facts:
        lines.append("\n\nFrom her record: " + "; ".join(hit.facts) + ".")
    lines.append(f"\n\n**What to do:** {fill(ix.action, {})}")
    return "".join(lines)


__all__ = [
    "DrugUse",
    "InteractionHit",
    "check_draft_orders",
    "check_orders",
    "current_drugs",
    "detail_text",
    "drafted_drugs",
]
