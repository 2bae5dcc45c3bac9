"""The case summary as a typed, renderer-neutral model built from an Evaluation and trial matches: facts, not prose."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from mbcnav import __version__
from mbcnav.assess.labs import display_number
from mbcnav.record.model import ReceptorResult, Record, Specimen

if TYPE_CHECKING:
    from mbcnav.pathway import Evaluation
    from mbcnav.trials.match import MatchReport

TRIALS_NOT_SEARCHED = "Clinical trials were not searched for this summary (no trial store was reachable)."


# ---- small value objects ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PatientFacts:
    id: str | None
    sex: str  # female | male | other | unknown
    birth_date: str | None
    age_years: int | None  # on the as-of date; None when the birth date is unknown or too vague
    menopausal_status: str  # pre | peri | post | unknown | not_applicable
    menopause_basis: str | None
    pregnant: bool | None
    source: str | None


@dataclass(frozen=True, slots=True)
class StageEntry:
    group: str
    staging_type: str
    date: str | None
    source: str


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The primary breast cancer as recorded; None fields are unknown."""

    description: str | None
    laterality: str | None
    histology: str | None
    grade: str | None
    date: str | None
    initial_stage: str | None
    stages: tuple[StageEntry, ...]
    source: str | None


@dataclass(frozen=True, slots=True)
class ReceptorValue:
    marker: str  # ER, PR, HER2, PD-L1, Ki67
    text: str  # "positive (90%)", "negative (IHC 1+)", "CPS 4"
    status: str | None
    percent: float | None
    ihc: str | None
    ish: str | None
    cps: float | None
    date: str | None
    source: str


@dataclass(frozen=True, slots=True)
class SpecimenResults:
    """Receptor results of one specimen on one date (a biopsy of the primary, of a metastasis, blood)."""

    label: str
    kind: str  # primary | metastasis | blood | unknown
    site: str | None
    date: str | None
    results: tuple[ReceptorValue, ...]

    def value(self, marker: str) -> ReceptorValue | None:
        return next((r for r in self.results if r.marker == marker), None)


@dataclass(frozen=True, slots=True)
class Discordance:
    marker: str
    kind: str
    primary: str | None
    metastasis: str | None
    primary_date: str | None
    metastasis_date: str | None
    metastasis_site: str | None
    used: str | None


@dataclass(frozen=True, slots=True)
class Subtype:
    group: str  # HR+/HER2-, HR+/HER2+, HR-/HER2+, TNBC, unknown
    er: str
    er_percent: float | None
    pr: str
    pr_percent: float | None
    her2: str
    her2_category: str
    hr_positive: bool | None
    specimen: str | None
    date: str | None
    specimen_dated: str | None  # the specimen(s) with their date(s): "ER: metastasis (bone), d1; HER2: primary, d2"
    pdl1_cps: float | None
    notes: tuple[str, ...]
    sources: tuple[str, ...]
    by_specimen: tuple[SpecimenResults, ...]
    discordance: tuple[Discordance, ...]


@dataclass(frozen=True, slots=True)
class Site:
    site: str
    detail: str | None
    date: str | None
    lesions: int | None
    status: str
    source: str | None


@dataclass(frozen=True, slots=True)
class Biomarker:
    gene: str
    origin: str
    result: str
    variant: str | None
    date: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class LabValue:
    analyte: str
    value: float
    unit: str
    date: str | None
    flag: str | None
    times_uln: float | None
    reference: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class Disease:
    """What the disease is and where it is now."""

    metastatic: bool | None
    stage: str
    stage_basis: str
    presentation: str  # de_novo | recurrent | not_metastatic | unknown
    presentation_basis: str
    mfi_months: float | None
    mfi_approximate: bool
    first_metastasis_date: str | None
    diagnosis: Diagnosis
    subtype: Subtype
    sites: tuple[Site, ...]
    active_sites: tuple[str, ...]
    visceral: bool | None
    cns: bool | None
    bone_only: bool | None
    oligometastatic: bool | None
    lesion_count: int | None
    endocrine_resistance: str
    endocrine_resistance_basis: tuple[str, ...]
    ecog: int | None
    ecog_date: str | None
    karnofsky: int | None
    visceral_crisis: str | None
    visceral_crisis_evidence: tuple[str, ...]
    biomarkers: tuple[Biomarker, ...]
    labs: tuple[LabValue, ...]


@dataclass(frozen=True, slots=True)
class Therapy:
    drug: str
    setting: str
    start: str | None
    end: str | None
    reason_stopped: str | None
    source: str


@dataclass(frozen=True, slots=True)
class LocalTreatment:
    kind: str  # surgery | radiotherapy
    description: str
    start: str | None
    end: str | None
    site: str | None
    intent: str
    source: str


@dataclass(frozen=True, slots=True)
class LineSummary:
    """A line of therapy in the metastatic setting with its RECIST response (None: no measurements to judge)."""

    number: int
    drugs: tuple[str, ...]
    start: str | None
    end: str | None
    ongoing: bool
    reason_stopped: str | None
    why_new: str
    sources: tuple[str, ...]
    best_response: str | None  # CR PR SD PD NE, None without a RECIST evaluation
    best_response_detail: str | None
    confirmed: bool
    best_change_pct: float | None
    baseline_date: str | None
    baseline_sum_mm: float | None
    progression_date: str | None
    duration_of_response_days: int | None
    response_notes: tuple[str, ...]


def publication_url(pmid: str | None, doi: str | None) -> str | None:
    """Where a reader opens a publication: PubMed when it has a PMID, else its DOI."""
    if pmid:
        return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
    if doi:
        return f"https://doi.org/{doi}"
    return None


@dataclass(frozen=True, slots=True)
class Cited:
    """A trial behind an option, as the knowledge base cites it (result as published, or None with a note)."""

    name: str
    year: int | None
    citation: str
    pmid: str | None
    doi: str | None
    result: str | None
    note: str | None

    @property
    def url(self) -> str | None:
        return publication_url(self.pmid, self.doi)


@dataclass(frozen=True, slots=True)
class Guideline:
    citation: str
    year: int | None
    pmid: str | None
    doi: str | None

    @property
    def url(self) -> str | None:
        return publication_url(self.pmid, self.doi)


@dataclass(frozen=True, slots=True)
class OptionSummary:
    id: str
    title: str
    tier: str  # preferred | recommended | consider
    category: str
    modality: str
    regimen: str
    components: tuple[tuple[str, tuple[str, ...]], ...]  # (role, alternatives)
    drugs: tuple[str, ...]
    why: tuple[str, ...]
    cautions: tuple[str, ...]
    evidence: tuple[Cited, ...]
    guidelines: tuple[Guideline, ...]
    patient_text: str


@dataclass(frozen=True, slots=True)
class NotOfferedSummary:
    id: str
    title: str
    category: str
    modality: str
    drugs: tuple[str, ...]
    why_not: tuple[str, ...]
    tests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TestToAsk:
    test: str
    why: str


@dataclass(frozen=True, slots=True)
class Referral:
    to: str
    why: str
    urgency: str


@dataclass(frozen=True, slots=True)
class TrialCandidate:
    nct_id: str
    title: str
    study_type: str
    phases: tuple[str, ...]
    status: str
    verdict: str  # eligible | possibly_eligible | ineligible
    questions: tuple[str, ...]
    url: str


@dataclass(frozen=True, slots=True)
class Trials:
    """Trial candidates, or why trials were not searched (never an empty list that looks like "no trial fits")."""

    searched: bool
    note: str
    studies_searched: int
    candidates: tuple[TrialCandidate, ...]
    expanded_access: tuple[TrialCandidate, ...]
    highlight_expanded_access: bool
    highlight_reason: str
    attribution: str | None


@dataclass(frozen=True, slots=True)
class UnknownItem:
    item: str
    why: str
    action: str


@dataclass(frozen=True, slots=True)
class Issue:
    location: str
    message: str
    severity: str


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """Everything the second-opinion packet says, each fact with its source; None (or "unknown") means unknown."""

    patient: PatientFacts
    as_of: str
    generated_at: str
    mbcnav_version: str
    kb_version: str
    kb_reviewed: str
    disease: Disease
    early_therapies: tuple[Therapy, ...]
    local_treatments: tuple[LocalTreatment, ...]
    lines: tuple[LineSummary, ...]
    current_line: int | None
    options: tuple[OptionSummary, ...]
    not_offered: tuple[NotOfferedSummary, ...]
    tests: tuple[TestToAsk, ...]
    referrals: tuple[Referral, ...]
    option_notes: tuple[str, ...]
    trials: Trials
    unknowns: tuple[UnknownItem, ...]
    conflicts: tuple[str, ...]
    notes: tuple[str, ...]
    input_issues: tuple[Issue, ...]
    questions: tuple[str, ...]
    disclaimer: str
    sources: frozenset[str] = field(default_factory=frozenset)  # every Type/id the facts rest on

    def options_by_tier(self) -> list[tuple[str, list[OptionSummary]]]:
        tiers = ("preferred", "recommended", "consider")
        return [(t, [o for o in self.options if o.tier == t]) for t in tiers if any(o.tier == t for o in self.options)]


# ---- building ------------------------------------------------------------------------------------------------------
def _s(v: Any) -> str | None:
    return None if v is None else str(v)


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


def _i(v: Any) -> int | None:
    return None if v is None else int(v)


def _age(record: Record, as_of: date) -> int | None:
    born = record.patient.birth_date
    if born is None:
        return None

    def years(b: date) -> int:
        return as_of.year - b.year - ((as_of.month, as_of.day) < (b.month, b.day))

    young, old = years(born.latest), years(born.earliest)
    return young if young == old else None


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:g}%"


def receptor_text(r: ReceptorResult) -> str:
    """A result as reported: status first, then the figures (percentage, IHC score, ISH, CPS)."""
    details: list[str] = []
    if r.marker in ("ER", "PR", "Ki67") and r.percent is not None:
        details.append(_pct(r.percent))
    if r.ihc_score is not None:
        details.append(f"IHC {r.ihc_score}")
    if r.ish is not None:
        details.append(f"ISH {r.ish}")
    if r.cps is not None:
        details.append(f"CPS {r.cps:g}")
    if r.status is None:
        return ", ".join(details) if details else "reported without a value"
    status = "low positive" if r.status == "low" else r.status
    return f"{status} ({', '.join(details)})" if details else status


def specimen_label(s: Specimen) -> str:
    if s.kind == "primary":
        return "primary tumour (breast)"
    if s.kind == "metastasis":
        return f"metastasis ({(s.site or 'site not recorded').replace('_', ' ')})"
    if s.kind == "blood":
        return "blood"
    return "specimen not recorded"


def _by_specimen(receptors: Iterable[ReceptorResult]) -> tuple[SpecimenResults, ...]:
    groups: dict[tuple[str, str | None, str | None], list[ReceptorResult]] = {}
    for r in receptors:
        dated = r.date or r.specimen.date
        key = (r.specimen.kind, r.specimen.site, str(dated) if dated else None)
        groups.setdefault(key, []).append(r)
    out = []
    order = {"ER": 0, "PR": 1, "HER2": 2, "PD-L1": 3, "Ki67": 4}
    for (kind, site, when), items in groups.items():
        items.sort(key=lambda r: order.get(r.marker, 9))
        values = tuple(
            ReceptorValue(
                r.marker,
                receptor_text(r),
                r.status,
                r.percent,
                r.ihc_score,
                r.ish,
                r.cps,
                str(r.date) if r.date else None,
                r.source.resource,
            )
            for r in items
        )
        out.append(SpecimenResults(specimen_label(items[0].specimen), kind, site, when, values))
    out.sort(key=lambda g: (g.date is None, g.date or ""))
    return tuple(out)


def _diagnosis(record: Record, a: dict[str, Any]) -> Diagnosis:
    primaries = sorted(
        record.primaries,
        key=lambda x: (x.diagnosis_date is None, x.diagnosis_date.earliest if x.diagnosis_date else date.min),
    )
    p = primaries[0] if primaries else None
    stages = tuple(
        StageEntry(s.group, s.staging_type, str(s.date) if s.date else None, s.source.resource)
        for s in sorted(record.stage_groups, key=lambda s: (s.date is None, s.date.earliest if s.date else date.min))
    )
    if p is None:
        return Diagnosis(None, None, None, None, None, _s(a["stage"].get("initial_group")), stages, None)
    return Diagnosis(
        p.description or None,
        None if p.laterality == "unknown" else p.laterality,
        p.histology,
        p.grade,
        str(p.diagnosis_date) if p.diagnosis_date else None,
        _s(a["stage"].get("initial_group")),
        stages,
        p.source.resource,
    )


def _subtype(record: Record, a: dict[str, Any]) -> Subtype:
    st = a["subtype"]
    sources = tuple(sorted({x for v in st.get("sources", {}).values() for x in v}))
    return Subtype(
        group=str(st["group"]),
        er=str(st["er"]),
        er_percent=_f(st.get("er_percent")),
        pr=str(st["pr"]),
        pr_percent=_f(st.get("pr_percent")),
        her2=str(st["her2"]),
        her2_category=str(st["her2_category"]),
        hr_positive=st.get("hr_positive"),
        specimen=_s(st.get("specimen")),
        date=_s(st.get("date")),
        specimen_dated=_s(st.get("specimen_dated")),
        pdl1_cps=_f(st.get("pdl1_cps")),
        notes=tuple(str(n) for n in st.get("notes", [])),
        sources=sources,
        by_specimen=_by_specimen(record.receptors),
        discordance=tuple(
            Discordance(
                str(d.get("marker")),
                str(d.get("kind")),
                _s(d.get("primary")),
                _s(d.get("metastasis")),
                _s(d.get("primary_date")),
                _s(d.get("metastasis_date")),
                _s(d.get("metastasis_site")),
                _s(d.get("used")),
            )
            for d in st.get("discordance", [])
        ),
    )


def _reference(rr: dict[str, Any] | None) -> str | None:
    if not rr:
        return None
    low, high = rr.get("low"), rr.get("high")
    span = f"{'' if low is None else display_number(low)}–{'' if high is None else display_number(high)}"
    return f"{span} ({'assumed: ' if rr.get('assumed') else ''}{rr.get('source')})"


def _disease(record: Record, a: dict[str, Any]) -> Disease:
    vc = a.get("visceral_crisis") or {}
    return Disease(
        metastatic=a.get("metastatic"),
        stage=str(a["stage"]["group"]),
        stage_basis=str(a["stage"].get("basis") or ""),
        presentation=str(a["presentation"]),
        presentation_basis=str(a.get("presentation_basis") or ""),
        mfi_months=_f(a.get("metastasis_free_interval_months")),
        mfi_approximate=bool(a.get("metastasis_free_interval_approximate")),
        first_metastasis_date=_s(a.get("first_metastasis_date")),
        diagnosis=_diagnosis(record, a),
        subtype=_subtype(record, a),
        sites=tuple(
            Site(
                str(d["site"]),
                _s(d.get("detail")),
                _s(d.get("date")),
                _i(d.get("lesions")),
                str(d.get("status") or "unknown"),
                _s(d.get("source")),
            )
            for d in a.get("site_details", [])
        ),
        active_sites=tuple(str(s) for s in a.get("sites", [])),
        visceral=a.get("visceral"),
        cns=a.get("cns"),
        bone_only=a.get("bone_only"),
        oligometastatic=a.get("oligometastatic"),
        lesion_count=_i(a.get("lesion_count")),
        endocrine_resistance=str(a.get("endocrine_resistance") or "unknown"),
        endocrine_resistance_basis=tuple(str(x) for x in a.get("endocrine_resistance_basis", [])),
        ecog=_i(a.get("ecog")),
        ecog_date=_s(a.get("ecog_date")),
        karnofsky=_i(a.get("karnofsky")),
        visceral_crisis=_s(vc.get("status")),
        visceral_crisis_evidence=tuple(str(x) for x in vc.get("evidence", [])),
        biomarkers=tuple(
            Biomarker(
                str(b["gene"]),
                str(b.get("origin") or "unknown"),
                str(b.get("result") or "unknown"),
                _s(b.get("variant")),
                _s(b.get("date")),
                _s(b.get("source")),
            )
            for b in a.get("biomarkers", [])
        ),
        labs=tuple(
            LabValue(
                str(x["analyte"]),
                float(x["value"]),
                str(x["unit"]),
                _s(x.get("date")),
                _s(x.get("flag")),
                _f(x.get("times_uln")),
                _reference(x.get("reference_range")),
                _s(x.get("source")),
            )
            for x in a.get("labs", [])
        ),
    )


def _lines(ev: Evaluation, a: dict[str, Any]) -> tuple[LineSummary, ...]:
    by_number = {r.line: r for r in ev.response.lines}
    out = []
    for line in a.get("lines", []):
        r = by_number.get(int(line["number"]))
        has_recist = r is not None and r.baseline_date is not None
        out.append(
            LineSummary(
                number=int(line["number"]),
                drugs=tuple(str(d) for d in line.get("drugs", [])),
                start=_s(line.get("start")),
                end=_s(line.get("end")),
                ongoing=bool(line.get("ongoing")),
                reason_stopped=_s(line.get("reason_stopped")),
                why_new=str(line.get("why_new_line") or ""),
                sources=tuple(str(s) for s in line.get("sources", [])),
                best_response=r.best_overall_response if r is not None and has_recist else None,
                best_response_detail=r.best_overall_detail if r is not None and has_recist else None,
                confirmed=bool(r.confirmed) if r is not None else False,
                best_change_pct=r.best_change_pct() if r is not None else None,
                baseline_date=r.baseline_date.isoformat() if r is not None and r.baseline_date else None,
                baseline_sum_mm=r.baseline_sum if r is not None else None,
                progression_date=r.progression_date.isoformat() if r is not None and r.progression_date else None,
                duration_of_response_days=r.duration_of_response_days if r is not None else None,
                response_notes=tuple(r.notes) if r is not None else (),
            )
        )
    return tuple(out)


def _years() -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Publication years from the knowledge base (evidence.yaml), by (trial name, citation) and by citation."""
    from mbcnav.knowledge.kb import knowledge_base

    kb = knowledge_base()
    trials = {(str(t["name"]), str(t["citation"])): int(t["year"]) for t in kb.trials.values() if t.get("year")}
    guides = {str(g["citation"]): int(g["year"]) for g in kb.guidelines.values() if g.get("year")}
    return trials, guides


def _options(o: dict[str, Any]) -> tuple[tuple[OptionSummary, ...], tuple[NotOfferedSummary, ...]]:
    trial_years, guide_years = _years()
    offered = []
    for x in o.get("options", []):
        evidence = tuple(
            Cited(
                str(e["trial"]),
                trial_years.get((str(e["trial"]), str(e["citation"]))),
                str(e["citation"]),
                _s(e.get("pmid")),
                _s(e.get("doi")),
                _s(e.get("result")),
                _s(e.get("note")),
            )
            for e in x.get("evidence", [])
        )
        guidelines = tuple(
            Guideline(str(g["guideline"]), guide_years.get(str(g["guideline"])), _s(g.get("pmid")), _s(g.get("doi")))
            for g in x.get("source", [])
            if g.get("guideline")
        )
        offered.append(
            OptionSummary(
                id=str(x["id"]),
                title=str(x["title"]),
                tier=str(x["tier"]),
                category=str(x["category"]),
                modality=str(x.get("modality") or ""),
                regimen=str(x.get("regimen") or ""),
                components=tuple(
                    (str(c["role"]), tuple(str(d) for d in c.get("alternatives", []))) for c in x.get("components", [])
                ),
                drugs=tuple(str(d) for d in x.get("drugs", [])),
                why=tuple(str(w) for w in x.get("why", [])),
                cautions=tuple(str(c) for c in x.get("cautions", [])),
                evidence=evidence,
                guidelines=guidelines,
                patient_text=str(x.get("patient_text") or ""),
            )
        )
    not_offered = tuple(
        NotOfferedSummary(
            str(x["id"]),
            str(x["title"]),
            str(x["category"]),
            str(x.get("modality") or ""),
            tuple(str(d) for d in x.get("drugs", [])),
            tuple(str(w) for w in x.get("why_not", [])),
            tuple(str(t) for t in x.get("tests") or []),
        )
        for x in o.get("not_offered", [])
    )
    return tuple(offered), not_offered


def _candidate(m: dict[str, Any]) -> TrialCandidate:
    return TrialCandidate(
        str(m["nct_id"]),
        str(m["title"]),
        str(m.get("study_type") or ""),
        tuple(str(p) for p in m.get("phases", [])),
        str(m.get("status") or ""),
        str(m.get("verdict") or ""),
        tuple(str(q) for q in m.get("questions", [])),
        str(m.get("url") or f"https://clinicaltrials.gov/study/{m['nct_id']}"),
    )


def _trials(report: MatchReport | None, note: str | None) -> Trials:
    if report is None:
        return Trials(False, note or TRIALS_NOT_SEARCHED, 0, (), (), False, "", None)
    doc = report.as_json()
    searched = int(doc.get("studies_searched") or 0)
    candidates = tuple(_candidate(m) for m in doc.get("matches", []) if m.get("verdict") != "ineligible")
    return Trials(
        True,
        note
        or f"{searched} studies searched; {len(candidates)} possible candidate(s). Eligibility is decided by "
        "the study team.",
        searched,
        candidates,
        tuple(_candidate(m) for m in doc.get("expanded_access", [])),
        bool(doc.get("highlight_expanded_access")),
        str(doc.get("highlight_reason") or ""),
        _s(doc.get("attribution")),
    )


def _record_sources(record: Record) -> frozenset[str]:
    """Every resource (Type/id) a fact of the record rests on (RECIST-derived statuses have no resource)."""
    groups: list[Iterable[Any]] = [
        record.primaries,
        record.receptors,
        record.genomics,
        record.signatures,
        record.metastases,
        record.tnm,
        record.stage_groups,
        record.performance,
        record.therapies,
        record.local_treatments,
        record.measurements,
        record.lesions,
        record.comorbidities,
        record.judgements,
        record.disease_statuses,
        record.labs,
        record.menopause_readings,
        record.findings,
    ]
    out = {x.source.resource for g in groups for x in g}
    if record.patient.source is not None:
        out.add(record.patient.source.resource)
    return frozenset(s for s in out if "/" in s and not s.startswith("RECIST/"))


def _questions(s: CaseSummaryParts, extra: Sequence[str]) -> tuple[str, ...]:
    """Questions to take to the specialist, in the patient's words (decision support: they ask, never promise)."""
    from mbcnav.summary.plain import plain_test

    qs: list[str] = ["What is the goal of my treatment now?"]
    if s.current_line is not None:
        qs.append("How will we know if my current treatment is still working?")
    if s.options:
        qs.append("Which treatment choice in this summary fits me best, and why?")
        qs.append("What side effects could each choice have, and how would they change my daily life?")
    seen: set[str] = set()
    for t in s.tests:
        text = plain_test(t.test)
        if text not in seen:
            seen.add(text)
            qs.append(f"Do I need this test: {text}? How could the result change my care?")
    if s.discordance:
        qs.append("My test results changed from one sample to the next. Which result guides my care?")
    if s.trials.candidates:
        qs.append("Could I join one of the studies listed in this summary?")
    else:
        qs.append("Is there a clinical trial that could fit me?")
    if any(r.to == "palliative_care" for r in s.referrals):
        qs.append("Can I meet a palliative care team to help with symptoms and support?")
    if any(r.to == "genetic_counselling" for r in s.referrals):
        qs.append("Should I see a genetic counsellor?")
    qs += [q.strip() for q in extra if q and q.strip()]
    return tuple(dict.fromkeys(qs))


@dataclass(frozen=True, slots=True)
class CaseSummaryParts:
    """What the questions are drawn from."""

    current_line: int | None
    options: tuple[OptionSummary, ...]
    tests: tuple[TestToAsk, ...]
    referrals: tuple[Referral, ...]
    trials: Trials
    discordance: bool


def build_summary(
    ev: Evaluation,
    *,
    trials: MatchReport | None = None,
    trials_note: str | None = None,
    questions: Sequence[str] = (),
    generated_at: datetime | None = None,
) -> CaseSummary:
    """The case summary of one evaluated patient. `trials` is a match report (None: trials were not searched, and
    `trials_note` says why); `questions` are the patient's own, added to those the summary suggests."""
    record = ev.record
    a = ev.assessment_json()
    o = ev.options_json()
    disease = _disease(record, a)
    offered, not_offered = _options(o)
    tests = tuple(TestToAsk(str(t["test"]), str(t.get("why") or "")) for t in o.get("tests_recommended", []))
    referrals = tuple(
        Referral(str(r["to"]), str(r.get("why") or ""), str(r.get("urgency") or "routine"))
        for r in o.get("referrals", [])
    )
    lines = _lines(ev, a)
    current = next((ln.number for ln in lines if ln.ongoing), None)
    trial_part = _trials(trials, trials_note)
    parts = CaseSummaryParts(current, offered, tests, referrals, trial_part, bool(disease.subtype.discordance))
    meno = a.get("menopause") or {}
    patient = PatientFacts(
        id=record.patient.id,
        sex=record.patient.sex,
        birth_date=str(record.patient.birth_date) if record.patient.birth_date else None,
        age_years=_age(record, ev.as_of),
        menopausal_status=str(meno.get("status") or a["patient"].get("menopausal_status") or "unknown"),
        menopause_basis=_s(meno.get("basis")),
        pregnant=record.patient.pregnant,
        source=record.patient.source.resource if record.patient.source else None,
    )
    courses = a.get("therapies", [])
    early = tuple(
        Therapy(
            str(c["drug"]),
            str(c["setting"]),
            _s(c.get("start")),
            _s(c.get("end")),
            _s(c.get("reason_stopped")),
            str(c.get("source") or ""),
        )
        for c in courses
        if c.get("setting") != "metastatic"
    )
    local = tuple(
        LocalTreatment(
            t.kind,
            t.description,
            str(t.start) if t.start else None,
            str(t.end) if t.end else None,
            t.site,
            t.intent,
            t.source.resource,
        )
        for t in sorted(
            record.local_treatments, key=lambda t: (t.start is None, t.start.earliest if t.start else date.min)
        )
    )
    kb = o.get("kb") or {}
    when = generated_at or datetime.now().astimezone()
    return CaseSummary(
        patient=patient,
        as_of=ev.as_of.isoformat(),
        generated_at=when.isoformat(timespec="seconds"),
        mbcnav_version=__version__,
        kb_version=str(kb.get("version") or ""),
        kb_reviewed=str(kb.get("reviewed") or ""),
        disease=disease,
        early_therapies=early,
        local_treatments=local,
        lines=lines,
        current_line=current,
        options=offered,
        not_offered=not_offered,
        tests=tests,
        referrals=referrals,
        option_notes=tuple(str(n) for n in o.get("notes", [])),
        trials=trial_part,
        unknowns=tuple(
            UnknownItem(str(u["item"]), str(u.get("why") or ""), str(u.get("action") or ""))
            for u in a.get("unknowns", [])
        ),
        conflicts=tuple(str(c) for c in a.get("conflicts", [])),
        notes=tuple(str(n) for n in a.get("notes", [])) + tuple(ev.response.notes),
        input_issues=tuple(
            Issue(str(i["location"]), str(i["message"]), str(i["severity"])) for i in a.get("input_issues", [])
        ),
        questions=_questions(parts, questions),
        disclaimer=str(o.get("disclaimer") or "Decision support, not a decision."),
        sources=_record_sources(record),
    )


__all__ = [
    "TRIALS_NOT_SEARCHED",
    "CaseSummary",
    "Cited",
    "Disease",
    "LineSummary",
    "OptionSummary",
    "ReceptorValue",
    "SpecimenResults",
    "Trials",
    "build_summary",
    "receptor_text",
]
