"""The follow-up plan: cited monitoring items for the current regimen, their due dates and what is overdue."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Protocol, runtime_checkable

from mbcnav.assess.assessment import Assessment
from mbcnav.assess.therapy import Line
from mbcnav.dates import PartialDate
from mbcnav.knowledge.drugs import catalogue
from mbcnav.knowledge.kb import knowledge_base, monitoring_kb
from mbcnav.knowledge.model import MonItem, MonSchedule
from mbcnav.monitoring.durations import Duration, add
from mbcnav.terminology.codes import MBCNAV_CS, MBCNAV_SD

SCHEMA_VERSION = "1.0"
KIND_ORDER = {"imaging": 0, "lab": 1, "cardiac": 2, "review": 3, "vigilance": 4}
EVIDENCE_WORDS = {"tumour_assessment": "dated tumour measurement (restaging scan)"}


@runtime_checkable
class HasAssessment(Protocol):
    """What the plan needs from mbcnav.pathway.Evaluation (the pathway is above this package: it is passed in)."""

    @property
    def assessment(self) -> Assessment: ...


@dataclass(frozen=True, slots=True)
class RegimenDrug:
    name: str
    start: PartialDate | None
    classes: tuple[str, ...]
    line_defining: bool
    sources: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "start": str(self.start) if self.start else None,
            "classes": list(self.classes),
            "line_defining": self.line_defining,
            "sources": list(self.sources),
        }


@dataclass(frozen=True, slots=True)
class Regimen:
    """What the patient is on now: the ongoing metastatic line's drugs (less those stopped) and supportive drugs."""

    line: Line | None
    drugs: tuple[RegimenDrug, ...]

    @property
    def names(self) -> set[str]:
        return {d.name for d in self.drugs}

    def text(self) -> str:
        if self.line is None and not self.drugs:
            return "no ongoing treatment in the record"
        systemic = [d.name for d in self.drugs if d.line_defining]
        support = [d.name for d in self.drugs if not d.line_defining]
        parts = []
        if self.line is not None:
            parts.append(
                f"line {self.line.number}: {' + '.join(systemic) or '?'} (from {self.line.start or 'unknown'})"
            )
        else:
            parts.append("no ongoing line of systemic therapy")
        if support:
            parts.append("with " + ", ".join(support))
        return "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line.number if self.line else None,
            "line_start": str(self.line.start) if self.line and self.line.start else None,
            "drugs": [d.as_json() for d in self.drugs],
            "text": self.text(),
        }


@dataclass(frozen=True, slots=True)
class Activity:
    id: str
    what: str
    kind: str
    interval_text: str
    interval_iso: str | None
    earliest_iso: str | None
    repeat_iso: str | None  # the interval in force now (for FHIR Timing), when the schedule repeats
    due: date | None
    due_latest: date | None
    due_from: date | None
    overdue: bool | None
    last_done: PartialDate | None
    evidence_read: bool
    why: tuple[str, ...]
    source: str
    sources: tuple[str, ...]
    drugs: tuple[str, ...]
    items: tuple[str, ...]
    where: str
    quote: str
    note: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "what": self.what,
            "kind": self.kind,
            "interval": {
                "text": self.interval_text,
                "iso8601": self.interval_iso,
                "earliest_iso8601": self.earliest_iso,
            },
            "due": self.due.isoformat() if self.due else None,
            "due_latest": self.due_latest.isoformat() if self.due_latest and self.due_latest != self.due else None,
            "due_from": self.due_from.isoformat() if self.due_from else None,
            "overdue": self.overdue,
            "last_done": str(self.last_done) if self.last_done else None,
            "evidence_read": self.evidence_read,
            "why": list(self.why),
            "source": self.source,
            "sources": list(self.sources),
            "where": self.where,
            "quote": self.quote,
            "drugs": list(self.drugs),
            "items": list(self.items),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class FollowUpPlan:
    patient_id: str | None
    as_of: date
    regimen: Regimen
    activities: tuple[Activity, ...]
    notes: tuple[str, ...] = field(default=())
    unknowns: tuple[str, ...] = field(default=())

    @property
    def overdue(self) -> list[Activity]:
        return [a for a in self.activities if a.overdue is True]


def _assessment(source: Assessment | HasAssessment) -> Assessment:
    return source if isinstance(source, Assessment) else source.assessment


def current_regimen(a: Assessment) -> Regimen:
    """The ongoing metastatic line (its drugs still running) plus ongoing drugs that are not a line (bone agents,
    ovarian suppression). Nothing is assumed: a drug without an ongoing course in the record is not on the plan."""
    cat = catalogue()
    ongoing = [line for line in a.lines if line.ongoing]
    line = ongoing[-1] if ongoing else None
    drugs: list[RegimenDrug] = []
    if line is not None:
        stopped = {str(d["drug"]) for d in line.drugs_stopped()}
        for name in line.drugs:
            if name in stopped:
                continue
            courses = [c for c in line.courses if c.drug == name and (c.exposure.ongoing or c.end is None)]
            starts = [c.start for c in courses if c.start is not None]
            start = min(starts, key=lambda d: d.earliest) if starts else line.start
            drug = cat.drugs.get(name)
            drugs.append(
                RegimenDrug(
                    name,
                    start,
                    tuple(sorted(drug.classes)) if drug else (),
                    drug.line_defining if drug else True,
                    tuple(sorted({c.exposure.source.resource for c in courses})),
                )
            )
    names = {d.name for d in drugs}
    for c in a.courses:
        drug = cat.drugs.get(c.drug)
        if drug is None or drug.line_defining or c.drug in names or not c.exposure.ongoing:
            continue
        if c.start is not None and c.start.earliest > a.as_of:
            continue
        names.add(c.drug)
        same = [x for x in a.courses if x.drug == c.drug and x.exposure.ongoing]
        starts = [x.start for x in same if x.start is not None]
        drugs.append(
            RegimenDrug(
                c.drug,
                min(starts, key=lambda d: d.earliest) if starts else None,
                tuple(sorted(drug.classes)),
                False,
                tuple(sorted({x.exposure.source.resource for x in same})),
            )
        )
    return Regimen(line, tuple(drugs))


def _applies(item: MonItem, a: Assessment, regimen: Regimen) -> list[RegimenDrug] | bool:
    """The regimen drugs an item is for (drug/class items), or whether a scope item applies."""
    if item.applies.scope == "on_treatment":
        return regimen.line is not None
    if item.applies.scope == "between_lines":
        return regimen.line is None and a.stage.metastatic is True
    return [
        d for d in regimen.drugs if d.name in item.applies.drugs or any(c in d.classes for c in item.applies.classes)
    ]


def _evidence_dates(item: MonItem, a: Assessment) -> list[tuple[PartialDate, str]]:
    r = a.record
    if item.evidence.type == "tumour_assessment":
        found = [(m.date, m.source.resource) for m in r.measurements if m.date is not None]
    elif item.evidence.type == "labs":
        wanted = set(item.evidence.analytes)
        found = [(lab.date, lab.source.resource) for lab in r.labs if lab.analyte in wanted and lab.date is not None]
    else:
        return []
    return sorted({(d, s) for d, s in found if d.earliest <= a.as_of}, key=lambda x: (x[0].earliest, x[1]))


def _phase_next(schedule: MonSchedule, start: date, ref: date | None) -> tuple[date | None, str | None]:
    """The next date of a phased schedule after `ref` (or the first after the start), and the interval in force."""
    bounds = [(add(start, p.start), add(start, p.until) if p.until else None, p.every) for p in schedule.phases]
    if ref is None:
        first_start, _, every = bounds[0]
        return add(first_start, every), every
    for lo, hi, every in bounds:
        if ref >= lo and (hi is None or ref < hi):
            nxt = add(ref, every)
            if hi is None or nxt < hi:
                return nxt, every
            later = [b for b in bounds if b[0] >= hi]
            return (nxt, later[0][2]) if later else (None, None)
    if ref < bounds[0][0]:
        return add(bounds[0][0], bounds[0][2]), bounds[0][2]
    return None, None


def _next_due(schedule: MonSchedule, start: date, ref: date | None) -> tuple[date | None, date | None, str | None]:
    """(due_from, due, interval in force) for one schedule, from the start of the drug and the last test since."""
    kind = schedule.type
    if kind in ("recurring", "per_dose") and schedule.every:
        base = ref or start
        due_from = add(base, schedule.earliest) if schedule.earliest else None
        return due_from, add(base, schedule.every), schedule.every
    if kind == "phases":
        due, every = _phase_next(schedule, start, ref)
        return None, due, every
    if kind == "at":
        points = sorted(add(start, x) for x in schedule.at)
        after = [p for p in points if ref is None or p > ref]
        return None, (after[0] if after else None), None
    if kind == "before_start":
        return None, (start if ref is None else None), None
    return None, None, None


def _drug_words(drugs: list[RegimenDrug]) -> str:
    return " + ".join(d.name for d in drugs)


def _evaluate_item(
    item: MonItem, a: Assessment, regimen: Regimen, drugs: list[RegimenDrug]
) -> tuple[Activity, list[str]]:
    """One item for this patient: anchor, last test since the anchor, due date and overdue, with the facts used."""
    unknowns: list[str] = []
    why: list[str] = []
    if drugs:
        anchors = [d.start for d in drugs if d.start is not None]
        anchor = min(anchors, key=lambda d: d.earliest) if anchors else None
        srcs = sorted({s for d in drugs for s in d.sources})
        why.append(f"on {_drug_words(drugs)} since {anchor or 'an unknown date'} ({', '.join(srcs) or 'no source'})")
    elif regimen.line is not None:
        anchor = regimen.line.start
        srcs = sorted({c.exposure.source.resource for c in regimen.line.courses})
        why.append(
            f"line {regimen.line.number} ({' + '.join(regimen.line.drugs)}) ongoing since "
            f"{anchor or 'an unknown date'} ({', '.join(srcs)})"
        )
    else:
        anchor = None
        why.append("metastatic disease with no ongoing line of systemic therapy in the record")
    readable = item.evidence.type != "not_read"
    dates = _evidence_dates(item, a)
    since = [d for d in dates if anchor is None or d[0].earliest >= anchor.earliest]
    last = since[-1] if since else None
    wanted = EVIDENCE_WORDS.get(item.evidence.type) or (
        "/".join(item.evidence.analytes) + " result" if item.evidence.analytes else "result"
    )
    if not readable:
        label = item.what.split(" (")[0].split(";")[0]
        why.append(f"mbcnav does not read this from the record ({label}): whether it was done is unknown")
    elif last is not None:
        why.append(f"last {wanted}: {last[0]} ({last[1]})")
    elif dates:
        why.append(f"last {wanted}: {dates[-1][0]} ({dates[-1][1]}), before this treatment started: not counted")
    else:
        why.append(f"no {wanted} in the record" + (f" since {anchor}" if anchor else ""))
    due_from = due = due_hi = None
    repeat = None
    if anchor is not None and item.schedule.type != "none":
        ref_lo = last[0].earliest if last else None
        ref_hi = last[0].latest if last else None
        due_from, due, repeat = _next_due(item.schedule, anchor.earliest, ref_lo)
        _, due_hi, _ = _next_due(item.schedule, anchor.latest, ref_hi)
        if due is not None and due_hi is not None and due_hi != due:
            why.append(f"due between {due} and {due_hi}: a date it depends on is known only to the {anchor.precision}")
    elif anchor is None and item.schedule.type != "none":
        unknowns.append(f"{item.what}: the start of treatment is not dated in the record, so no due date")
    if item.schedule.type == "none" or anchor is None:
        overdue: bool | None = None
    elif not readable:
        overdue = None
        if due is not None:
            unknowns.append(f"{item.what} ({item.source}): due {due}, but mbcnav cannot see such results - check")
    elif due is None:
        overdue = False
    elif a.as_of > (due_hi or due):
        overdue = True
    elif a.as_of <= due:
        overdue = False
    else:
        overdue = None
    interval_iso = item.schedule.every if item.schedule.type in ("recurring", "per_dose") else repeat
    activity = Activity(
        id=item.group,
        what=item.what,
        kind=item.kind,
        interval_text=item.interval_text,
        interval_iso=interval_iso,
        earliest_iso=item.schedule.earliest,
        repeat_iso=repeat if item.schedule.type in ("recurring", "per_dose", "phases") else None,
        due=due,
        due_latest=due_hi,
        due_from=due_from,
        overdue=overdue,
        last_done=(last[0] if last else (dates[-1][0] if dates else None)),
        evidence_read=readable,
        why=tuple(why),
        source=item.source,
        sources=tuple(item.sources),
        drugs=tuple(d.name for d in drugs),
        items=(item.id,),
        where=item.where,
        quote=" ".join(item.quote.split()),
        note=item.note,
    )
    return activity, unknowns


def _merge(group: list[Activity]) -> Activity:
    """Items of one group (LVEF from two labels): the earliest due date wins; every source and drug is kept."""
    if len(group) == 1:
        return group[0]
    dated = [x for x in group if x.due is not None]
    primary = min(dated, key=lambda x: x.due or date.max) if dated else group[0]
    overdue: bool | None = primary.overdue
    if any(x.overdue is True for x in group):
        overdue = True
    sources = tuple(dict.fromkeys(s for x in [primary, *group] for s in x.sources))
    why = tuple(dict.fromkeys(w for x in [primary, *group] for w in x.why))
    drugs = tuple(dict.fromkeys(d for x in group for d in x.drugs))
    items = tuple(dict.fromkeys(i for x in [primary, *group] for i in x.items))
    return replace(primary, overdue=overdue, sources=sources, why=why, drugs=drugs, items=items)


def build_plan(source: Assessment | HasAssessment) -> FollowUpPlan:
    """The follow-up plan for one patient, from the assessment (or an Evaluation) as of its date."""
    a = _assessment(source)
    regimen = current_regimen(a)
    groups: dict[str, list[Activity]] = {}
    unknowns: list[str] = []
    for item in monitoring_kb().items:
        applies = _applies(item, a, regimen)
        if applies is False or applies == []:
            continue
        drugs = applies if isinstance(applies, list) else []
        activity, more = _evaluate_item(item, a, regimen, drugs)
        groups.setdefault(item.group, []).append(activity)
        unknowns += more
    activities = sorted((_merge(g) for g in groups.values()), key=lambda x: KIND_ORDER[x.kind])
    notes = [
        "Decision support, not a decision: each due date shows the facts it used and the source of its interval.",
        "A test is counted as done only when its result is in the record; mbcnav never assumes it was done.",
        "Due dates use the longest interval a source allows (for a 2-4-month window, 4 months after the last scan).",
    ]
    if a.stage.metastatic is not True:
        notes.append("The record does not show metastatic disease: restaging items are left out.")
    if regimen.line is None:
        notes.append("No ongoing line of systemic therapy in the record: only between-line and supportive items apply.")
    return FollowUpPlan(a.record.patient.id, a.as_of, regimen, tuple(activities), tuple(notes), tuple(unknowns))


def _evidence_index(ids: set[str]) -> dict[str, dict[str, Any]]:
    kb = knowledge_base()
    everything = {**kb.trials, **kb.guidelines}
    out: dict[str, dict[str, Any]] = {}
    for i in sorted(ids):
        e = everything.get(i, {})
        out[i] = {
            "citation": " ".join(str(e.get("citation", "")).split()),
            "pmid": e.get("pmid"),
            "doi": e.get("doi"),
            "year": e.get("year"),
            "confidence": e.get("confidence"),
        }
    return out


def plan_json(source: Assessment | HasAssessment | FollowUpPlan) -> dict[str, Any]:
    """The plan as its versioned JSON contract (docs/monitoring.md)."""
    plan = source if isinstance(source, FollowUpPlan) else build_plan(source)
    ids = {s for x in plan.activities for s in x.sources}
    return {
        "schema_version": SCHEMA_VERSION,
        "patient": {"id": plan.patient_id},
        "as_of": plan.as_of.isoformat(),
        "regimen": plan.regimen.as_json(),
        "activities": [x.as_json() for x in plan.activities],
        "overdue": [x.id for x in plan.overdue],
        "notes": list(plan.notes),
        "unknowns": list(plan.unknowns),
        "evidence": _evidence_index(ids),
        "knowledge_version": monitoring_kb().version,
    }


def _timing_repeat(iso: str) -> dict[str, Any]:
    d = Duration.parse(iso)
    if d.years and not d.months and not d.days:
        return {"frequency": 1, "period": d.years, "periodUnit": "a"}
    if d.months and not d.days:
        return {"frequency": 1, "period": d.months + 12 * d.years, "periodUnit": "mo"}
    if d.days % 7 == 0 and not d.months:
        return {"frequency": 1, "period": d.days // 7, "periodUnit": "wk"}
    return {"frequency": 1, "period": d.days, "periodUnit": "d"}


def _fhir_activity(x: Activity, evidence: dict[str, dict[str, Any]]) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "kind": "ServiceRequest",
        "code": {
            "coding": [{"system": f"{MBCNAV_CS}/monitoring-activity", "code": x.id, "display": x.what}],
            "text": x.what,
        },
        "status": "not-started",
        "description": f"{x.interval_text}. " + " ".join(f"{w}." for w in x.why),
        "extension": [
            {
                "url": f"{MBCNAV_SD}/monitoring-citation",
                "valueString": f"{s}: {evidence.get(s, {}).get('citation', '')}"
                + (f" - {x.where}" if s == x.source else ""),
            }
            for s in x.sources
        ],
    }
    if x.due is not None and x.repeat_iso:
        detail["scheduledTiming"] = {"event": [x.due.isoformat()], "repeat": _timing_repeat(x.repeat_iso)}
    elif x.due is not None:
        period = {"end": x.due.isoformat()}
        if x.due_from:
            period["start"] = x.due_from.isoformat()
        detail["scheduledPeriod"] = period
    else:
        detail["scheduledString"] = x.interval_text
    activity: dict[str, Any] = {"detail": detail}
    progress = []
    if x.last_done:
        progress.append({"text": f"last done: {x.last_done}"})
    if x.overdue is True:
        progress.append({"text": f"overdue: due {x.due}"})
    elif x.overdue is None and x.due is not None:
        progress.append({"text": "whether it is overdue is unknown"})
    if progress:
        activity["progress"] = progress
    return activity


def plan_fhir(source: Assessment | HasAssessment | FollowUpPlan) -> dict[str, Any]:
    """The plan as a FHIR R4 CarePlan (status active, intent plan), each activity citing its source."""
    plan = source if isinstance(source, FollowUpPlan) else build_plan(source)
    evidence = _evidence_index({s for x in plan.activities for s in x.sources})
    subject: dict[str, Any] = (
        {"reference": f"Patient/{plan.patient_id}"} if plan.patient_id else {"display": "the patient of the record"}
    )
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": "Follow-up plan for metastatic breast cancer (mbcnav)",
        "description": f"Monitoring for {plan.regimen.text()}, as of {plan.as_of.isoformat()}.",
        "subject": subject,
        "period": {"start": plan.as_of.isoformat()},
        "created": plan.as_of.isoformat(),
        "activity": [_fhir_activity(x, evidence) for x in plan.activities],
        "note": [{"text": n} for n in [*plan.notes, *plan.unknowns]],
    }
    if plan.patient_id:
        resource["id"] = re.sub(r"[^A-Za-z0-9.\-]", "-", f"followup-{plan.patient_id}")[:64]
    return resource


__all__ = [
    "SCHEMA_VERSION",
    "Activity",
    "FollowUpPlan",
    "HasAssessment",
    "Regimen",
    "RegimenDrug",
    "build_plan",
    "current_regimen",
    "plan_fhir",
    "plan_json",
]
