"""Visceral crisis from the record (ESO-ESMO ABC5 definition; thresholds as data in assess/visceral.yaml). Pure.

A clinician's recorded judgement (present / absent) wins; one older than the laboratory horizon shows its age and
what the record says since, and an old "absent" gives way to a suspicion raised by fresh values. Otherwise, with
active visceral metastases, the
rules of visceral.yaml raise a *suspicion* that asks the clinician to confirm; missing or stale laboratory values
leave the status unknown (never "not suspected")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from mbcnav.assess.labs import LabSummary, latest_lab
from mbcnav.assess.sites import Spread
from mbcnav.record.model import ClinicalFinding, ClinicalJudgement, Metastasis, Record
from mbcnav.terminology.findings import finding_in_text
from mbcnav.terminology.sites import site_table

Status = Literal["present", "absent", "suspected", "not_suspected", "unknown", "not_applicable"]
RuleResult = Literal["suspected", "not_suspected", "unknown"]


@dataclass(frozen=True, slots=True)
class VisceralCrisis:
    status: Status
    evidence: tuple[str, ...]
    source: str
    confirm: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "evidence": list(self.evidence),
            "source": self.source,
            "confirm": self.confirm,
        }


@cache
def _rules() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(resources.files("mbcnav.assess").joinpath("visceral.yaml").read_text("utf-8"))
    return data


_NAMES = {
    "gilbert_syndrome": "Gilbert's syndrome",
    "biliary_obstruction": "biliary tract obstruction",
    "lymphangitic_spread": "lymphangitic spread",
    "dyspnoea_at_rest": "dyspnoea at rest",
}


def _active(record: Record, site: str) -> list[Metastasis]:
    return [m for m in record.metastases if m.site == site and m.status != "resolved"]


def _findings(record: Record, name: str, as_of: date) -> list[ClinicalFinding]:
    return [f for f in record.findings if f.name == name and (f.date is None or f.date.earliest <= as_of)]


def _fresh(lab: LabSummary | None, as_of: date, max_days: int) -> bool:
    return lab is not None and lab.date is not None and (as_of - lab.date.latest).days <= max_days


def _liver_bilirubin(
    rule: dict[str, Any], record: Record, labs: tuple[LabSummary, ...], as_of: date, max_days: int
) -> tuple[RuleResult, list[str]]:
    liver = _active(record, "liver")
    site_ev = f"liver metastases — {liver[0].source.resource}"
    bili = latest_lab(labs, rule["analyte"])
    if bili is None:
        return "unknown", [site_ev, "no bilirubin in the record"]
    if not _fresh(bili, as_of, max_days):
        return "unknown", [site_ev, f"latest {bili.describe()} is older than {max_days} days (or undated)"]
    if bili.times_uln is None:
        return "unknown", [site_ev, bili.describe()]
    if bili.times_uln <= float(rule["above_uln"]):
        return "not_suspected", [bili.describe(), site_ev]
    excl = [f for name in rule["exclusions"] for f in _findings(record, name, as_of)]
    if excl:
        why = ", ".join(f"{_NAMES.get(f.name, f.name)} — {f.source.resource}" for f in excl)
        return "not_suspected", [
            bili.describe(),
            site_ev,
            f"{why}: a raised bilirubin alone does not suggest visceral crisis here (ABC5 excludes Gilbert's "
            "syndrome and biliary tract obstruction)",
        ]
    return "suspected", [bili.describe(), site_ev]


def _marrow_cytopenia(
    rule: dict[str, Any], record: Record, labs: tuple[LabSummary, ...], as_of: date, max_days: int
) -> tuple[RuleResult, list[str]]:
    """Bone-marrow infiltration (a finding, or stated in an active bone metastasis) with a current value below the
    reference range of one of the rule's analytes; no evidence when the record states no infiltration."""
    stated = _findings(record, rule["finding"], as_of)
    bone = [m for m in _active(record, rule["site"]) if finding_in_text(m.detail or "", rule["finding"])]
    if stated:
        where = f"bone-marrow infiltration ({stated[-1].text}) — {stated[-1].source.resource}"
    elif bone:
        where = f"bone-marrow infiltration ({bone[0].detail}) — {bone[0].source.resource}"
    else:
        return "not_suspected", []
    current = [
        x for x in (latest_lab(labs, a) for a in rule["analytes"]) if x is not None and _fresh(x, as_of, max_days)
    ]
    if not current:
        return "unknown", [where, f"no blood count from the last {max_days} days"]
    low = [x for x in current if x.flag == "low"]
    if low:
        return "suspected", [where, *(x.describe() for x in low)]
    return "not_suspected", [where, *(x.describe() for x in current)]


def _lymphangitic(rule: dict[str, Any], record: Record, as_of: date) -> tuple[RuleResult, list[str]]:
    evidence: list[str] = []
    spread = _findings(record, "lymphangitic_spread", as_of)
    lung = [m for m in _active(record, rule["site"]) if finding_in_text(m.detail, "lymphangitic_spread")]
    if spread:
        evidence.append(f"lymphangitic spread ({spread[0].text}) — {spread[0].source.resource}")
    elif lung:
        evidence.append(f"lymphangitic lung metastases ({lung[0].detail}) — {lung[0].source.resource}")
    else:
        return "not_suspected", []
    dyspnoea = _findings(record, "dyspnoea_at_rest", as_of)
    if not dyspnoea:
        return "unknown", [*evidence, "dyspnoea at rest not recorded either way"]
    d = dyspnoea[-1]
    evidence.append(f"dyspnoea at rest ({d.date or 'undated'}) — {d.source.resource}")
    return "suspected", evidence


def assess_visceral_crisis(record: Record, spread: Spread, labs: tuple[LabSummary, ...], as_of: date) -> VisceralCrisis:
    rules = _rules()
    source = str(rules["source"])
    judgements = [j for j in record.judgements if j.name == "visceral_crisis"]
    if judgements:
        dated = [j for j in judgements if j.date is not None]
        j = max(dated, key=lambda x: x.date.earliest if x.date else date.min) if dated else judgements[-1]
        evidence = [
            f"recorded by a clinician: {'present' if j.present else 'absent'} ({j.date or 'undated'}) — "
            f"{j.source.resource}"
        ]
        since = _since_judgement(j, record, labs, as_of)
        if not j.present and since:
            # An old "absent" never outweighs later laboratory evidence (unknown is never permissive): when the rules
            # raise a suspicion now, the suspicion is shown, with the old judgement beside it.
            now = _from_rules(record, spread, labs, as_of)
            if now.status == "suspected":
                return VisceralCrisis("suspected", (*evidence, *since[:1], *now.evidence), source, now.confirm)
        return VisceralCrisis(
            "present" if j.present else "absent",
            (*evidence, *since),
            source,
            str(rules["reassess"]) if since and j.present else None,
        )
    return _from_rules(record, spread, labs, as_of)


def _from_rules(record: Record, spread: Spread, labs: tuple[LabSummary, ...], as_of: date) -> VisceralCrisis:
    """The status the rules of visceral.yaml give, without a clinician's judgement."""
    rules = _rules()
    source = str(rules["source"])
    max_days = int(rules["max_lab_age_days"])
    results: list[tuple[RuleResult, list[str]]] = []
    # marrow failure is organ dysfunction without a visceral site (bone-only disease can have it)
    for rule in rules["rules"]:
        if rule["id"] == "marrow_cytopenia":
            marrow = _marrow_cytopenia(rule, record, labs, as_of, max_days)
            if marrow[1]:
                results.append(marrow)
    if not spread.visceral and not results:
        return VisceralCrisis("not_applicable", ("no active visceral metastasis recorded",), source, None)
    for rule in rules["rules"]:
        if rule["id"] == "liver_bilirubin" and "liver" in spread.sites:
            results.append(_liver_bilirubin(rule, record, labs, as_of, max_days))
        elif rule["id"] == "lymphangitic_dyspnoea":
            res = _lymphangitic(rule, record, as_of)
            if res[1]:
                results.append(res)
    suspected = [ev for r, ev in results if r == "suspected"]
    confirm = str(rules["confirm"])
    if suspected:
        return VisceralCrisis("suspected", tuple(e for ev in suspected for e in ev), source, confirm)
    evidence = tuple(e for _, ev in results for e in ev)
    if any(r == "unknown" for r, _ in results):
        return VisceralCrisis("unknown", evidence, source, confirm)
    fresh = [x for x in labs if _fresh(x, as_of, max_days)]
    if not fresh:
        return VisceralCrisis(
            "unknown",
            (
                *evidence,
                f"visceral metastases ({_visceral_sites(spread)}) but no laboratory values from the last "
                f"{max_days} days",
            ),
            source,
            confirm,
        )
    checked = "; ".join(str(r["text"]) for r in rules["rules"])
    # in clinical words, not the table's file name (fresh12 writer finding 15)
    return VisceralCrisis(
        "not_suspected", evidence or (f"none of the signs checked is present ({checked})",), source, None
    )


def _since_judgement(j: ClinicalJudgement, record: Record, labs: tuple[LabSummary, ...], as_of: date) -> list[str]:
    """What the record says after a recorded crisis older than the laboratory horizon (fresh6 writer: a crisis from
    July shown as current in November, bilirubin normal and responding). The judgement still stands — only a
    clinician withdraws it — but its age and the later findings are shown, with a request to re-assess."""
    max_days = int(_rules()["max_lab_age_days"])
    if j.date is None or (as_of - j.date.latest).days <= max_days:
        return []
    after = j.date.latest
    out = [f"recorded {(as_of - j.date.latest).days} days before {as_of}"]
    statuses = [d for d in record.disease_statuses if d.date is not None and d.date.earliest > after]
    if statuses:
        last = max(statuses, key=lambda d: d.date.earliest if d.date else date.min)
        out.append(f"since then: disease {last.status.replace('_', ' ')} ({last.date})")
    bili = latest_lab(labs, "bilirubin")
    if bili is not None and bili.date is not None and bili.date.earliest > after and _fresh(bili, as_of, max_days):
        out.append(f"since then: {bili.describe()}")
    return out


def _visceral_sites(spread: Spread) -> str:
    """The visceral sites only (sites.yaml): bone and nodes are not visceral (fresh5 writer: "visceral metastases
    (bone, distant_lymph_node, lung)")."""
    vocab = site_table().vocabulary
    named = [s.replace("_", " ") for s in spread.sites if vocab.get(s, {}).get("visceral")]
    return ", ".join(named) or "a visceral organ"
