"""Requirements about the care plan or another study (plans.yaml): a treatment the patient is to receive, current
enrolment in a treatment trial, a lesion that takes up a study tracer on PET; read from inclusions and checked
against the record's ongoing line (the record holds no plans, enrolments or tracer scans)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mbcnav.knowledge.drugs import catalogue
from mbcnav.trials.drug_names import find_drugs
from mbcnav.trials.model import Constraint
from mbcnav.trials.tables import read_table

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView

TYPES: tuple[str, ...] = ("planned_therapy", "trial_enrolment", "tracer_uptake")
_SENTENCE_END = re.compile(r"[.;](?:\s|$)")


@dataclass(frozen=True, slots=True)
class _Table:
    not_before: re.Pattern[str]
    plan: re.Pattern[str]
    window: int
    blockers: re.Pattern[str]
    classes: tuple[tuple[str, re.Pattern[str]], ...]
    enrolment: re.Pattern[str]
    tracers: tuple[tuple[str, re.Pattern[str]], ...]
    positive: re.Pattern[str]


@cache
def _table() -> _Table:
    raw: Any = read_table("plans.yaml")
    return _Table(
        re.compile(raw["not_before"]),
        re.compile(raw["plan"]),
        int(raw["object_window"]),
        re.compile(raw["object_blockers"]),
        tuple((k, re.compile(v)) for k, v in raw["classes"].items()),
        re.compile(raw["enrolment"]),
        tuple((k, re.compile(v)) for k, v in raw["tracers"].items()),
        re.compile(raw["positive"]),
    )


def extract(text: str, offset: int, section: str, negated: bool, head: str = "") -> list[Constraint]:
    """Plan, enrolment and tracer requirements of an inclusion (see trials/kinds.py for the arguments)."""
    if section != "inclusion" or negated:
        return []
    t = _table()
    out: list[Constraint] = []
    m = t.plan.search(text)
    if m is not None and not t.not_before.search(text[max(0, m.start() - 30) : m.start()]):
        end = _SENTENCE_END.search(text, m.end())
        window = text[m.end() : min(end.start() if end else len(text), m.end() + t.window)]
        target = _object(window)
        if target is not None:
            params: dict[str, Any] = {"drug": target} if target in catalogue().drugs else {"class": target}
            if m.group("start"):
                params["start"] = True  # "planning to start X": a plan for a new treatment
            span = (offset + m.start(), offset + m.end() + len(window))
            out.append(Constraint("planned_therapy", "required", params, span, f'planned {target}: "{m.group(0)}"'))
    e = t.enrolment.search(text)
    if e is not None and not t.not_before.search(text[max(0, e.start() - 30) : e.start()]):
        span = (offset + e.start(), offset + e.end())
        out.append(
            Constraint("trial_enrolment", "required", {}, span, f'enrolled in a treatment trial: "{e.group(0)}"')
        )
    for name, pattern in t.tracers:
        tm = pattern.search(text)
        if tm is None:
            continue
        sentence_end = _SENTENCE_END.search(text, tm.end())
        sentence = text[max(0, tm.start() - 120) : sentence_end.start() if sentence_end else len(text)]
        if t.positive.search(sentence) and re.search(r"\blesions?\b|\bdisease\b|\btumou?rs?\b", sentence):
            span = (offset + tm.start(), offset + tm.end())
            out.append(Constraint("tracer_uptake", "required", {"tracer": name}, span, f'{name} PET: "{tm.group(0)}"'))
            break
    return out


def _object(window: str) -> str | None:
    """The catalogue drug or class a plan names first in `window`."""
    best: tuple[int, str] | None = None
    for start, _, names in find_drugs(window):
        best = (start, names[0])
        break
    for key, pattern in _table().classes:
        cm = pattern.search(window)
        if cm is not None and (best is None or cm.start() < best[0]):
            best = (cm.start(), key)
    if best is None or _table().blockers.search(window[: best[0]]):
        return None
    return best[1]


def check(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Whether the record shows the plan / enrolment / tracer uptake (None: it cannot say)."""
    regimen: list[str] = list(p.facts.get("current_regimen") or [])
    if c.type == "tracer_uptake":
        return None, f"{c.params.get('tracer')} PET with the study's tracer: not in the record"
    cat = catalogue()
    if c.type == "trial_enrolment":
        if not regimen:
            return None, "no ongoing line in the record: trial enrolment not recorded"
        study = [d for d in regimen if d in cat.drugs and cat.drugs[d].investigational]
        if study:
            return True, f"ongoing line holds an investigational drug ({', '.join(study)})"
        if all(d in cat.drugs for d in regimen):
            return False, f"ongoing line: {', '.join(regimen)} (catalogue drugs, none investigational)"
        return None, f"ongoing line: {', '.join(regimen)}; a drug outside the catalogue may be a study drug"
    name = str(c.params.get("drug") or c.params.get("class"))
    label = name.replace("_", " ")
    if p.facts.get(f"current.{name}"):
        if c.params.get("start"):
            return None, f"on {label} already (ongoing line: {', '.join(regimen)}): whether it counts as starting, ask"
        return True, f"on {label} now (ongoing line: {', '.join(regimen)})"
    if c.params.get("start") and p.facts.get(f"progressed_on.{name}"):
        return False, f"progressed on {label} before: not a treatment to start"
    if not regimen:
        return None, f"no ongoing line: whether {label} is planned is not in the record"
    if p.progressing_now:
        return None, f"progressing on the ongoing line ({', '.join(regimen)}): the next treatment is not recorded"
    return False, f"ongoing line continues ({', '.join(regimen)}); {label} is not part of it"
