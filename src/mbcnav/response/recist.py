"""RECIST 1.1 response per line of therapy (Eisenhauer et al., Eur J Cancer 2009;45:228-47), as pure functions."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from mbcnav.dates import PartialDate
from mbcnav.record.model import Lesion, Metastasis, TumorMeasurement


@dataclass(frozen=True, slots=True)
class ResponseConfig:
    # RECIST 1.1 §3.2: baseline evaluations as close as possible to the start of treatment and never more than
    # 4 weeks before it.
    baseline_window_days: int = 28
    # RECIST 1.1 §4.6: CR and PR must be confirmed by a repeat assessment no less than 4 weeks later.
    confirmation_days: int = 28
    # RECIST 1.1 §4.6: SD must be met at least once after a protocol-defined minimum interval (6-8 weeks is usual);
    # counted from the start of the line.
    sd_min_days: int = 42
    # RECIST 1.1 §4.1-4.2: measurable >=10 mm (or 2x slice thickness), nodes >=15 mm short axis; nodes 10-<15 mm
    # are pathological but non-measurable; <10 mm are normal. Up to 5 targets, at most 2 per organ.
    measurable_min_mm: float = 10.0
    node_measurable_min_mm: float = 15.0
    node_normal_below_mm: float = 10.0
    max_targets: int = 5
    max_targets_per_organ: int = 2
    # RECIST 1.1 §4.3.1: PD = +20% over the nadir AND +5 mm absolute; PR = -30% from baseline.
    pd_relative: float = 0.20
    pd_absolute_mm: float = 5.0
    pr_relative: float = 0.30
    # RECIST 1.1 appendix I: a lesion present but too small to measure is given 5 mm.
    too_small_mm: float = 5.0


@dataclass(frozen=True, slots=True)
class LineWindow:
    """A line of therapy as the engine needs it: its number and dates (from the assessment)."""

    number: int
    start: PartialDate | None
    end: PartialDate | None
    next_start: PartialDate | None
    drugs: tuple[str, ...] = ()
    reason_stopped: str | None = None


@dataclass(frozen=True, slots=True)
class LesionInfo:
    lesion_id: str
    site: str
    organ: str
    lymph_node: bool
    irradiated: bool
    role: str | None
    source: str


@dataclass
class Timepoint:
    date: date
    sum_mm: float | None
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    target: str | None  # CR PR SD PD NE, None when there are no targets
    non_target: str | None  # CR, non-CR/non-PD, PD, NE, None when there are no non-targets
    new_lesions: bool
    overall: str  # CR PR SD PD NE
    overall_detail: str
    notes: list[str] = field(default_factory=list)
    new_lesion_evidence: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "sum_mm": self.sum_mm,
            "change_from_baseline_pct": self.change_from_baseline_pct,
            "change_from_nadir_pct": self.change_from_nadir_pct,
            "target": self.target,
            "non_target": self.non_target,
            "new_lesions": self.new_lesions,
            "new_lesion_evidence": self.new_lesion_evidence,
            "overall": self.overall,
            "overall_detail": self.overall_detail,
            "notes": self.notes,
        }


@dataclass
class LineResponse:
    line: int
    drugs: tuple[str, ...]
    start: date | None
    baseline_date: date | None
    targets: list[tuple[LesionInfo, float]]
    non_targets: list[LesionInfo]
    baseline_sum: float | None
    timepoints: list[Timepoint]
    best_overall_response: str
    confirmed: bool
    progression_date: date | None
    response_start: date | None
    duration_of_response_days: int | None
    notes: list[str]
    # RECIST 1.1 §3.1/§4.3.3: without a measurable target at baseline only CR, non-CR/non-PD and PD are possible
    # (Table 2); the contract's best_overall_response stays CR|PR|SD|PD|NE, with SD read as non-CR/non-PD.
    measurable_disease: bool = True

    @property
    def best_overall_detail(self) -> str:
        if not self.measurable_disease and self.best_overall_response == "SD":
            return "non-CR/non-PD"
        return self.best_overall_response

    def best_change_pct(self) -> float | None:
        values = [t.change_from_baseline_pct for t in self.timepoints if t.change_from_baseline_pct is not None]
        return min(values) if values else None

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "drugs": list(self.drugs),
            "start": self.start.isoformat() if self.start else None,
            "baseline": {
                "date": self.baseline_date.isoformat() if self.baseline_date else None,
                "target_lesions": [
                    {"id": t.lesion_id, "site": t.site, "size_mm": size, "lymph_node": t.lymph_node, "source": t.source}
                    for t, size in self.targets
                ],
                "non_target_lesions": [
                    {"id": n.lesion_id, "site": n.site, "lymph_node": n.lymph_node, "source": n.source}
                    for n in self.non_targets
                ],
                "sum_mm": self.baseline_sum,
            },
            "timepoints": [t.as_json() for t in self.timepoints],
            "best_overall_response": self.best_overall_response,
            "best_overall_response_detail": self.best_overall_detail,
            "measurable_disease_at_baseline": self.measurable_disease,
            "confirmed": self.confirmed,
            "progression_date": self.progression_date.isoformat() if self.progression_date else None,
            "best_change_from_baseline_pct": self.best_change_pct(),
            "response_start": self.response_start.isoformat() if self.response_start else None,
            "duration_of_response_days": self.duration_of_response_days,
            "notes": self.notes,
        }


_NODE_WORDS = re.compile(r"lymph|\bnod(e|es|al)\b", re.I)


def _organ(site: str, lymph_node: bool) -> str:
    """Organ for the 2-per-organ rule: all lymph nodes count as one organ (project choice, stated in docs)."""
    if lymph_node:
        return "lymph node"
    s = site.lower()
    for word in ("liver", "lung", "pleura", "brain", "bone", "skin", "peritone", "adrenal", "breast", "chest wall"):
        if word in s:
            return word
    return s.strip() or "unspecified"


def lesion_infos(lesions: tuple[Lesion, ...], measurements: tuple[TumorMeasurement, ...]) -> dict[str, LesionInfo]:
    out: dict[str, LesionInfo] = {}
    for les in lesions:
        site = les.site or "unspecified"
        node = les.lymph_node or bool(_NODE_WORDS.search(site))
        out[les.lesion_id] = LesionInfo(
            les.lesion_id, site, _organ(site, node), node, les.irradiated, les.role, les.source.resource
        )
    for m in measurements:
        if m.lesion_id not in out:
            site = m.site or "unspecified"
            node = bool(_NODE_WORDS.search(site)) or m.axis == "short"
            out[m.lesion_id] = LesionInfo(m.lesion_id, site, _organ(site, node), node, False, None, m.source.resource)
    return out


@dataclass(frozen=True, slots=True)
class _Reading:
    """A lesion's state on one date: size in mm (None when not measured) and status."""

    size: float | None
    status: str
    role: str | None = None  # the role the record states for the lesion at this assessment


def _readings(measurements: tuple[TumorMeasurement, ...], cfg: ResponseConfig) -> dict[date, dict[str, _Reading]]:
    """Readings by date and lesion. Several measurements of one lesion on one date are added: a lesion that split
    into fragments is the sum of its fragments (RECIST 1.1 appendix I); a merged lesion is recorded as 0."""
    by: dict[date, dict[str, list[TumorMeasurement]]] = defaultdict(lambda: defaultdict(list))
    for m in measurements:
        if m.date is not None:
            by[m.date.earliest][m.lesion_id].append(m)
    out: dict[date, dict[str, _Reading]] = {}
    for d, lesions in by.items():
        out[d] = {}
        for lid, ms in lesions.items():
            statuses = {m.status for m in ms}
            role = next((m.role for m in ms if m.role is not None), None)
            if "unequivocal_progression" in statuses:
                out[d][lid] = _Reading(None, "unequivocal_progression", role)
                continue
            sizes = []
            for m in ms:
                if m.status == "too_small":
                    sizes.append(cfg.too_small_mm)
                elif m.status in ("absent", "merged"):
                    sizes.append(0.0)
                elif m.size_mm is not None:
                    sizes.append(m.size_mm)
            if sizes:
                total = round(sum(sizes), 1)
                status = "absent" if total == 0 else ("present" if statuses == {"present"} else "measured")
                out[d][lid] = _Reading(total, status, role)
            else:
                out[d][lid] = _Reading(None, "present" if "present" in statuses else "unknown", role)
    return out


def _pct(value: float, ref: float) -> float | None:
    return round((value - ref) / ref * 100, 1) if ref > 0 else None


def select_targets(
    baseline: dict[str, _Reading], infos: dict[str, LesionInfo], cfg: ResponseConfig
) -> tuple[list[tuple[LesionInfo, float]], list[LesionInfo], list[str]]:
    """RECIST 1.1 §4.2: targets as stated by the record, or else the largest measurable lesions (up to 5, at most 2
    per organ); all other lesions (including pathological nodes 10-<15 mm and irradiated lesions) are non-targets.
    Nodes under 10 mm short axis are normal and not followed. A role stated at this baseline's assessment outranks
    the lesion's standing role: a new line's baseline may re-select its targets."""
    notes: list[str] = []
    measurable: list[tuple[LesionInfo, float]] = []
    non_targets: list[LesionInfo] = []
    roles = {lid: r.role if r.role is not None else infos[lid].role for lid, r in baseline.items()}
    stated = {lid for lid, role in roles.items() if role == "target"}
    for lid, reading in baseline.items():
        info = infos[lid]
        size = reading.size
        if info.lymph_node and size is not None and size < cfg.node_normal_below_mm and roles.get(lid) != "target":
            continue  # normal node (RECIST 1.1 §4.1)
        threshold = cfg.node_measurable_min_mm if info.lymph_node else cfg.measurable_min_mm
        is_measurable = size is not None and reading.status == "measured" and size >= threshold and not info.irradiated
        if stated:
            if lid in stated:
                if size is None:
                    notes.append(f"lesion {lid} is a stated target but has no baseline size; treated as non-target")
                    non_targets.append(info)
                    continue
                if not is_measurable:
                    # say why (fresh8 q10: "not measurable ... (34.0 mm)" read as a size problem for an irradiated
                    # lesion); RECIST 1.1 §3.1.3: a lesion in a previously irradiated area is not measurable unless it
                    # has progressed there
                    why = (
                        "it lies in a previously irradiated area (RECIST 1.1 §3.1.3: measurable only with documented "
                        "progression in it)"
                        if info.irradiated
                        else f"it is below the {threshold:g} mm minimum"
                        if reading.status == "measured" and size < threshold
                        else "it was not measured"
                    )
                    notes.append(
                        f"lesion {lid} is a stated target but is not measurable by RECIST 1.1 at baseline ({size} mm): "
                        f"{why}; kept as a target because the record names it"
                    )
                measurable.append((info, size))
            else:
                non_targets.append(info)
        elif is_measurable:
            assert size is not None
            measurable.append((info, size))
        else:
            non_targets.append(info)
    if stated:
        notes += _stated_over_limits(measurable, cfg)
        return measurable, non_targets, notes
    measurable.sort(key=lambda x: (-x[1], x[0].lesion_id))
    targets: list[tuple[LesionInfo, float]] = []
    per_organ: dict[str, int] = defaultdict(int)
    for info, size in measurable:
        if len(targets) < cfg.max_targets and per_organ[info.organ] < cfg.max_targets_per_organ:
            targets.append((info, size))
            per_organ[info.organ] += 1
        else:
            non_targets.append(info)
    return targets, non_targets, notes


def _stated_over_limits(targets: list[tuple[LesionInfo, float]], cfg: ResponseConfig) -> list[str]:
    """RECIST 1.1 §4.2 allows at most 5 targets, 2 per organ: stated targets beyond that are kept as the record
    states them (the radiologist's choice), with a note a reader can act on."""
    notes: list[str] = []
    if len(targets) > cfg.max_targets:
        notes.append(f"{len(targets)} stated targets: RECIST 1.1 §4.2 allows at most {cfg.max_targets}")
    per_organ: dict[str, int] = defaultdict(int)
    for info, _ in targets:
        per_organ[info.organ] += 1
    for organ, n in sorted(per_organ.items()):
        if n > cfg.max_targets_per_organ:
            notes.append(
                f"{n} stated targets in {organ}: RECIST 1.1 §4.2 allows at most {cfg.max_targets_per_organ} per organ"
            )
    return notes


def _measurable_only(
    targets: list[tuple[LesionInfo, float]], non_targets: list[LesionInfo], cfg: ResponseConfig, notes: list[str]
) -> tuple[list[tuple[LesionInfo, float]], list[LesionInfo]]:
    """RECIST 1.1 §3.1: a target must be present at baseline (a 0 mm lesion is not a target), and when no target is
    measurable there is no measurable disease: every lesion is followed as a non-target (Table 2, §4.3.3), so a
    sum of 0 mm can never shrink into a PR."""
    absent = [t for t, size in targets if size <= 0]
    kept = [(t, size) for t, size in targets if size > 0]
    if absent:
        notes.append(
            "stated target(s) absent at baseline (0 mm), followed as non-target: "
            + ", ".join(t.lesion_id for t in absent)
        )

    def measurable(info: LesionInfo, size: float) -> bool:
        return size >= (cfg.node_measurable_min_mm if info.lymph_node else cfg.measurable_min_mm)

    if kept and not any(measurable(t, size) for t, size in kept):
        notes.append(
            "no measurable disease at baseline (RECIST 1.1 §3.1): the stated targets are followed as non-target lesions"
        )
        return [], [t for t, _ in kept] + absent + non_targets
    return kept, absent + non_targets


def target_response(
    values: dict[str, float | None],
    targets: list[tuple[LesionInfo, float]],
    baseline_sum: float,
    nadir: float,
    cfg: ResponseConfig,
) -> tuple[str, float | None]:
    """RECIST 1.1 §4.3.1. Missing targets make the time point NE, unless the measured ones already show PD."""
    measured = {lid: v for lid, v in values.items() if v is not None}
    total = round(sum(measured.values()), 1)
    pd = total >= nadir * (1 + cfg.pd_relative) and total - nadir >= cfg.pd_absolute_mm
    if len(measured) < len(targets):
        return ("PD", total) if pd else ("NE", None)
    if pd:
        return "PD", total
    infos = {t.lesion_id: t for t, _ in targets}
    cr = all((v < cfg.node_normal_below_mm) if infos[lid].lymph_node else v == 0 for lid, v in measured.items())
    if cr:
        return "CR", total
    if total <= baseline_sum * (1 - cfg.pr_relative):
        return "PR", total
    return "SD", total


def non_target_response(
    readings: dict[str, _Reading], non_targets: list[LesionInfo], cfg: ResponseConfig
) -> str | None:
    """RECIST 1.1 §4.3.2: CR = all non-targets gone (nodes <10 mm); PD = unequivocal progression; NE when not all
    were assessed; otherwise non-CR/non-PD."""
    if not non_targets:
        return None
    states = []
    for info in non_targets:
        r = readings.get(info.lesion_id)
        if r is None or r.status == "unknown":
            states.append("NE")
        elif r.status == "unequivocal_progression":
            return "PD"
        elif r.status == "absent" or (
            r.size is not None and (r.size == 0 or (info.lymph_node and r.size < cfg.node_normal_below_mm))
        ):
            states.append("CR")
        else:
            states.append("present")
    if "NE" in states:
        return "NE"
    return "CR" if all(s == "CR" for s in states) else "non-CR/non-PD"


def overall_response(target: str | None, non_target: str | None, new: bool) -> tuple[str, str]:
    """RECIST 1.1 Table 1 (target lesions, §4.4.1) and Table 2 (non-target lesions only)."""
    if new or target == "PD" or non_target == "PD":
        return "PD", "PD"
    if target is None:
        if non_target is None:
            return "NE", "no lesions followed"
        if non_target == "CR":
            return "CR", "CR"
        if non_target == "non-CR/non-PD":
            return "SD", "non-CR/non-PD"  # Table 2 reports non-CR/non-PD; SD in the contract
        return "NE", "NE"
    if target == "CR":
        if non_target in (None, "CR"):
            return "CR", "CR"
        return "PR", "PR"  # CR of targets with non-CR/non-PD or NE non-targets
    if target == "PR":
        return "PR", "PR"
    if target == "SD":
        return "SD", "SD"
    return "NE", "NE"


def best_overall(
    timepoints: list[Timepoint], start: date, cfg: ResponseConfig
) -> tuple[str, bool, date | None, date | None]:
    """Best overall response with confirmation (RECIST 1.1 §4.4 and §4.6): CR needs a CR >=4 weeks later, PR a PR
    or CR >=4 weeks later; SD needs a time point at least `sd_min_days` after the start; otherwise an unconfirmed
    response counts as SD when SD's minimum is met, else the next outcome (PD or NE)."""
    seq: list[Timepoint] = []
    for t in timepoints:
        seq.append(t)
        if t.overall == "PD":
            break
    pd_date = next((t.date for t in seq if t.overall == "PD"), None)

    def first_confirmed(levels: set[str]) -> date | None:
        for i, t in enumerate(seq):
            if t.overall not in levels:
                continue
            for later in seq[i + 1 :]:
                if later.overall == "PD":
                    break
                if later.overall in levels and (later.date - t.date).days >= cfg.confirmation_days:
                    return t.date
        return None

    cr = first_confirmed({"CR"})
    if cr:
        return "CR", True, pd_date, cr
    pr = first_confirmed({"PR", "CR"})
    if pr:
        return "PR", True, pd_date, pr
    if any(t.overall in ("SD", "PR", "CR") and (t.date - start).days >= cfg.sd_min_days for t in seq):
        return "SD", False, pd_date, None
    if pd_date is not None:
        return "PD", False, pd_date, None
    return "NE", False, None, None


def _unconfirmed_response_notes(timepoints: list[Timepoint], bor: str, cfg: ResponseConfig) -> list[str]:
    """Say so when a CR/PR time point did not become the best overall response for want of confirmation (RECIST 1.1
    §4.6): 'confirmation pending' when no assessment has followed it yet, 'not confirmed' when one has. A reader
    seeing 'best overall response: SD' for a tumour that shrank by 45 % must not be misled (fresh10 s09)."""
    rank = {"CR": 2, "PR": 1}
    if bor in rank:
        better = [t for t in timepoints if rank.get(t.overall, 0) > rank[bor]]
    else:
        better = [t for t in timepoints if t.overall in rank]
    better = [t for t in better if not any(x.overall == "PD" and x.date < t.date for x in timepoints)]
    if not better:
        return []
    t = max(better, key=lambda x: (rank[x.overall], x.date))
    change = f", {t.change_from_baseline_pct:+.1f}% from baseline" if t.change_from_baseline_pct is not None else ""
    later = [
        x
        for x in timepoints
        if x.date > t.date and (x.overall == "PD" or (x.date - t.date).days >= cfg.confirmation_days)
    ]
    if not later:
        return [
            f"{t.overall} on {t.date}{change}: confirmation pending (RECIST 1.1 §4.6 needs a repeat assessment at "
            f"least {cfg.confirmation_days} days later); best overall response {bor} until then"
        ]
    return [f"{t.overall} on {t.date}{change} was not confirmed by a later assessment (RECIST 1.1 §4.6)"]


def evaluate_line(
    window: LineWindow,
    infos: dict[str, LesionInfo],
    readings: dict[date, dict[str, _Reading]],
    metastases: tuple[Metastasis, ...],
    cfg: ResponseConfig,
    baseline_date: date | None = None,
) -> LineResponse:
    notes: list[str] = []
    start = window.start.earliest if window.start else None
    empty = LineResponse(
        window.number, window.drugs, start, None, [], [], None, [], "NE", False, None, None, None, notes
    )
    if start is None:
        notes.append("line has no start date: no baseline")
        return empty
    dates = sorted(readings)
    if baseline_date is None:
        candidates = [d for d in dates if start - timedelta(days=cfg.baseline_window_days) <= d <= start]
        if not candidates:
            notes.append(
                f"no tumour assessment within {cfg.baseline_window_days} days before the line started "
                f"({start}): no RECIST baseline (RECIST 1.1 §3.2)"
            )
            return empty
        baseline_date = candidates[-1]
    elif baseline_date not in readings:
        notes.append(f"no tumour assessment on the given baseline date {baseline_date}")
        return empty
    base = readings[baseline_date]
    targets, non_targets, sel_notes = select_targets(base, infos, cfg)
    notes += sel_notes
    targets, non_targets = _measurable_only(targets, non_targets, cfg, notes)
    baseline_sum = round(sum(size for _, size in targets), 1) if targets else None
    stop = window.next_start.earliest if window.next_start else None
    followed = {t.lesion_id for t, _ in targets} | {n.lesion_id for n in non_targets} | set(base)
    base_sites = {m.site for m in metastases if m.date is not None and m.date.earliest <= baseline_date}
    timepoints: list[Timepoint] = []
    nadir = baseline_sum
    for d in dates:
        if d <= baseline_date or (stop is not None and d >= stop):
            continue
        r = readings[d]
        new_ev = [
            f"lesion {lid} ({infos[lid].site}) first seen after baseline"
            for lid, rd in r.items()
            if lid not in followed
            and rd.status != "absent"
            and not (infos[lid].lymph_node and rd.size is not None and rd.size < cfg.node_normal_below_mm)
        ]
        new_ev += [
            f"new metastasis recorded: {m.detail} ({m.source.resource}, {m.date})"
            for m in metastases
            if m.date is not None and baseline_date < m.date.earliest <= d and m.site not in base_sites
        ]
        tgt: str | None = None
        total: float | None = None
        if targets and baseline_sum is not None and nadir is not None:
            values = {t.lesion_id: (r[t.lesion_id].size if t.lesion_id in r else None) for t, _ in targets}
            tgt, total = target_response(values, targets, baseline_sum, nadir, cfg)
        nt = non_target_response(r, non_targets, cfg)
        overall, detail = overall_response(tgt, nt, bool(new_ev))
        tp = Timepoint(
            d,
            total,
            _pct(total, baseline_sum) if total is not None and baseline_sum else None,
            _pct(total, nadir) if total is not None and nadir else None,
            tgt,
            nt,
            bool(new_ev),
            overall,
            detail,
            [],
            new_ev,
        )
        if total is not None and nadir is not None and total < nadir:
            nadir = total
        timepoints.append(tp)
    bor, confirmed, pd_date, resp_start = best_overall(timepoints, start, cfg)
    notes.extend(_unconfirmed_response_notes(timepoints, bor, cfg))
    stopped_otherwise = window.reason_stopped != "progression"
    if pd_date is not None and window.end is not None and pd_date > window.end.latest and stopped_otherwise:
        # The event still closes this line's PFS/DoR (trial convention), but it is not progression *on* the drugs:
        # eligibility rules ("progressed on T-DXd") read the record's reason for stopping (fresh5 n06).
        why = f" for {window.reason_stopped}" if window.reason_stopped else " (reason not recorded)"
        notes.append(
            f"progression {pd_date} found off treatment, {(pd_date - window.end.latest).days} days after the line "
            f"stopped{why} ({window.end}); counted as this line's event, as in trial PFS"
        )
    dor = None
    if resp_start is not None:
        end = pd_date or (timepoints[-1].date if timepoints else None)
        dor = (end - resp_start).days if end else None
        if pd_date is None:
            notes.append("response ongoing at the last assessment: duration of response is censored")
    if not targets:
        notes.append(
            "no measurable target lesion at baseline: response from non-target lesions only (Table 2): "
            "CR, non-CR/non-PD or PD"
        )
    return LineResponse(
        window.number,
        window.drugs,
        start,
        baseline_date,
        targets,
        non_targets,
        baseline_sum,
        timepoints,
        bor,
        confirmed,
        pd_date,
        resp_start,
        dor,
        notes,
        bool(targets),
    )
