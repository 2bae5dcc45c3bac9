"""CDS Hooks 2.0 as typed models (https://cds-hooks.hl7.org/2.0/): discovery, request, response, card, feedback —
and the trusted CDS clients (EHRs) of a deployment.

Two strengths of card model: `Card` reads any card (the spec's own examples omit `indicator` or `source` in places,
and old examples are still in circulation), `StrictCard` is what mbcnav sends: summary at most 140 characters,
indicator and source required, a selection behaviour whenever there are suggestions. Unknown fields are accepted on
what a client sends (the spec asks services to ignore them) and refused on what mbcnav sends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Indicator = Literal["info", "warning", "critical"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# ---- discovery -----------------------------------------------------------------------------------------------------
class CdsService(_Open):
    hook: str
    id: str
    description: str
    title: str | None = None
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(_Open):
    services: list[CdsService]


# ---- request -------------------------------------------------------------------------------------------------------
class FhirAuthorization(_Open):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class CdsRequest(_Open):
    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> CdsRequest:
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirAuthorization is given without fhirServer")
        return self


class PatientViewContext(_Open):
    userId: str
    patientId: str
    encounterId: str | None = None


class EncounterStartContext(_Open):
    userId: str
    patientId: str
    encounterId: str


class OrderSelectContext(_Open):
    userId: str
    patientId: str
    encounterId: str | None = None
    selections: list[str]
    draftOrders: dict[str, Any]

    @model_validator(mode="after")
    def _bundle(self) -> OrderSelectContext:
        if self.draftOrders.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        return self


HOOK_CONTEXTS: dict[str, type[_Open]] = {
    "patient-view": PatientViewContext,
    "encounter-start": EncounterStartContext,
    "order-select": OrderSelectContext,
}


class PrefetchTemplate(_Open):
    prefetch: dict[str, str]


class PrefetchData(_Open):
    prefetch: dict[str, Any]


class HookContext(_Open):
    """The `context` of a hook as the hook pages show it (a fragment of a request)."""

    context: dict[str, Any]


# ---- response ------------------------------------------------------------------------------------------------------
class Coding(_Open):
    code: str
    system: str | None = None
    display: str | None = None


class Source(_Open):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Open):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: list[str] | str | None = None


class Suggestion(_Open):
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Open):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None


class Card(_Open):
    """Any card a CDS service may send (lenient: see the module docstring)."""

    uuid: str | None = None
    summary: str
    detail: str | None = None
    indicator: Indicator | None = None
    source: Source | None = None
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None


class StrictAction(_Closed):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None  # CDS Hooks 2.0: a relative reference (Type/id), for a delete

    @model_validator(mode="after")
    def _target(self) -> StrictAction:
        if self.type in ("create", "update") and self.resource is None:
            raise ValueError(f"a {self.type} action carries the resource")
        if self.type == "delete" and not self.resourceId:
            raise ValueError("a delete action names the resources (resourceId)")
        return self


class StrictSuggestion(_Closed):
    label: str
    uuid: str
    isRecommended: bool | None = None
    actions: list[StrictAction] = Field(min_length=1)


class StrictSource(_Closed):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class StrictLink(_Closed):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None


class StrictCard(_Closed):
    """A card as mbcnav sends it."""

    uuid: str
    summary: str = Field(min_length=1, max_length=140)
    detail: str | None = None
    indicator: Indicator
    source: StrictSource
    suggestions: list[StrictSuggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[StrictLink] | None = None

    @model_validator(mode="after")
    def _selection(self) -> StrictCard:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        return self


class SystemAction(_Open):
    type: Literal["create", "update", "delete"]
    description: str | None = None
    resource: dict[str, Any] | None = None
    resourceId: list[str] | str | None = None


class CdsResponse(_Open):
    cards: list[Card]
    systemActions: list[SystemAction] | None = None


class StrictCdsResponse(_Closed):
    cards: list[StrictCard]
    systemActions: list[SystemAction] | None = None


class OverrideReasons(_Open):
    overrideReasons: list[Coding]


# ---- feedback ------------------------------------------------------------------------------------------------------
class AcceptedSuggestion(_Open):
    id: str


class OverrideReason(_Open):
    reason: Coding | None = None
    userComment: str | None = None


class FeedbackItem(_Open):
    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackItem:
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("an overridden card has no accepted suggestions")
        return self


class Feedback(_Open):
    feedback: list[FeedbackItem] = Field(min_length=1)


# ---- trusted CDS clients -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CdsClient:
    """An EHR trusted to call the CDS services (CDS Hooks 2.0, "Trusting CDS Clients"): its JWT `iss`, the URL of its
    JWKS, and optionally the base URL of mbcnav's CDS services as this EHR calls them (the JWT `aud` is the service's
    URL; behind a proxy it differs from the URL mbcnav sees, so the base the EHR uses can be given here)."""

    issuer: str
    jwks_url: str
    audience: str | None = None


__all__ = [
    "HOOK_CONTEXTS",
    "Card",
    "CdsClient",
    "CdsRequest",
    "CdsResponse",
    "CdsService",
    "Discovery",
    "Feedback",
    "HookContext",
    "OverrideReasons",
    "PrefetchData",
    "PrefetchTemplate",
    "StrictCard",
    "StrictCdsResponse",
]
