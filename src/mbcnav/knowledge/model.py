"""Typed models of the options knowledge base as written in options.yaml (checked on load; typed for mypy)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Tier = Literal["preferred", "recommended", "consider"]
Modality = Literal["systemic", "radiotherapy", "surgery", "referral", "supportive"]
Condition = dict[str, Any]  # the condition language of options.yaml (kb.evaluate); checked by the JSON Schema

TIER_ORDER: dict[str, int] = {"preferred": 0, "recommended": 1, "consider": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- the knowledge base as written --------------------------------------------------------------------------------
class KbComponent(_Strict):
    """One part of a regimen: the regimen takes one of the alternatives (a generic name, or 'a + b' for a doublet)."""

    role: str
    alternatives: list[str]
    optional: bool = False
    when: Condition | None = None  # included only when this holds for the patient (e.g. HR-positive)
    note: str | None = None


class KbExclusion(_Strict):
    id: str
    when: Condition
    why: str
    severity: Literal["exclude", "caution"] = "exclude"
    unknown_when: Condition | None = None
    evidence: list[str] = Field(default_factory=list)
    guideline: list[str] = Field(default_factory=list)


class KbTierRule(_Strict):
    when: Condition
    tier: Tier
    why: str


class KbCaution(_Strict):
    text: str
    when: Condition | None = None


class KbOption(_Strict):
    id: str
    title: str
    category: str
    components: list[KbComponent] = Field(default_factory=list)
    modality: Modality = "systemic"
    regimen: str
    scope: Condition
    requires: Condition
    tier: Tier
    tier_rules: list[KbTierRule] = Field(default_factory=list)
    exclusions: list[KbExclusion] = Field(default_factory=list)
    cautions: list[KbCaution] = Field(default_factory=list)
    evidence: list[str]
    guideline: list[str]
    regulatory: str | None = None
    patient_text: str
    continue_current: bool = False  # the regimen includes the ongoing line's drugs (CNS-only progression)


class KbGlobalExclusion(KbExclusion):
    """An exclusion for every option of some categories, or whose drugs belong to some classes."""

    categories: list[str] = Field(default_factory=list)
    drugs_any: list[str] = Field(default_factory=list)
    classes_any: list[str] = Field(default_factory=list)  # the option has a drug of one of these classes
    lacks_classes: list[str] = Field(default_factory=list)  # ... and none of these
    only_classes: list[str] = Field(default_factory=list)  # every drug of the option is of these classes


class KbGlobalTierRule(_Strict):
    id: str
    categories: list[str] = Field(default_factory=list)
    classes_any: list[str] = Field(default_factory=list)
    when: Condition
    tier: Tier
    direction: Literal["lower", "raise"] = "lower"
    why: str
    guideline: list[str] = Field(default_factory=list)


class KbCompletion(_Strict):
    """A component that completes a regimen for this patient (ovarian suppression with an AI before menopause)."""

    id: str
    roles_any: list[str]
    when: Condition
    add: KbComponent
    why: str
    unknown_note: str
    evidence: list[str] = Field(default_factory=list)
    guideline: list[str] = Field(default_factory=list)
