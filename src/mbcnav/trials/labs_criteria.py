"""Laboratory and organ-function criteria (ANC, platelets, haemoglobin, bilirubin / transaminases x ULN,
creatinine clearance, LVEF) read from eligibility text and checked against the record's labs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mbcnav.trials.model import Constraint

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView

TYPES: tuple[str, ...] = ("lab",)


def extract(text: str, offset: int, section: str, negated: bool) -> list[Constraint]:
    """Constraints of this kind in one criterion (see trials/kinds.py for the arguments)."""
    return []


def check(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Whether the patient has what the constraint's params describe (None: unknown), with the evidence."""
    return None, "not evaluated"
