"""The whole assessment of one record, and its versioned JSON contract (docs/assess-json.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mbcnav.assess.config import AssessmentConfig
from mbcnav.assess.presentation import Presentation, assess_presentation
from mbcnav.assess.resistance import Resistance, assess_resistance
from mbcnav.assess.sites import Spread, assess_sites
from mbcnav.assess.stage import StageResult, assess_stage
from mbcnav.assess.subtype import Subtype, assess_subtype
from mbcnav.assess.therapy import Course, Line, build_lines, exposures, resolve_settings
from mbcnav.record.model import Record

SCHEMA_VERSION = "1.0"


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
    resistance = assess_resistance(subtype.hr_positive, courses, lines, stage.first_metastasis, cfg)
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
        exposures(courses),
        ecog,
        kps,
        (),
        tuple(conflicts),
        tuple(line_notes),
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
    """What the record does not say but a decision needs, each with the action that would resolve it."""
    r = a.record
    st = a.subtype
    out: list[Unknown] = []
    metastatic = a.stage.metastatic
    if metastatic is None:
        out.append(
            Unknown(
                "metastatic status",
                "stage IV must be established before any MBC pathway applies",
                "record staging (M category) or the imaging/biopsy that shows distant spread",
            )
        )
    if a.presentation.value == "unknown" and metastatic:
        out.append(
            Unknown(
                "de novo vs recurrent",
                a.presentation.basis,
                "record the first breast cancer diagnosis date and the date distant metastasis was found",
            )
        )
    if st.er.value == "unknown":
        out.append(
            Unknown(
                "ER status",
                "decides endocrine therapy and the subtype group",
                "test ER by IHC, preferably on a biopsy of a metastasis",
            )
        )
    if st.pr.value == "unknown" and st.er.value in ("negative", "unknown"):
        out.append(
            Unknown(
                "PR status",
                "with ER negative, PR decides hormone-receptor status (TNBC or not)",
                "test PR by IHC",
            )
        )
    if st.her2.value == "unknown":
        out.append(
            Unknown(
                "HER2 status",
                "decides HER2-directed therapy and the subtype group",
                "test HER2 by IHC (with reflex ISH for 2+)",
            )
        )
    elif st.her2.value == "2+/ISH-unknown":
        out.append(
            Unknown(
                "HER2 ISH result",
                "IHC 2+ is equivocal: ISH decides HER2-positive vs HER2-low",
                "request reflex ISH on the same specimen",
            )
        )
    elif st.her2.value == "negative":
        out.append(
            Unknown(
                "HER2 IHC score",
                "'HER2 negative' alone cannot tell HER2-0, ultralow or low: needed to "
                "decide HER2-low/ultralow eligibility (trastuzumab deruxtecan)",
                "ask pathology for the IHC score (0, >0<1+, 1+, 2+/ISH-), re-score if needed",
            )
        )
    elif st.her2.value == "0" and st.hr_positive:
        out.append(
            Unknown(
                "HER2-ultralow vs null",
                "IHC 0 with faint staining (ultralow) can qualify for "
                "trastuzumab deruxtecan after endocrine therapy (DESTINY-Breast06)",
                "ask pathology whether any faint, incomplete membrane staining was seen",
            )
        )
    if metastatic and not any(x.specimen.kind == "metastasis" for x in r.receptors):
        out.append(
            Unknown(
                "biopsy of a metastatic site",
                "receptors can change between primary and metastasis; "
                "ASCO 2015 and ESMO recommend a biopsy of accessible metastases",
                "biopsy an accessible metastasis to confirm histology and re-test ER, PR, HER2",
            )
        )
    if metastatic and r.patient.sex == "female" and r.patient.menopausal_status == "unknown" and st.hr_positive:
        out.append(
            Unknown(
                "menopausal status",
                "premenopausal women need ovarian function suppression with endocrine therapy",
                "record menopausal status (or LH/FSH/estradiol if unclear)",
            )
        )
    if a.ecog is None and metastatic:
        hint = f" (Karnofsky {a.karnofsky[0]} recorded)" if a.karnofsky else ""
        out.append(
            Unknown(
                "ECOG performance status" + hint,
                "fitness for chemotherapy, trials and palliative needs",
                "record ECOG at this visit",
            )
        )
    genes = {g.gene for g in r.genomics if g.origin == "germline"}
    if metastatic and st.her2.value not in ("3+", "2+/ISH+", "positive") and not genes & {"BRCA1", "BRCA2"}:
        out.append(
            Unknown(
                "germline BRCA1/2 status",
                "PARP inhibitors (olaparib, talazoparib) need a germline BRCA1/2 pathogenic variant",
                "offer germline genetic testing (with counselling)",
            )
        )
    if metastatic and st.group == "TNBC" and st.pdl1_cps is None:
        out.append(
            Unknown(
                "PD-L1 CPS",
                "first-line pembrolizumab with chemotherapy needs PD-L1 CPS >= 10 (KEYNOTE-355)",
                "test PD-L1 with the 22C3 assay (CPS)",
            )
        )
    somatic = {g.gene for g in r.genomics if g.origin in ("somatic", "unknown")}
    if (
        metastatic
        and st.hr_positive
        and st.her2.value not in ("3+", "2+/ISH+", "positive")
        and a.lines
        and not (somatic & {"ESR1", "PIK3CA", "AKT1", "PTEN"})
    ):
        out.append(
            Unknown(
                "ESR1 / PIK3CA / AKT1 / PTEN status",
                "targeted endocrine options after first line depend on them (ASCO 2024 rapid update)",
                "test tumour or ctDNA at progression (ESR1 mutations are acquired on an AI)",
            )
        )
    if metastatic and a.spread.sites == () and a.spread.basis != "all recorded metastases resolved":
        out.append(
            Unknown(
                "sites of metastasis",
                "site decides local therapy, bone health and visceral crisis assessment",
                "record each metastatic site with its date",
            )
        )
    undated = [m for m in r.metastases if m.date is None]
    if undated:
        out.append(
            Unknown(
                "date of metastasis",
                "intervals (de novo window, endocrine resistance) need it",
                "record when each metastasis was found: " + ", ".join(sorted({m.site for m in undated})),
            )
        )
    if a.presentation.mfi_approximate and a.presentation.mfi_months is not None:
        out.append(
            Unknown(
                "exact dates",
                "the metastasis-free interval is computed from partial dates "
                f"(midpoint {a.presentation.mfi_months:g} months)",
                "record full dates if known",
            )
        )
    if a.resistance.value == "unknown" and st.hr_positive:
        out.append(
            Unknown(
                "endocrine resistance",
                "; ".join(a.resistance.basis),
                "record endocrine therapy dates and when relapse/progression happened",
            )
        )
    return out


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
    return {
        "schema_version": SCHEMA_VERSION,
        "as_of": a.as_of.isoformat(),
        "patient": {
            "id": r.patient.id,
            "sex": r.patient.sex,
            "birth_date": str(r.patient.birth_date) if r.patient.birth_date else None,
            "menopausal_status": r.patient.menopausal_status,
            "pregnant": r.patient.pregnant,
        },
        "stage": {"group": a.stage.group, "basis": a.stage.basis, "initial_group": a.stage.initial_group},
        "metastatic": a.stage.metastatic,
        "first_metastasis_date": str(a.stage.first_metastasis) if a.stage.first_metastasis else None,
        "presentation": a.presentation.value,
        "presentation_basis": a.presentation.basis,
        "metastasis_free_interval_months": a.presentation.mfi_months,
        "metastasis_free_interval_approximate": a.presentation.mfi_approximate,
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
            "sources": {"er": list(st.er.sources), "pr": list(st.pr.sources), "her2": list(st.her2.sources)},
            "discordance": list(st.discordance),
            "pdl1_cps": st.pdl1_cps,
            "notes": list(st.notes),
        },
        "sites": list(a.spread.sites),
        "site_details": list(a.spread.details),
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
        "lines": [line.as_json() for line in a.lines],
        "therapies": [
            {
                "drug": c.drug,
                "setting": c.setting,
                "setting_basis": c.basis,
                "start": str(c.start) if c.start else None,
                "end": str(c.end) if c.end else None,
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
        "unknowns": [u.as_json() for u in a.unknowns],
        "conflicts": list(a.conflicts),
        "notes": list(a.notes),
        "input_issues": [i.as_json() for i in r.input_issues],
        "config": {
            "de_novo_window_months": a.config.de_novo_window_months,
            "regimen_window_days": a.config.regimen_window_days,
        },
    }
