"""Typed models of the options a patient is given (JSON contract 1.1, docs/options.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mbcnav.knowledge.model import Modality, Tier


# ---- what a patient is given ----------------------------------------------------------------------------------------
class Component(BaseModel):
    """A part of the regimen for this patient: one drug (or doublet) from `alternatives`."""

    role: str
    alternatives: list[str]
    optional: bool = False
    added_by: str | None = None  # the completion rule that added it (e.g. ovarian-suppression-premenopausal)
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "alternatives": self.alternatives}
        if self.optional:
            out["optional"] = True
        if self.added_by:
            out["added_by"] = self.added_by
        if self.note:
            out["note"] = self.note
        return out


class OptionBase(BaseModel):
    id: str
    title: str
    category: str
    drugs: list[str]
    components: list[Component]
    modality: Modality

    def head_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "drugs": self.drugs,
            "components": [c.as_json() for c in self.components],
            "modality": self.modality,
        }


class NotOffered(OptionBase):
    why_not: list[str]
    excluded_by: list[str] | None = None
    tests: list[str] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.head_json(), "why_not": self.why_not}
        if self.excluded_by is not None:
            out["excluded_by"] = self.excluded_by
        if self.tests is not None:
            out["tests"] = self.tests
        return out


class Offered(OptionBase):
    tier: Tier
    regimen: str
    why: list[str]
    facts_used: dict[str, Any]
    cautions: list[str]
    caution_rules: list[str]
    evidence: list[dict[str, Any]]
    source: list[dict[str, Any]]
    regulatory: str | None
    approval: list[dict[str, Any]]
    patient_text: str

    def as_json(self) -> dict[str, Any]:
        return {
            **self.head_json(),
            "tier": self.tier,
            "regimen": self.regimen,
            "why": self.why,
            "facts_used": self.facts_used,
            "cautions": self.cautions,
            "caution_rules": self.caution_rules,
            "evidence": self.evidence,
            "source": self.source,
            "regulatory": self.regulatory,
            "approval": self.approval,
            "patient_text": self.patient_text,
        }
