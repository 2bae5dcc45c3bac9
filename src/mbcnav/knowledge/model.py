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


# ---- follow-up plan and symptom triage (monitoring.yaml, triage.yaml; docs/monitoring.md) --------------------------
MonKind = Literal["imaging", "lab", "cardiac", "review", "vigilance"]
TriageLevelName = Literal["emergency", "same_day", "routine"]


class MonPhase(_Strict):
    """A stretch of a schedule, as ISO 8601 offsets from the start of the drug: every `every` from `from` to `until`."""

    start: str = Field(alias="from")
    until: str | None = None
    every: str


class MonSchedule(_Strict):
    type: Literal["recurring", "phases", "at", "per_dose", "before_start", "none"]
    every: str | None = None
    earliest: str | None = None
    phases: list[MonPhase] = Field(default_factory=list)
    at: list[str] = Field(default_factory=list)


class MonApplies(_Strict):
    scope: Literal["on_treatment", "between_lines"] | None = None
    drugs: list[str] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)


class MonEvidence(_Strict):
    type: Literal["tumour_assessment", "labs", "not_read"]
    analytes: list[str] = Field(default_factory=list)


class MonItem(_Strict):
    """One monitoring item: what, for whom, how often (cited), and what in the record shows it was done."""

    id: str
    group: str
    what: str
    kind: MonKind
    applies: MonApplies
    evidence: MonEvidence
    schedule: MonSchedule
    interval_text: str
    source: str
    interval_source: str | None = None
    also: list[str] = Field(default_factory=list)
    where: str
    quote: str
    note: str | None = None

    @property
    def sources(self) -> list[str]:
        out = [self.source, *([self.interval_source] if self.interval_source else []), *self.also]
        return list(dict.fromkeys(out))


class MonitoringKb(_Strict):
    schema_id: str = Field(alias="schema")
    version: str
    reviewed: str
    items: list[MonItem]


class TriageQuestion(_Strict):
    link_id: str
    text: str
    type: Literal["severity", "yesno", "temperature"]
    red_flag: bool = False
    family: str | None = None  # questions of one family count as one symptom for escalation
    snomed: str | None = None
    snomed_display: str | None = None
    loinc: str | None = None
    loinc_display: str | None = None


class TriageRule(_Strict):
    id: str
    level: TriageLevelName
    when: Condition
    reason: str
    advice: str | None = None
    sources: list[str]
    basis: Literal["guideline", "label", "consensus"]
    note: str | None = None


class TriageGroup(_Strict):
    label: str
    classes: list[str] = Field(default_factory=list)
    drugs: list[str] = Field(default_factory=list)


class TriageLevel(_Strict):
    title: str
    advice: str


class TriageToolRef(_Strict):
    name: str
    source: str
    mapping: dict[str, str]


class TriageUnknownPolicy(_Strict):
    emergency_unknown_gives: TriageLevelName
    reason: str


class TriageEscalation(_Strict):
    same_day_count_for_emergency: int
    source: str
    reason: str


class TriageKb(_Strict):
    schema_id: str = Field(alias="schema")
    version: str
    reviewed: str
    tool: TriageToolRef = Field(alias="model")
    rationale: list[str] = Field(default_factory=list)
    levels: dict[TriageLevelName, TriageLevel]
    unknown_policy: TriageUnknownPolicy
    escalation: TriageEscalation
    groups: dict[str, TriageGroup]
    answer_sets: dict[str, list[str]]
    questions: list[TriageQuestion]
    rules: list[TriageRule]

    def question(self, link_id: str) -> TriageQuestion | None:
        return next((q for q in self.questions if q.link_id == link_id), None)


# ---- drug interactions checked on a drafted order (interactions.yaml; docs/cds-hooks.md) -------------------------
class IxDrugSet(_Strict):
    """Drugs by catalogue or agent name, or by class (drug catalogue classes and interactions.yaml agent classes)."""

    drugs: list[str] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)


class IxAgent(_Strict):
    """A drug outside the cancer drug catalogue that an interaction names (matched by name and synonyms)."""

    name: str
    rxnorm: str | None = None
    classes: list[str]
    synonyms: list[str]


class IxSource(_Strict):
    evidence: str  # an id of evidence.yaml (a label or a guideline)
    section: str
    url: str | None = None


class IxInteraction(_Strict):
    """One check: a drafted drug against a current or other drafted drug (`pair`), or against the record (`when`)."""

    id: str
    title: str
    indicator: Literal["info", "warning", "critical"]
    pair: list[IxDrugSet] | None = None
    one_way: bool = False  # the drafted drug must be the pair's first side
    ordered: IxDrugSet | None = None
    when: Condition | None = None
    summary: str
    detail: str
    action: str
    sources: list[IxSource]


class InteractionsKb(_Strict):
    schema_id: str = Field(alias="schema")
    version: str
    reviewed: str
    agent_classes: dict[str, str]
    agents: list[IxAgent]
    interactions: list[IxInteraction]
