"""What the record does not say but a decision needs: knowledge/unknowns.yaml evaluated on the patient's facts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mbcnav.assess.facts import build_facts
from mbcnav.knowledge.kb import evaluate, fill, knowledge_base

if TYPE_CHECKING:
    from mbcnav.assess.assessment import Assessment, Unknown


def find_unknowns(a: Assessment) -> list[Unknown]:
    """Each unknown that matters for this patient, with why and the action that would resolve it.

    The same entries give `mbcnav options` its recommended tests, so the two commands cannot disagree."""
    from mbcnav.assess.assessment import Unknown

    facts, _ = build_facts(a)
    out: list[Unknown] = []
    for entry in knowledge_base().unknown_entries:
        if evaluate(entry["when"], facts).result is True:
            out.append(Unknown(fill(entry["item"], facts), fill(entry["why"], facts), fill(entry["action"], facts)))
    return out
