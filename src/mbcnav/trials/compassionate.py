"""Compassionate use when the options run out: matching expanded-access records, late-phase drugs, cited routes.

API (pure; nothing patient-identifying goes in or out beyond the match report's study verdicts):

- `compassionate_use(report, trials, *, options_exhausted, today) -> CompassionateUse`
  `report` is the `MatchReport` of `mbcnav.trials.match.match_patient`; `trials` the studies it was given (`Trial`
  or `(Trial, criteria)` pairs; used only to look up the expanded-access record a study points to, by NCT id);
  `options_exhausted` is `Evaluation.standard_options_exhausted`; `today` dates the answer.
  `needed` is True when standard options appear exhausted, or when no RECRUITING / NOT_YET_RECRUITING /
  ENROLLING_BY_INVITATION study is eligible or possibly eligible (an active-not-recruiting study the patient fits
  is exactly the case expanded access is for, 21 CFR 312.315(a)(2), so it does not count as a fit).
  It lists (always, whether needed or not):
  * `expanded_access`: the expanded-access records (studyType EXPANDED_ACCESS) of the report that are not ruled
    out, each with its types (individual / intermediate / treatment, from designModule.expandedAccessTypes) and
    whether it is AVAILABLE; `expanded_access_ruled_out` counts those the record rules out;
  * `drug_routes`: eligible or possibly eligible PHASE2 / PHASE3 studies whose record says hasExpandedAccess, with
    their interventions, the expanded-access NCT id they give and that record's status and types;
  * `routes`: the paperwork routes of knowledge/compassionate.yaml (US single-patient IND with Form FDA 3926,
    emergency use, intermediate-size and treatment INDs; EU Article 83 programmes and named-patient supply; UK
    EAMS and "specials"), each with who does what, forms, time frames the sources state, and citations.
- `CompassionateUse.as_json()`: the `compassionate_use` document of `trials match --format json`; its shape is
  `JSON_KEYS` (schema_version `SCHEMA_VERSION`), documented field by field in `as_json`.
- `knowledge()`: the validated routes (cached); `knowledge_problems(doc)`: schema and reference problems of a
  routes document (empty when valid).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from mbcnav.knowledge.drugs import catalogue
from mbcnav.trials.records import Trial

if TYPE_CHECKING:
    from mbcnav.trials.match import MatchReport, StudyMatch

SCHEMA_VERSION = "1.0"
# Statuses under which a study enrols: the study statuses of match.OPEN_STATUSES (AVAILABLE is an EA status).
RECRUITING_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")
LATE_PHASES = frozenset({"PHASE2", "PHASE3"})
FITS = ("eligible", "possibly_eligible")
ROLES = ("treating_physician", "sponsor", "irb_ethics", "regulator")
ROLE_LABELS = {
    "treating_physician": "treating physician",
    "sponsor": "sponsor / manufacturer",
    "irb_ethics": "IRB / ethics committee",
    "regulator": "regulator",
}
JSON_KEYS = (
    "schema_version",
    "needed",
    "reason",
    "reason_codes",
    "checked_on",
    "recruiting_fits",
    "expanded_access",
    "expanded_access_ruled_out",
    "drug_routes",
    "routes",
    "knowledge_version",
    "caveats",
    "attribution",
)
CAVEATS = (
    "Decision support: whether a patient may receive an investigational medicine is decided by the treating "
    "physician, the sponsor, the ethics committee and the regulator.",
    "Expanded-access records are matched like studies, on what the record says; the sponsor decides eligibility.",
    "A study's interventions are listed as its record names them; one not in the mbcnav drug catalogue is not "
    "necessarily investigational, and one in it may be investigational for this use.",
)
ATTRIBUTION = (
    "Study data from ClinicalTrials.gov (U.S. National Library of Medicine); routes from knowledge/compassionate.yaml "
    "with their sources."
)


@cache
def knowledge_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of knowledge/compassionate.yaml, beside the other knowledge files' schemas
    (knowledge/schemas/compassionate.schema.json). References (cited ids, route ids) are checked by
    knowledge_problems."""
    text = resources.files("mbcnav.knowledge").joinpath("schemas/compassionate.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# ------------------------------------------------------------------------------------------------- knowledge


@dataclass(frozen=True, slots=True)
class Citation:
    id: str
    title: str
    publisher: str
    url: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "publisher": self.publisher, "url": self.url}


@dataclass(frozen=True, slots=True)
class Duty:
    """One statement of a route (who does what, a form, a time frame) with the sources that state it."""

    text: str
    citations: tuple[Citation, ...]

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "cite": [c.id for c in self.citations]}


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    jurisdiction: str
    name: str
    summary: str
    ea_types: tuple[str, ...]
    roles: dict[str, tuple[Duty, ...]]
    forms: tuple[Duty, ...]
    time_frames: tuple[Duty, ...]
    citations: tuple[Citation, ...]
    note: str | None

    def all_citations(self) -> tuple[Citation, ...]:
        """The route's citations and those of each statement, first occurrence kept."""
        seen: dict[str, Citation] = {c.id: c for c in self.citations}
        for duty in (*[d for r in ROLES for d in self.roles[r]], *self.forms, *self.time_frames):
            for c in duty.citations:
                seen.setdefault(c.id, c)
        return tuple(seen.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "jurisdiction": self.jurisdiction,
            "name": self.name,
            "summary": self.summary,
            "ea_types": list(self.ea_types),
            "roles": {r: [d.as_json() for d in self.roles[r]] for r in ROLES},
            "forms": [{"name": f.text, "cite": [c.id for c in f.citations]} for f in self.forms],
            "time_frames": [t.as_json() for t in self.time_frames],
            "cite": [c.id for c in self.citations],
            "citations": [c.as_json() for c in self.all_citations()],
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class CompassionateKb:
    version: str
    reviewed: str
    sources: dict[str, Citation]
    type_labels: dict[str, str]
    type_routes: dict[str, tuple[str, ...]]
    routes: tuple[Route, ...]


def knowledge_problems(doc: Any) -> list[str]:
    """Schema and reference problems of a compassionate-use routes document (empty when valid)."""
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in jsonschema.Draft202012Validator(knowledge_schema()).iter_errors(doc)
    ]
    if problems:
        return problems
    sources = set(doc["sources"])
    ids = [r["id"] for r in doc["routes"]]
    if len(set(ids)) != len(ids):
        problems.append("routes: duplicate route id")

    def cites(where: str, cited: list[str]) -> None:
        problems.extend(f"{where}: unknown source {c!r}" for c in cited if c not in sources)

    for t, entry in doc["ea_types"].items():
        cites(f"ea_types/{t}", entry["cite"])
        problems.extend(f"ea_types/{t}: unknown route {r!r}" for r in entry["routes"] if r not in ids)
    for r in doc["routes"]:
        where = f"routes/{r['id']}"
        cites(where, r["cite"])
        for f in r["forms"]:
            cites(f"{where}/forms", f["cite"])
        for tf in r["time_frames"]:
            cites(f"{where}/time_frames", tf["cite"])
        for role in ROLES:
            for duty in r["roles"][role]:
                cites(f"{where}/roles/{role}", duty["cite"])
                # Only a statement that something is *not* set may stand without a source.
                if not duty["cite"] and not duty["text"].startswith("Not "):
                    problems.append(f"{where}/roles/{role}: {duty['text'][:40]!r} cites no source")
    return problems


def _kb_of(doc: dict[str, Any]) -> CompassionateKb:
    sources = {k: Citation(k, v["title"], v["publisher"], v["url"]) for k, v in doc["sources"].items()}

    def duty(d: dict[str, Any], key: str = "text") -> Duty:
        return Duty(" ".join(str(d[key]).split()), tuple(sources[c] for c in d["cite"]))

    routes = tuple(
        Route(
            id=r["id"],
            jurisdiction=r["jurisdiction"],
            name=r["name"],
            summary=" ".join(r["summary"].split()),
            ea_types=tuple(r["ea_types"]),
            roles={role: tuple(duty(d) for d in r["roles"][role]) for role in ROLES},
            forms=tuple(duty(f, "name") for f in r["forms"]),
            time_frames=tuple(duty(t) for t in r["time_frames"]),
            citations=tuple(sources[c] for c in r["cite"]),
            note=" ".join(r["note"].split()) if r.get("note") else None,
        )
        for r in doc["routes"]
    )
    return CompassionateKb(
        version=str(doc["version"]),
        reviewed=str(doc["reviewed"]),
        sources=sources,
        type_labels={t: e["label"] for t, e in doc["ea_types"].items()},
        type_routes={t: tuple(e["routes"]) for t, e in doc["ea_types"].items()},
        routes=routes,
    )


@cache
def knowledge() -> CompassionateKb:
    """knowledge/compassionate.yaml, validated (a RuntimeError names every problem)."""
    text = resources.files("mbcnav.knowledge").joinpath("compassionate.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    problems = knowledge_problems(doc)
    if problems:
        raise RuntimeError("knowledge/compassionate.yaml is invalid: " + "; ".join(problems))
    return _kb_of(doc)


# ------------------------------------------------------------------------------------------------- the answer


def _available(status: str | None) -> bool | None:
    """AVAILABLE -> True; any other stated status -> False; no status -> None (unknown, never 'available')."""
    return None if not status else status.upper() == "AVAILABLE"


def _url(nct: str) -> str:
    return f"https://clinicaltrials.gov/study/{nct}"


@dataclass(frozen=True, slots=True)
class ExpandedAccessRecord:
    """An expanded-access record (studyType EXPANDED_ACCESS) of the match report that the record does not rule out."""

    nct_id: str
    title: str
    status: str
    types: tuple[str, ...]  # individual / intermediate / treatment; empty when the record does not say
    verdict: str  # eligible | possibly_eligible (as matched like a study)
    relevance: str
    interventions: tuple[str, ...]
    conditions: tuple[str, ...]
    countries: tuple[str, ...]
    last_update: str | None

    @property
    def available(self) -> bool | None:
        return _available(self.status)

    def as_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "url": _url(self.nct_id),
            "status": self.status,
            "available": self.available,
            "types": list(self.types),
            "verdict": self.verdict,
            "relevance": self.relevance,
            "interventions": list(self.interventions),
            "conditions": list(self.conditions),
            "countries": list(self.countries),
            "last_update": self.last_update,
        }


@dataclass(frozen=True, slots=True)
class DrugRoute:
    """The drugs of an eligible or possibly eligible late-phase study whose record says it has expanded access."""

    nct_id: str
    title: str
    phases: tuple[str, ...]
    status: str
    verdict: str
    drugs: tuple[tuple[str, bool], ...]  # (intervention as named, named in the mbcnav drug catalogue)
    expanded_access_nct: str | None
    expanded_access_status: str | None  # the EA record's overallStatus, else the study's statusForNctId
    expanded_access_types: tuple[str, ...]  # from the EA record when it is among the studies given
    expanded_access_products: tuple[str, ...]  # the EA record's interventions, when it is among the studies given

    @property
    def expanded_access_available(self) -> bool | None:
        return _available(self.expanded_access_status)

    def as_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "url": _url(self.nct_id),
            "phases": list(self.phases),
            "status": self.status,
            "verdict": self.verdict,
            "drugs": [{"name": n, "in_catalogue": known} for n, known in self.drugs],
            "expanded_access_nct": self.expanded_access_nct,
            "expanded_access_url": _url(self.expanded_access_nct) if self.expanded_access_nct else None,
            "expanded_access_status": self.expanded_access_status,
            "expanded_access_available": self.expanded_access_available,
            "expanded_access_types": list(self.expanded_access_types),
            "expanded_access_products": list(self.expanded_access_products),
        }


@dataclass(frozen=True, slots=True)
class CompassionateUse:
    needed: bool
    reason_codes: tuple[str, ...]  # options_exhausted, no_recruiting_fit
    reason: str
    checked_on: date
    recruiting_fits: int
    expanded_access: tuple[ExpandedAccessRecord, ...]
    expanded_access_ruled_out: int
    drug_routes: tuple[DrugRoute, ...]
    routes: tuple[Route, ...]
    knowledge_version: str

    def routes_for_types(self, types: Iterable[str]) -> tuple[Route, ...]:
        """The US routes that correspond to expanded-access types (individual -> 312.310 ...)."""
        kb = knowledge()
        wanted = {r for t in types for r in kb.type_routes.get(t, ())}
        return tuple(r for r in self.routes if r.id in wanted)

    def as_json(self) -> dict[str, Any]:
        """The `compassionate_use` document (keys in JSON_KEYS order, schema_version SCHEMA_VERSION):

        needed (bool), reason (text, "" when not needed), reason_codes (options_exhausted / no_recruiting_fit),
        checked_on (ISO date), recruiting_fits (eligible or possibly eligible recruiting studies),
        expanded_access [{nct_id, title, url, status, available (true / false / null), types, verdict, relevance,
        interventions, conditions, countries, last_update}], expanded_access_ruled_out (count),
        drug_routes [{nct_id, title, url, phases, status, verdict, drugs [{name, in_catalogue}],
        expanded_access_nct, expanded_access_url, expanded_access_status, expanded_access_available,
        expanded_access_types, expanded_access_products}],
        routes [{id, jurisdiction, name, summary, ea_types, roles {treating_physician, sponsor, irb_ethics,
        regulator: [{text, cite}]}, forms [{name, cite}], time_frames [{text, cite}], cite, citations [{id, title,
        publisher, url}], note}], knowledge_version, caveats, attribution. No patient identifier.
        """
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "needed": self.needed,
            "reason": self.reason,
            "reason_codes": list(self.reason_codes),
            "checked_on": self.checked_on.isoformat(),
            "recruiting_fits": self.recruiting_fits,
            "expanded_access": [r.as_json() for r in self.expanded_access],
            "expanded_access_ruled_out": self.expanded_access_ruled_out,
            "drug_routes": [d.as_json() for d in self.drug_routes],
            "routes": [r.as_json() for r in self.routes],
            "knowledge_version": self.knowledge_version,
            "caveats": list(CAVEATS),
            "attribution": ATTRIBUTION,
        }
        return {k: doc[k] for k in JSON_KEYS}


def _trial_of(item: Trial | tuple[Trial, Any]) -> Trial:
    return item if isinstance(item, Trial) else item[0]


def _ea_record(m: StudyMatch) -> ExpandedAccessRecord:
    t = m.trial
    return ExpandedAccessRecord(
        nct_id=t.nct_id,
        title=t.title,
        status=t.status,
        types=t.expanded_access_types,
        verdict=m.verdict,
        relevance=m.relevance,
        interventions=t.interventions,
        conditions=t.conditions,
        countries=t.countries,
        last_update=t.last_update,
    )


def _drug_route(m: StudyMatch, ea_by_nct: dict[str, Trial]) -> DrugRoute:
    t = m.trial
    known = catalogue()
    ea = ea_by_nct.get(t.expanded_access_nct) if t.expanded_access_nct else None
    return DrugRoute(
        nct_id=t.nct_id,
        title=t.title,
        phases=t.phases,
        status=t.status,
        verdict=m.verdict,
        drugs=tuple((name, bool(known.find(name))) for name in t.interventions),
        expanded_access_nct=t.expanded_access_nct,
        # The EA record's own status is newer information than the study's copy of it (statusForNctId).
        expanded_access_status=ea.status if ea is not None else t.expanded_access_status,
        expanded_access_types=ea.expanded_access_types if ea is not None else (),
        expanded_access_products=ea.interventions if ea is not None else (),
    )


def compassionate_use(
    report: MatchReport,
    trials: Iterable[Trial | tuple[Trial, Any]],
    *,
    options_exhausted: bool,
    today: date,
) -> CompassionateUse:
    """Whether to show compassionate-use routes, and the routes: matching EA records, late-phase drugs, paperwork."""
    kb = knowledge()
    ea_by_nct = {t.nct_id: t for t in map(_trial_of, trials) if t.is_expanded_access}
    ea_by_nct.update({m.trial.nct_id: m.trial for m in report.expanded_access})
    fits = [m for m in report.matches if m.verdict in FITS and not m.trial.is_expanded_access]
    recruiting = [m for m in fits if m.trial.status in RECRUITING_STATUSES]
    codes: list[str] = []
    reasons: list[str] = []
    if options_exhausted:
        codes.append("options_exhausted")
        reasons.append("standard options appear exhausted (no line of systemic therapy is offered above 'consider')")
    if not recruiting:
        codes.append("no_recruiting_fit")
        reasons.append("no recruiting study among those searched is eligible or possibly eligible")
    matching = [m for m in report.expanded_access if m.verdict in FITS]
    # Available programmes first, then by the match score (the report's order), then NCT id for a stable order.
    order = {m.trial.nct_id: i for i, m in enumerate(report.expanded_access)}
    matching.sort(key=lambda m: (_available(m.trial.status) is not True, order[m.trial.nct_id], m.trial.nct_id))
    drug_routes = [
        _drug_route(m, ea_by_nct)
        for m in fits
        if m.trial.has_expanded_access and LATE_PHASES.intersection(m.trial.phases)
    ]
    # A programme that is available now first; otherwise the report's ranking (sorted() is stable).
    drug_routes = sorted(drug_routes, key=lambda d: d.expanded_access_available is not True)
    return CompassionateUse(
        needed=bool(codes),
        reason_codes=tuple(codes),
        reason="; ".join(reasons),
        checked_on=today,
        recruiting_fits=len(recruiting),
        expanded_access=tuple(_ea_record(m) for m in matching),
        expanded_access_ruled_out=len(report.expanded_access) - len(matching),
        drug_routes=tuple(drug_routes),
        routes=kb.routes,
        knowledge_version=kb.version,
    )
