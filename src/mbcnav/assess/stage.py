"""Stage and metastatic status per AJCC 8th edition (ch. 48, breast): any M1 is stage IV."""

from __future__ import annotations

from dataclasses import dataclass

from mbcnav.dates import PartialDate
from mbcnav.record.model import Metastasis, Record, StageGroup, StagingType

_ORDER = ["0", "IA", "IB", "IIA", "IIB", "IIIA", "IIIB", "IIIC", "IV"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact that says the disease is (or is not) metastatic."""

    text: str
    date: PartialDate | None
    source: str


@dataclass(frozen=True, slots=True)
class StageResult:
    group: str  # "IV", "0", "IA".."IIIC" or "unknown"
    basis: str
    metastatic: bool | None
    first_metastasis: PartialDate | None
    metastatic_evidence: tuple[Evidence, ...]
    conflicts: tuple[str, ...]
    initial_group: str | None


def distant(m: Metastasis) -> bool:
    """A metastasis that makes the disease M1: any distant site; lymph nodes only when non-regional; a chest-wall
    recurrence of the treated breast is locoregional, not M1.

    AJCC 8th ch. 48: ipsilateral axillary, internal mammary and supraclavicular nodes are regional (N3c for
    supraclavicular), contralateral or other non-regional nodes are M1."""
    if m.site == "lymph_node":
        return False
    return m.nodal_region != "regional"


def m_category_is_m1(value: str) -> bool | None:
    """cM1 / pM1 -> True; cM0, cM0(i+) -> False (AJCC 8th: cM0(i+) is not stage IV); MX -> None."""
    v = value.lower()
    if "m1" in v:
        return True
    if "m0" in v:
        return False
    return None


def _earliest(dates: list[PartialDate | None]) -> PartialDate | None:
    known = [d for d in dates if d is not None]
    return min(known, key=lambda d: d.earliest) if known else None


# AJCC 8th ch. 48: the pathological stage (surgery first) supersedes the clinical one; after neoadjuvant therapy the
# clinical stage stays the stage and ypTNM only describes the response, so it ranks last.
_INITIAL_PREFERENCE = {"pathological": 0, "clinical": 1, "unknown": 2, "post_therapy": 3}


def _initial_group(record: Record, first_metastasis: PartialDate | None) -> tuple[str | None, str | None]:
    """The stage group at first diagnosis (and its staging type): among the non-IV stage groups dated before the first
    metastasis (all of them when that date is unknown), the pathological one, else the clinical one, the earliest of
    its kind. A TNM M0 category alone names no group."""
    groups = [
        g
        for g in record.stage_groups
        if g.group != "IV"
        and (first_metastasis is None or g.date is None or g.date.earliest < first_metastasis.earliest)
    ]
    if not groups:
        return None, None
    # a "pathological" group recorded with ypT/ypN categories of the same date is the post-therapy group (fresh6
    # writer: ypT2 ypN0 "pathological IIA" was taken as the initial stage over the clinical IIB)
    yp_dates = {t.date.earliest for t in record.tnm if t.staging_type == "post_therapy" and t.date is not None}

    def kind(g: StageGroup) -> StagingType:
        yp = g.staging_type == "pathological" and g.date is not None and g.date.earliest in yp_dates
        return "post_therapy" if yp else g.staging_type

    far = PartialDate.parse("9999").earliest
    best = min(groups, key=lambda g: (_INITIAL_PREFERENCE[kind(g)], g.date.earliest if g.date else far))
    return best.group, kind(best)


def assess_stage(record: Record) -> StageResult:
    """Stage IV when any source says M1: a stage group IV, an M1 category, or a distant secondary cancer condition.

    Sources may disagree (e.g. a record that carries both 'stage IIIA' and a liver metastasis): the metastatic
    evidence wins, and the disagreement is reported as a conflict unless the dates show a later relapse."""
    evidence: list[Evidence] = []
    not_met: list[Evidence] = []
    for g in record.stage_groups:
        if g.group == "IV":
            evidence.append(Evidence(f"stage group IV ({g.staging_type})", g.date, g.source.resource))
        else:
            not_met.append(Evidence(f"stage group {g.group} ({g.staging_type})", g.date, g.source.resource))
    for t in record.tnm:
        if t.axis != "M":
            continue
        m1 = m_category_is_m1(t.value)
        if m1:
            evidence.append(Evidence(f"{t.value}", t.date, t.source.resource))
        elif m1 is False:
            not_met.append(Evidence(f"{t.value}", t.date, t.source.resource))
    nodes_unclassified: list[Metastasis] = []
    for m in record.metastases:
        if m.site == "lymph_node" and m.nodal_region is None:
            nodes_unclassified.append(m)
            continue
        if distant(m):
            evidence.append(Evidence(f"metastasis: {m.detail}", m.date, m.source.resource))

    conflicts: list[str] = []
    for m in nodes_unclassified:
        conflicts.append(
            f"lymph-node metastasis ({m.detail}, {m.source.resource}) does not say which side or station: "
            "regional (N) or distant (M1) cannot be told"
        )
    first = _earliest([e.date for e in evidence])
    initial, initial_type = _initial_group(record, first)

    groups_seen = [e for e in not_met if e.text.startswith("stage group") and e.date is not None]
    for i, a in enumerate(groups_seen):
        for b in groups_seen[i + 1 :]:
            a_type, b_type = a.text.split()[3], b.text.split()[3]
            same_kind = a_type == b_type or "(unknown)" in (a_type, b_type)
            assert a.date is not None and b.date is not None
            close = abs((a.date.earliest - b.date.earliest).days) <= 31
            if same_kind and close and a.text.split()[2] != b.text.split()[2]:
                conflicts.append(f"{a.text} ({a.source}, {a.date}) disagrees with {b.text} ({b.source}, {b.date})")
    if evidence:
        for e in not_met:
            if e.date is None or first is None:
                conflicts.append(
                    f"{e.text} ({e.source}) undated, while {evidence[0].text} ({evidence[0].source}) says metastatic"
                )
            elif e.date.earliest >= first.earliest:
                conflicts.append(
                    f"{e.text} ({e.source}, {e.date}) is dated on/after metastatic disease was "
                    f"documented ({first}); metastatic evidence kept"
                )
        parts = "; ".join(f"{e.text} ({e.source}{', ' + str(e.date) if e.date else ''})" for e in evidence[:4])
        basis = f"AJCC 8th: any M1 is stage IV — {parts}"
        if initial and initial != "IV":
            basis += f"; initial stage {initial} ({initial_type}) before distant relapse"
        return StageResult("IV", basis, True, first, tuple(evidence), tuple(conflicts), initial)

    if not_met:
        latest = max(not_met, key=lambda e: e.date.earliest if e.date else PartialDate.parse("1900").earliest)
        group_ev = [e for e in not_met if e.text.startswith("stage group")]
        group = "unknown"
        if group_ev:
            best = max(group_ev, key=lambda e: e.date.earliest if e.date else PartialDate.parse("1900").earliest)
            group = best.text.split()[2]
        basis = f"no distant metastasis recorded; {latest.text} ({latest.source})"
        return StageResult(
            group if group in _ORDER else "unknown",
            basis,
            False if group != "unknown" or any("M0" in e.text for e in not_met) else None,
            None,
            (),
            tuple(conflicts),
            initial,
        )
    return StageResult(
        "unknown",
        "no stage group, M category or metastasis in the record",
        None,
        None,
        (),
        tuple(conflicts),
        None,
    )
