"""What a trial matcher reads about one patient (the assessment's facts, labs, therapies) and a checked verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from mbcnav.assess import Assessment
from mbcnav.assess.facts import build_facts
from mbcnav.assess.labs import LabSummary
from mbcnav.assess.therapy import latest_status, latest_status_on
from mbcnav.dates import PartialDate, interval
from mbcnav.record.model import LocalTreatment, Record
from mbcnav.terminology.sites import site_of_text


@dataclass(frozen=True, slots=True)
class Check:
    """A constraint against the record: does the patient satisfy it (ok), and from which facts."""

    ok: bool | None
    evidence: str


@dataclass
class PatientView:
    """The facts a matcher reads, from the assessment (the same facts the options rules use)."""

    facts: dict[str, Any]
    basis: dict[str, str]
    age: tuple[float, float] | None  # min and max possible age in years
    measurable: bool | None
    breast_surgery: bool
    sites: tuple[str, ...] = ()
    labs: tuple[LabSummary, ...] = ()  # per analyte the latest value on or before as_of (assess/labs.py)
    record: Record | None = None  # therapies, local treatments, comorbidities, findings with their dates
    as_of: date | None = None
    # the options engine's answer (pathway.Evaluation.standard_options_exhausted); None: options not evaluated
    options_exhausted: bool | None = None
    # the assessment's visceral-crisis status (assess/visceral.py) and its evidence
    visceral_crisis: str | None = None
    visceral_evidence: tuple[str, ...] = ()
    # brain metastases as the record shows them (brain_state): "untreated" (no brain radiotherapy or surgery recorded),
    # "treated_stable" (every brain metastasis recorded on or before the last brain treatment, and imaging after it
    # shows no brain lesion larger than its smallest size since), "treated" (treated, stability not shown); None: no
    # brain metastases. Symptoms and steroids are not structured: they stay unknown.
    brain_state: str | None = None
    brain_evidence: str = ""
    # progressing now (the latest line stopped for progression, or the latest disease status since the current line
    # started says progression), with its evidence; None: the record does not say
    progressing_now: bool | None = None
    progressing_evidence: str = ""
    # why `measurable` is what it is, when the latest RECIST time point alone does not say it ("" otherwise)
    measurable_evidence: str = ""

    @classmethod
    def of(cls, a: Assessment) -> PatientView:
        facts, basis = build_facts(a)
        birth = a.record.patient.birth_date
        age = None
        if birth is not None:
            span = interval(birth, PartialDate.of(a.as_of))
            age = (span.min_days / 365.25, span.max_days / 365.25)
        measurable: bool | None = None
        measurable_evidence = ""
        if a.record.measurements:
            dated = [m for m in a.record.measurements if m.date is not None and m.size_mm is not None]
            assessed = [m for m in a.record.measurements if m.date is not None]
            newest = max((m.date.earliest for m in assessed if m.date), default=None)
            at_newest = [m for m in assessed if m.date and m.date.earliest == newest]
            if at_newest and all(m.size_mm is None and _bone(m.site) for m in at_newest):
                # the latest assessment holds only bone lesions recorded without a size (sclerotic, "present"): bone
                # without a measured soft-tissue component is not measurable (RECIST 1.1 §3.1.2), nothing else is
                # there to measure (fresh9-12: bone-only patients ranked first for measurable-disease studies)
                dated = []
                measurable = False
                measurable_evidence = (
                    f"the latest tumour assessment ({newest}) records only bone lesions without a measured size "
                    "(not measurable by RECIST 1.1 §3.1.2)"
                )
            if dated:
                last = max(m.date.earliest for m in dated if m.date)
                at_last = [m for m in dated if m.date and m.date.earliest == last]
                measurable = any((m.size_mm or 0) >= (15 if m.axis == "short" else 10) for m in at_last)
                # no evidence of disease recorded after that time point (resection, SBRT: fresh12 u08): nothing is
                # left to measure now, whatever the last RECIST assessment showed
                later = latest_status(a.record.disease_statuses, PartialDate.of(last + timedelta(days=1)))
                if measurable and later is not None and later.status == "no_evidence_of_disease":
                    measurable = False
                    measurable_evidence = (
                        f"no evidence of disease recorded ({later.date}) after the last RECIST assessment ({last}): "
                        "no measurable lesion now"
                    )
        now = _progressing_now(a)
        brain = _brain_state(a) if "brain" in a.spread.sites else (None, "")
        return cls(
            facts,
            basis,
            age,
            measurable,
            bool(facts.get("breast_surgery_done")),
            a.spread.sites,
            a.labs,
            a.record,
            a.as_of,
            visceral_crisis=a.visceral_crisis.status if a.visceral_crisis is not None else None,
            visceral_evidence=a.visceral_crisis.evidence if a.visceral_crisis is not None else (),
            progressing_now=now[0],
            progressing_evidence=now[1],
            brain_state=brain[0],
            brain_evidence=brain[1],
            measurable_evidence=measurable_evidence,
        )


_BRAIN_LOCAL = re.compile(r"brain|cerebr|srs|stereotactic radiosurg|crani", re.I)


def _bone(site: str | None) -> bool:
    return site_of_text(site) == "bone"


def _brain_state(a: Assessment) -> tuple[str, str]:
    """Untreated, treated and radiologically stable, or treated (see PatientView.brain_state), with the evidence.
    Stable is read from the record's own imaging: no brain metastasis recorded after the last brain-directed
    radiotherapy or surgery, and no brain lesion measured since then larger than its smallest size since (RECIST 1.1
    does not grade irradiated non-target lesions by size; growth of any one is not called stable)."""
    rec = a.record
    treated: list[tuple[date, LocalTreatment]] = []
    for t in rec.local_treatments:
        until = t.end or t.start
        if until is not None and _BRAIN_LOCAL.search(f"{t.description} {t.site or ''}"):
            treated.append((until.latest, t))
    if not treated:
        return "untreated", "brain metastases with no brain radiotherapy or surgery recorded"
    when, last = max(treated, key=lambda x: x[0])
    what = f"{last.kind} {last.start}" + (f" to {last.end}" if last.end and last.end != last.start else "")
    later = [m for m in rec.metastases if m.site == "brain" and m.date is not None and m.date.earliest > when]
    if later:
        return "untreated", f"brain metastasis recorded {later[-1].date}, after the last brain {what}"
    sizes: dict[str, list[tuple[date, float]]] = {}
    grew: list[str] = []
    for m in rec.measurements:
        if m.site != "brain" or m.date is None or m.date.earliest <= when:
            continue
        if m.status == "unequivocal_progression":
            grew.append(f"{m.lesion_id} progressing ({m.date})")
            continue
        size = m.size_mm if m.status == "measured" else 0.0 if m.status in ("absent", "too_small") else None
        if size is not None:
            sizes.setdefault(m.lesion_id, []).append((m.date.earliest, size))
    before = {m.lesion_id for m in rec.measurements if m.site == "brain" and m.date and m.date.earliest <= when}
    new = sorted(k for k in sizes if before and k not in before)
    for lesion, seq in sizes.items():
        seq.sort()
        if seq[-1][1] > min(v for _, v in seq):
            grew.append(f"{lesion} {seq[-1][1]:g} mm ({seq[-1][0]}), above {min(v for _, v in seq):g} mm since")
    if grew or new:
        return "treated", f"brain {what}; since then: " + "; ".join(grew + [f"new lesion {k}" for k in new])
    if not sizes:
        return "treated", f"brain {what}; no brain imaging recorded since"
    latest = max(d for seq in sizes.values() for d, _ in seq)
    return "treated_stable", (
        f"brain {what}; no new brain metastasis since, and no brain lesion larger on imaging up to {latest}"
    )


def _progressing_now(a: Assessment) -> tuple[bool | None, str]:
    """Is the disease progressing now? Yes when the latest line for advanced disease stopped for progression (no
    new line since), or the latest disease status dated since the current line started says progression; no when
    that status says stable, responding or no evidence of disease, or when no line has been given (a relapse before
    any therapy is not progression on it); otherwise unknown."""
    last = a.lines[-1] if a.lines else None
    if last is None:
        return False, "no line of therapy for advanced disease yet"
    if not last.ongoing:
        if last.reason_stopped == "progression":
            return True, f"line {last.number} ({', '.join(last.drugs)}) stopped for progression ({last.end})"
        return None, f"line {last.number} stopped: {last.reason_stopped or 'reason not recorded'}"
    latest = latest_status_on(last, a.record.disease_statuses)
    if latest is None:
        return None, f"no disease status recorded since line {last.number} started ({last.start})"
    if latest.status == "undetermined":
        return None, f"latest disease status undetermined ({latest.date})"
    said = latest.status.replace("_", " ")
    return latest.status == "progression", f"latest disease status on line {last.number}: {said} ({latest.date})"
