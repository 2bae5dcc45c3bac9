"""ER / PR / HER2 status and subtype group per ASCO/CAP, from the specimen that should drive therapy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from mbcnav.assess.config import AssessmentConfig
from mbcnav.record.model import ReceptorResult, Record

HER2_POSITIVE = {"3+", "2+/ISH+", "positive"}
HER2_LOW = {"1+", "2+/ISH-"}
HER2_NEGATIVE = {"0", "ultralow", "1+", "2+/ISH-", "negative"}


@dataclass(frozen=True, slots=True)
class MarkerCall:
    value: str  # er: positive|low|negative|unknown ; her2: 0|ultralow|1+|2+/ISH-|...|unknown
    percent: float | None
    specimen: str
    date: str | None
    sources: tuple[str, ...]


UNKNOWN_CALL = MarkerCall("unknown", None, "none", None, ())


@dataclass(frozen=True, slots=True)
class Subtype:
    er: MarkerCall
    pr: MarkerCall
    her2: MarkerCall
    group: str  # HR+/HER2- | HR+/HER2+ | HR-/HER2+ | TNBC | unknown
    her2_category: str  # positive | low | ultralow | zero | negative_unspecified | unknown
    discordance: tuple[dict[str, str | None], ...]
    pdl1_cps: float | None
    pdl1_source: str | None
    hr_positive: bool | None = None
    notes: tuple[str, ...] = field(default=())


def specimen_label(r: ReceptorResult) -> str:
    s = r.specimen
    if s.kind == "metastasis":
        return f"metastasis ({(s.site or 'site not stated').replace('_', ' ')})"
    return {"primary": "primary tumour", "blood": "blood", "unknown": "specimen not stated"}[s.kind]


def _key_date(r: ReceptorResult) -> date:
    d = r.date or r.specimen.date
    return d.earliest if d else date.min


def _preference(r: ReceptorResult) -> tuple[int, date]:
    """ASCO 2015 (Van Poznak et al., J Clin Oncol 2015;33:2695-704): prefer the metastasis's receptor status; then the
    most recent result. Unknown-specimen results rank between metastasis and primary only by date."""
    rank = {"metastasis": 2, "unknown": 1, "primary": 1, "blood": 0}[r.specimen.kind]
    return rank, _key_date(r)


def er_value(r: ReceptorResult, config: AssessmentConfig) -> str:
    """ASCO/CAP 2020 (Allison et al., J Clin Oncol 2020;38:1346-66): ER 1-10% = low positive; <1% = negative."""
    if r.percent is not None:
        if r.percent < 1:
            return "negative"
        return "low" if r.percent <= config.er_low_max_percent else "positive"
    return {"positive": "positive", "low": "low", "negative": "negative"}.get(r.status or "", "unknown")


def pr_value(r: ReceptorResult) -> str:
    """ASCO/CAP 2020: PR >=1% positive, <1% negative (no 'low' category for PR)."""
    if r.percent is not None:
        return "negative" if r.percent < 1 else "positive"
    return {"positive": "positive", "low": "positive", "negative": "negative"}.get(r.status or "", "unknown")


def her2_value(ihc: str | None, ish: str | None, status: str | None) -> str:
    """ASCO/CAP 2018, affirmed 2023 (Wolff et al., J Clin Oncol 2018;36:2105-22; 2023;41:3867-72): IHC 3+
    positive; 2+ equivocal -> ISH decides; 1+ and 0 negative. HER2-ultralow = IHC 0 with faint incomplete
    staining (IHC >0 <1+, DESTINY-Breast06). Only a bare result is given back as 'positive'/'negative'."""
    if ihc == "3+":
        return "3+"
    if ihc == "2+":
        return {"positive": "2+/ISH+", "negative": "2+/ISH-"}.get(ish or "", "2+/ISH-unknown")
    if ihc in ("0", "ultralow", "1+"):
        return ihc
    if ish == "positive":
        return "positive"
    if ish == "negative":
        return "negative"
    if status in ("positive", "negative"):
        return status
    return "unknown"


def her2_category(value: str) -> str:
    if value in HER2_POSITIVE:
        return "positive"
    if value in HER2_LOW:
        return "low"
    return {"ultralow": "ultralow", "0": "zero", "negative": "negative_unspecified"}.get(value, "unknown")


def _her2_calls(results: list[ReceptorResult], config: AssessmentConfig) -> list[tuple[str, ReceptorResult, list[str]]]:
    """Pair IHC and ISH results of the same specimen kind/site taken close together (reflex testing)."""
    calls = []
    ihc = [r for r in results if r.ihc_score is not None]
    ish = [r for r in results if r.ish is not None and r.ihc_score is None]
    plain = [r for r in results if r.ihc_score is None and r.ish is None]
    used: set[int] = set()
    for r in ihc:
        partner = r.ish
        sources = [r.source.resource]
        if partner is None and r.ihc_score == "2+":
            for j, s in enumerate(ish):
                same_spec = (s.specimen.kind, s.specimen.site) == (r.specimen.kind, r.specimen.site)
                if same_spec and abs((_key_date(s) - _key_date(r)).days) <= config.her2_pairing_days:
                    partner = s.ish
                    used.add(j)
                    sources.append(s.source.resource)
                    break
        calls.append((her2_value(r.ihc_score, partner, r.status), r, sources))
    for j, s in enumerate(ish):
        if j not in used:
            calls.append((her2_value(None, s.ish, s.status), s, [s.source.resource]))
    for r in plain:
        calls.append((her2_value(None, None, r.status), r, [r.source.resource]))
    return calls


def _call(value: str, r: ReceptorResult, sources: list[str]) -> MarkerCall:
    d = r.date or r.specimen.date
    return MarkerCall(value, r.percent, specimen_label(r), str(d) if d else None, tuple(sources))


def _choose(
    calls: list[tuple[str, ReceptorResult, list[str]]],
) -> tuple[MarkerCall, tuple[str, ReceptorResult] | None]:
    known = [c for c in calls if c[0] != "unknown"]
    if not known:
        return UNKNOWN_CALL, None
    best = max(known, key=lambda c: _preference(c[1]))
    return _call(best[0], best[1], best[2]), (best[0], best[1])


def _status_class(marker: str, value: str) -> str:
    if marker == "HER2":
        cat = her2_category(value)
        return "positive" if cat == "positive" else ("negative" if cat != "unknown" else "unknown")
    return "positive" if value in ("positive", "low") else value


def _discordance(marker: str, calls: list[tuple[str, ReceptorResult, list[str]]]) -> list[dict[str, str | None]]:
    prim = [c for c in calls if c[1].specimen.kind == "primary" and c[0] != "unknown"]
    mets = [c for c in calls if c[1].specimen.kind == "metastasis" and c[0] != "unknown"]
    if not prim or not mets:
        return []
    p = max(prim, key=lambda c: _key_date(c[1]))
    m = max(mets, key=lambda c: _key_date(c[1]))
    out: list[dict[str, str | None]] = []
    pc, mc = _status_class(marker, p[0]), _status_class(marker, m[0])
    kind = None
    if pc != mc:
        kind = "status"
    elif (
        marker == "HER2"
        and her2_category(p[0]) != her2_category(m[0])
        and "negative_unspecified" not in (her2_category(p[0]), her2_category(m[0]))
    ):
        kind = "her2_low_category"
    elif marker == "ER" and {p[0], m[0]} == {"positive", "low"}:
        kind = "er_low_category"
    if kind:
        out.append(
            {
                "marker": marker,
                "kind": kind,
                "primary": p[0],
                "metastasis": m[0],
                "primary_date": str(p[1].date) if p[1].date else None,
                "metastasis_date": str(m[1].date) if m[1].date else None,
                "metastasis_site": m[1].specimen.site,
                "used": "metastasis",
            }
        )
    return out


def assess_subtype(record: Record, config: AssessmentConfig) -> Subtype:
    by_marker: dict[str, list[ReceptorResult]] = {"ER": [], "PR": [], "HER2": [], "PD-L1": []}
    for r in record.receptors:
        if r.marker in by_marker and r.specimen.kind != "blood":
            by_marker[r.marker].append(r)
    er_calls = [(er_value(r, config), r, [r.source.resource]) for r in by_marker["ER"]]
    pr_calls = [(pr_value(r), r, [r.source.resource]) for r in by_marker["PR"]]
    her2_calls = _her2_calls(by_marker["HER2"], config)
    er, _ = _choose(er_calls)
    pr, _ = _choose(pr_calls)
    her2, _ = _choose(her2_calls)
    notes: list[str] = []
    if er.value == "low":
        notes.append(
            "ER-low (1-10%): limited data on endocrine benefit (ASCO/CAP 2020); biology often resembles "
            "ER-negative disease — consider both framings"
        )
    hr: bool | None
    if er.value in ("positive", "low") or pr.value == "positive":
        hr = True
    elif er.value == "negative" and pr.value == "negative":
        hr = False
    elif er.value == "negative" and pr.value == "unknown":
        hr = False
        notes.append("PR unknown; ER negative taken as HR-negative")
    else:
        hr = None
    cat = her2_category(her2.value)
    her2_pos = True if cat == "positive" else (None if cat == "unknown" else False)
    if her2.value == "2+/ISH-unknown":
        notes.append("HER2 IHC 2+ without an ISH result: HER2 status is equivocal until ISH is done")
    group = "unknown"
    if hr is not None and her2_pos is not None:
        group = {
            (True, False): "HR+/HER2-",
            (True, True): "HR+/HER2+",
            (False, True): "HR-/HER2+",
            (False, False): "TNBC",
        }[(hr, her2_pos)]
    discordance = _discordance("ER", er_calls) + _discordance("PR", pr_calls) + _discordance("HER2", her2_calls)
    pdl1 = [r for r in by_marker["PD-L1"] if r.cps is not None]
    best_pdl1 = max(pdl1, key=_key_date) if pdl1 else None
    return Subtype(
        er,
        pr,
        her2,
        group,
        cat,
        tuple(discordance),
        best_pdl1.cps if best_pdl1 else None,
        best_pdl1.source.resource if best_pdl1 else None,
        hr,
        tuple(notes),
    )
