"""The whole assessment of one record, and its versioned JSON contract (docs/assess-json.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from mbcnav.assess.config import AssessmentConfig
from mbcnav.assess.labs import LabSummary, summarize_labs
from mbcnav.assess.menopause import MenopauseAssessment, assess_menopause
from mbcnav.assess.presentation import Presentation, assess_presentation
from mbcnav.assess.resistance import Resistance, assess_resistance
from mbcnav.assess.sites import Spread, assess_sites
from mbcnav.assess.stage import StageResult, assess_stage
from mbcnav.assess.subtype import Subtype, assess_subtype
from mbcnav.assess.therapy import (
    Course,
    Line,
    build_lines,
    exposures,
    latest_status,
    latest_status_on,
    relapse_after_early_treatment,
    resolve_settings,
)
from mbcnav.assess.visceral import VisceralCrisis, assess_visceral_crisis
from mbcnav.record.model import Record

SCHEMA_VERSION = "1.1"


@dataclass(frozen=True, slots=True)
class Unknown:
    item: str
    why: str
    action: str

    def as_json(self) -> dict[str, str]:
        return {"item": self.item, "why": self.why, "action": self.action}


@dataclass(frozen=True, slots=True)
class Assessment:
    record: Record
    as_of: date
    config: AssessmentConfig
    stage: StageResult
    presentation: Presentation
    subtype: Subtype
    spread: Spread
    courses: tuple[Course, ...]
    lines: tuple[Line, ...]
    resistance: Resistance
    exposures: dict[str, dict[str, object]]
    ecog: tuple[int, str, str] | None  # value, date, source
    karnofsky: tuple[int, str, str] | None
    unknowns: tuple[Unknown, ...]
    conflicts: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())
    # contract 1.1: laboratory summaries, derived menopausal status, visceral crisis from the record
    labs: tuple[LabSummary, ...] = ()
    menopause: MenopauseAssessment | None = None
    visceral_crisis: VisceralCrisis | None = None

    def to_json(self) -> dict[str, Any]:
        return assessment_json(self)


def _latest_ps(record: Record, scale: str) -> tuple[int, str, str] | None:
    rows = [p for p in record.performance if p.scale == scale]
    if not rows:
        return None
    dated = [p for p in rows if p.date is not None]
    p = max(dated, key=lambda p: p.date.earliest) if dated else rows[-1]  # type: ignore[union-attr]
    return p.value, str(p.date) if p.date else "", p.source.resource


def _first_diagnosis(record: Record) -> Any:
    dated = [p.diagnosis_date for p in record.primaries if p.diagnosis_date is not None]
    return min(dated, key=lambda d: d.earliest) if dated else None


def assess(record: Record, *, as_of: date | None = None, config: AssessmentConfig | None = None) -> Assessment:
    """Record in, Assessment out. Pure: the same record, date and config give the same answer."""
    cfg = config or AssessmentConfig()
    today = as_of or date.today()
    stage = assess_stage(record)
    diagnosis = _first_diagnosis(record)
    presentation = assess_presentation(stage.metastatic, diagnosis, stage.first_metastasis, cfg)
    subtype = assess_subtype(record, cfg)
    spread = assess_sites(record.metastases, stage.metastatic, cfg)
    courses = resolve_settings(record, stage.first_metastasis, presentation.value)
    lines, line_notes = build_lines(courses, record.disease_statuses, cfg)
    progressions = tuple(
        d.date
        for d in record.disease_statuses
        if d.status == "progression" and d.date is not None and d.date.earliest <= today
    )
    resistance = assess_resistance(subtype.hr_positive, courses, lines, stage.first_metastasis, cfg, progressions)
    if subtype.er.value == "low" and resistance.value == "sensitive":
        # fresh5 writer: "endocrine sensitive" for ER 5 % after an ER 95 % primary misleads; the label is ABC timing
        resistance = replace(
            resistance,
            basis=(
                *resistance.basis,
                "ER-low (1-10%): 'sensitive' is ABC timing only; benefit from endocrine therapy is uncertain and the "
                "biology often resembles ER-negative disease (ASCO/CAP 2020)",
            ),
        )
    ecog = _latest_ps(record, "ECOG")
    kps = _latest_ps(record, "Karnofsky")
    conflicts = list(stage.conflicts) + _conflicts(record, diagnosis)
    a = Assessment(
        record,
        today,
        cfg,
        stage,
        presentation,
        subtype,
        spread,
        tuple(courses),
        tuple(lines),
        resistance,
        exposures(courses, lines),
        ecog,
        kps,
        (),
        tuple(conflicts),
        tuple(line_notes),
    )
    labs = summarize_labs(record, today)
    a = dataclasses.replace(
        a,
        labs=labs,
        menopause=assess_menopause(record, today),
        visceral_crisis=assess_visceral_crisis(record, spread, labs, today),
    )
    # Unknowns read the finished assessment, so they are added last.
    return dataclasses.replace(a, unknowns=tuple(find_unknowns(a)))


def _conflicts(record: Record, diagnosis: Any) -> list[str]:
    out: list[str] = []
    p = record.patient
    if p.sex == "male" and p.pregnant:
        out.append("patient recorded as male and pregnant")
    if p.sex == "male" and p.menopausal_status != "unknown":
        out.append("menopausal status recorded for a male patient")
    if p.birth_date and diagnosis and diagnosis.latest < p.birth_date.earliest:
        out.append(f"breast cancer diagnosis ({diagnosis}) before birth ({p.birth_date})")
    for t in record.therapies:
        if diagnosis and t.start and t.start.latest < diagnosis.earliest and t.setting != "unknown":
            out.append(
                f"{t.drug} started ({t.start}) before the breast cancer diagnosis ({diagnosis}) — {t.source.resource}"
            )
    if len(record.primaries) > 1:
        sides = {x.laterality for x in record.primaries}
        if len(sides) > 1 and "unknown" not in sides:
            out.append("more than one primary breast cancer (different sides): assessment uses the earliest")
    return out


def find_unknowns(a: Assessment) -> list[Unknown]:
    """What the record does not say but a decision needs (knowledge/unknowns.yaml, shared with the options)."""
    from mbcnav.assess.unknowns import find_unknowns as from_knowledge

    return from_knowledge(a)


def assessment_json(a: Assessment) -> dict[str, Any]:
    st = a.subtype
    r = a.record
    if st.er.specimen == st.her2.specimen or st.her2.value == "unknown":
        specimen = st.er.specimen if st.her2.value == "unknown" else st.her2.specimen
    elif st.er.value == "unknown":
        specimen = st.her2.specimen
    else:
        specimen = f"ER: {st.er.specimen}; HER2: {st.her2.specimen}"
    dates = [d for d in (st.er.date, st.her2.date) if d]
    if specimen.startswith("ER: "):  # two specimens, each with its own date (fresh9 writer, r01)
        dated = "; ".join(
            f"{name}: {call.specimen}" + (f", {call.date}" if call.date else "")
            for name, call in (("ER", st.er), ("HER2", st.her2))
        )
    else:
        dated = specimen + (f", {max(dates)}" if dates else "")
    return {
        "schema_version": SCHEMA_VERSION,
        "as_of": a.as_of.isoformat(),
        "patient": {
            "id": r.patient.id,
            "sex": r.patient.sex,
            "birth_date": str(r.patient.birth_date) if r.patient.birth_date else None,
            "menopausal_status": a.menopause.record_status if a.menopause else r.patient.menopausal_status,
            "pregnant": r.patient.pregnant,
        },
        "stage": {"group": a.stage.group, "basis": a.stage.basis, "initial_group": a.stage.initial_group},
        "metastatic": a.stage.metastatic,
        "first_metastasis_date": str(a.stage.first_metastasis) if a.stage.first_metastasis else None,
        "presentation": a.presentation.value,
        "presentation_basis": a.presentation.basis,
        "metastasis_free_interval_months": a.presentation.mfi_months,
        "metastasis_free_interval_approximate": a.presentation.mfi_approximate,
        # 1.1 (additive, 2026-12-06): recurrent disease only — per class of (neo)adjuvant treatment, its last course and
        # the months from its end to the first distant metastasis, or that the relapse came on it (assess/therapy.py)
        "relapse_after_early_treatment": relapse_after_early_treatment(list(a.courses), a.stage.first_metastasis)
        if a.presentation.value == "recurrent"
        else [],
        "subtype": {
            "er": st.er.value,
            "er_percent": st.er.percent,
            "pr": st.pr.value,
            "pr_percent": st.pr.percent,
            "her2": st.her2.value,
            "her2_category": st.her2_category,
            "group": st.group,
            "hr_positive": st.hr_positive,
            "specimen": specimen,
            "date": max(dates) if dates else None,
            "specimen_dated": dated,
            "sources": {"er": list(st.er.sources), "pr": list(st.pr.sources), "her2": list(st.her2.sources)},
            "discordance": list(st.discordance),
            "pdl1_cps": st.pdl1_cps,
            "notes": list(st.notes),
        },
        "sites": list(a.spread.sites),
        "site_details": list(a.spread.details),
        "locoregional_disease": list(a.spread.locoregional),
        "bone_only": a.spread.bone_only,
        "visceral": a.spread.visceral,
        "cns": a.spread.cns,
        "oligometastatic": a.spread.oligometastatic,
        "lesion_count": a.spread.lesion_count,
        "endocrine_resistance": a.resistance.value,
        "endocrine_resistance_basis": list(a.resistance.basis),
        "ecog": a.ecog[0] if a.ecog else None,
        "ecog_date": a.ecog[1] if a.ecog else None,
        "karnofsky": a.karnofsky[0] if a.karnofsky else None,
        # 1.1 (additive, 2026-12-06): an ongoing line on which the record documents progression (a disease status of
        # progression dated on or after the line's start, the latest status since then): the drug may go on while the
        # next step is decided, but the line is not working — `progression_documented` {date, source}, else null
        "lines": [{**line.as_json(), "progression_documented": _progression_on(line, r)} for line in a.lines],
        "therapies": [
            {
                "drug": c.drug,
                "setting": c.setting,
                "setting_basis": c.basis,
                "start": str(c.start) if c.start else None,
                "end": str(c.end) if c.end else None,
                "ongoing": c.exposure.ongoing and c.end is None,  # 1.1, additive: still given on the as-of date
                "reason_stopped": c.exposure.reason_stopped,
                "in_catalogue": c.exposure.known_drug,
                "source": c.exposure.source.resource,
            }
            for c in a.courses
        ],
        "exposures": a.exposures,
        "biomarkers": [
            {
                "gene": g.gene,
                "origin": g.origin,
                "result": g.result,
                "variant": g.variant,
                "date": str(g.date) if g.date else None,
                "source": g.source.resource,
            }
            for g in r.genomics
        ]
        + [
            {
                "gene": s.name,
                "origin": "somatic",
                "result": s.value,
                "variant": None,
                "date": str(s.date) if s.date else None,
                "source": s.source.resource,
            }
            for s in r.signatures
        ],
        "menopause": a.menopause.as_json() if a.menopause else None,
        "labs": [x.as_json() for x in a.labs],
        # the problem list's conditions that change treatment or trial eligibility (terminology/comorbidities.yaml)
        "comorbidities": [
            {
                "condition": c.name,
                "text": c.text,
                "date": str(c.date) if c.date else None,
                "status": c.status,
                "source": c.source.resource,
            }
            for c in r.comorbidities
        ],
        # 1.1 (additive, 2026-12-06): surgery and radiotherapy as recorded (brain radiotherapy, SBRT, resection decide
        # "treated brain metastases" and radiotherapy wash-outs), and the latest recorded disease status
        "local_treatments": [
            {
                "kind": t.kind,
                "description": t.description,
                "site": t.site,
                "start": str(t.start) if t.start else None,
                "end": str(t.end) if t.end else None,
                "intent": t.intent,
                "source": t.source.resource,
            }
            for t in sorted(r.local_treatments, key=lambda t: t.start.earliest if t.start else date.min)
        ],
        "latest_disease_status": _latest_status(r),
        "visceral_crisis": a.visceral_crisis.as_json() if a.visceral_crisis else None,
        "unknowns": [u.as_json() for u in a.unknowns],
        "conflicts": list(a.conflicts),
        "notes": list(a.notes),
        "input_issues": [i.as_json() for i in r.input_issues],
        "config": {
            "de_novo_window_months": a.config.de_novo_window_months,
            "regimen_window_days": a.config.regimen_window_days,
        },
    }


def _progression_on(line: Line, record: Record) -> dict[str, str] | None:
    """For an ongoing line: the record's latest disease status since the line started, when it says progression."""
    if not line.ongoing or line.start is None:
        return None
    latest = latest_status_on(line, record.disease_statuses)
    if latest is None or latest.status != "progression":
        return None
    return {"date": str(latest.date), "source": latest.source.resource}


def _latest_status(record: Record) -> dict[str, str] | None:
    """The latest dated disease status of the record (mCODE CancerDiseaseStatus), or None."""
    last = latest_status(record.disease_statuses)
    return None if last is None else {"status": last.status, "date": str(last.date), "source": last.source.resource}
