"""Readers of more constraint kinds (labs, time windows, comorbidities, screening items): each reads a criterion's
text into typed constraints and checks them against the record. The parser (criteria.py) and the matcher
(match.py) call them through this registry, so a kind lives in one module with its data table and its tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mbcnav.trials import (
    histology,
    labs_criteria,
    menopause,
    permissions,
    plans,
    progression,
    screening,
    standard_therapy,
    windows,
)
from mbcnav.trials.model import Constraint
from mbcnav.trials.patient_view import Check, PatientView

# (criterion text normalised by criteria._normalise — lower case, same length as the original —, offset of that
# text in the whole eligibility text, section "inclusion" | "exclusion", whether the criterion sits under a negated
# list head, the text of its list head or "") -> constraints whose spans are offsets in the whole text (offset +
# position in `text`).
Extractor = Callable[[str, int, str, bool, str], list[Constraint]]
# (constraint, patient) -> (has, evidence): does the patient have / satisfy what the params describe (True / False)
# or is it unknown (None). The registry applies the polarity: ok = has for "required", not has for "excluded".
Checker = Callable[[Constraint, PatientView], tuple[bool | None, str]]


@dataclass(frozen=True, slots=True)
class Kind:
    """One reader: the constraint types it produces, how it reads text and how it checks a constraint."""

    types: tuple[str, ...]
    extract: Extractor
    check: Checker


KINDS: tuple[Kind, ...] = tuple(
    Kind(m.TYPES, m.extract, m.check)
    for m in (
        labs_criteria,
        windows,
        screening,
        standard_therapy,
        permissions,
        histology,
        menopause,
        plans,
        progression,
    )
)
_BY_TYPE: dict[str, Kind] = {t: k for k in KINDS for t in k.types}


def extract(text: str, offset: int, section: str, negated: bool, found: set[str], head: str = "") -> list[Constraint]:
    """Constraints of the registered kinds in one criterion; `found` are the types the parser already read there
    (a kind does not read again what the parser read); `head` is the criterion's list head ("" when none)."""
    out: list[Constraint] = []
    for k in KINDS:
        out += [c for c in k.extract(text, offset, section, negated, head) if c.type not in found]
    return out


def check(c: Constraint, p: PatientView) -> Check | None:
    """The verdict of a registered kind's constraint (polarity applied), or None when no kind owns its type."""
    k = _BY_TYPE.get(c.type)
    if k is None:
        return None
    has, evidence = k.check(c, p)
    return Check(None if has is None else has == (c.polarity == "required"), evidence)
