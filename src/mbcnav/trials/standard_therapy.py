"""Criteria about standard therapy ("refractory to standard therapy or for which no standard therapy exists",
"relapsed after all standard therapies"): read from the text and checked against the record's lines and the
options engine's answer on whether standard options remain (standard_therapy.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mbcnav.trials.model import Constraint
from mbcnav.trials.tables import read_table

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView

TYPES: tuple[str, ...] = ("standard_therapy",)


@dataclass(frozen=True, slots=True)
class _Table:
    some: re.Pattern[str]
    all: re.Pattern[str]
    now: re.Pattern[str]
    last: re.Pattern[str]
    last_intolerance: re.Pattern[str]
    all_declined: re.Pattern[str]


@cache
def _table() -> _Table:
    raw: Any = read_table("standard_therapy.yaml")

    obj = raw["object"]

    def alt(key: str) -> re.Pattern[str]:
        # a trigger ending with "standard" must be followed by therapy in general (`object`)
        return re.compile(
            r"\b(?:" + "|".join(f"(?:{p}{obj})" if p.endswith("standard") else f"(?:{p})" for p in raw[key]) + r")"
        )

    return _Table(
        alt("some"),
        alt("all"),
        alt("now"),
        alt("last"),
        re.compile(raw["last_intolerance"]),
        re.compile(raw["all_declined"]),
    )


# between the two readings: a new sentence, or "and" with an obligation of its own
_TWO_REQUIREMENTS = re.compile(r"[.;]\s|\band\b(?:\s+\w+){0,2}?\s+(?:must|should|shall)\b")


def extract(text: str, offset: int, section: str, negated: bool, head: str = "") -> list[Constraint]:
    """The standard-therapy requirement of an inclusion criterion (see trials/kinds.py for the arguments)."""
    if section != "inclusion" or negated:
        return []
    t = _table()
    now = t.now.search(text)
    if now is not None:
        span = (offset + now.start(), offset + now.end())
        return [Constraint("standard_therapy", "required", {"now": True}, span, "progressing now (oligoprogression)")]
    every = t.all.search(text)
    some = t.some.search(text)
    if every is None and some is None:
        last = t.last.search(text)
        if last is None:
            return []
        params_last = {"last": True, "intolerance": bool(t.last_intolerance.search(text))}
        span = (offset + last.start(), offset + last.end())
        return [Constraint("standard_therapy", "required", params_last, span, "progression on the most recent therapy")]
    hits = [m for m in (every, some) if m is not None]
    start, end = min(m.start() for m in hits), max(m.end() for m in hits)
    params = {"some": some is not None, "all": every is not None}
    if every is not None and t.all_declined.search(text):
        params["or_declined"] = True
    between = text[min(every.end(), some.end()) : max(every.start(), some.start())] if every and some else ""
    if _TWO_REQUIREMENTS.search(between):
        # "Have progressed despite standard therapies ... . Patients must have no available therapeutic options"
        # (NCT06582017); "... intolerant to standard-of-care therapies and should have no appropriate standard-of-care
        # therapeutic options" (NCT04389632): two requirements. A plain "or" joins them as alternatives.
        params["both"] = True
    what = (" and " if params.get("both") else " or ").join(
        label
        for label, on in (
            ("progressed on standard therapy", params["some"]),
            ("no standard option left", params["all"]),
        )
        if on
    )
    return [
        Constraint("standard_therapy", "required", params, (offset + start, offset + end), f"standard therapy: {what}")
    ]


def check(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Whether the patient meets the standard-therapy requirement (None: unknown), with the evidence."""
    if c.params.get("now"):
        return p.progressing_now, p.progressing_evidence or "progressing now: not recorded"
    if c.params.get("last"):
        return _last_line(p, bool(c.params.get("intolerance")))
    answers: list[bool | None] = []
    evidence: list[str] = []
    if c.params.get("some"):
        lines = p.facts.get("lines_so_far")
        progressed = any(v for k, v in p.facts.items() if k.startswith("progressed_on.") and v)
        if lines is None:
            answers.append(None)
            evidence.append("lines for advanced disease: unknown")
        else:
            answers.append(bool(progressed))
            evidence.append(
                f"{lines} line(s) for advanced disease; "
                + ("progression on one recorded" if progressed else "no progression on one recorded")
            )
    if c.params.get("all"):
        # Only the options engine's positive answer decides: a line of systemic therapy it still offers (above
        # "consider") means standard options remain. Its silence does not prove the opposite (a patient stable on
        # her current line is offered no new one), so "no line offered" leaves the criterion to a person.
        ex = p.options_exhausted
        # "... or declined by the patient": remaining options do not settle it
        answers.append(False if ex is False and not c.params.get("or_declined") else None)
        evidence.append(
            "standard options: not evaluated"
            if ex is None
            else "the options engine offers no further line above 'consider': whether all standard therapies are "
            "exhausted, a person judges"
            if ex
            else "standard options remain (the options engine still offers a line of systemic therapy)"
        )
    if c.params.get("both"):
        has = False if False in answers else True if answers and all(answers) else None
    else:
        has = True if True in answers else False if answers and all(a is False for a in answers) else None
    return has, "; ".join(evidence)


def _last_line(p: PatientView, intolerance: bool) -> tuple[bool | None, str]:
    """Progression on or after the most recent line for advanced disease (or intolerance, when accepted)."""
    stopped = p.facts.get("last_line_stopped")
    if stopped is None:
        return False, "no line of therapy for advanced disease recorded"
    if stopped == "ongoing":
        if p.progressing_now:  # progressing on the current line, the next one not yet started
            return True, p.progressing_evidence
        return False, "the latest line is ongoing, with no progression recorded on it"
    if stopped == "progression":
        return True, "the latest line stopped for progression"
    if stopped == "toxicity":
        return (
            (True, "the latest line stopped for toxicity (intolerance accepted)")
            if intolerance
            else (
                False,
                "the latest line stopped for toxicity, not progression",
            )
        )
    return None, f"the latest line stopped: {str(stopped).replace('_', ' ')}; progression after it not recorded"
