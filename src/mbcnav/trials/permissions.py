"""Permissions: a criterion that only allows something restricts no one (permissions.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from mbcnav.trials.model import Constraint
from mbcnav.trials.patient_view import PatientView
from mbcnav.trials.tables import alternation, read_table

TYPES: tuple[str, ...] = ("permission",)
EVIDENCE = "a permission: it allows something and restricts no one"
DEFINITION_EVIDENCE = "a definition (a formula or an answer code): it requires nothing"
_SENTENCE = re.compile(r"(?<=[.;])\s+(?=\S)")
_PARENTHESIS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|approx|incl)\.")


@dataclass(frozen=True, slots=True)
class _Table:
    permits: re.Pattern[str]
    blockers: re.Pattern[str]
    definitions: re.Pattern[str]


@cache
def _table() -> _Table:
    data: dict[str, Any] = read_table("permissions.yaml")
    table = _Table(
        re.compile(alternation(data["permits"])),
        re.compile(alternation(data["blockers"])),
        re.compile(alternation(data["definitions"])),
    )
    for section, examples in data["examples"].items():  # the table's own examples must read as permissions
        for example in examples:
            if not is_permission(example.lower(), table):
                raise ValueError(f"permissions.yaml: {section} example not read as a permission: {example!r}")
    return table


def is_permission(text: str, table: _Table | None = None) -> bool:
    """No condition, duty, bound or ban anywhere in the (lower-cased) criterion, and every sentence allows something
    (or the criterion is only a definition: a formula, an answer code)."""
    t = table or _table()
    if t.blockers.search(text):
        return False
    if t.definitions.search(text.strip()):
        return True  # a formula, an answer code or a variable: it defines, it requires nothing
    # a parenthesis gives examples or a definition ("(e.g. topical, ocular ...)"), and its "e.g." is no sentence end
    plain = text.strip()
    while (stripped := _PARENTHESIS.sub(" ", plain)) != plain:  # nested parentheses, innermost first
        plain = stripped
    sentences = [s for s in _SENTENCE.split(_ABBREVIATION.sub(" ", plain)) if re.search(r"[a-z]", s)]
    return bool(sentences) and all(t.permits.search(s) for s in sentences)


def extract(text: str, offset: int, section: str, negated: bool, head: str = "") -> list[Constraint]:
    """A permission constraint for a criterion that is only a permission (see trials/kinds.py for the arguments)."""
    if negated or not is_permission(text):
        return []
    polarity = "required" if section == "inclusion" else "excluded"
    if _table().definitions.search(text.strip()):
        span = (offset, offset + len(text))
        return [Constraint("permission", polarity, {"definition": True}, span, "a definition, no restriction")]
    return [Constraint("permission", polarity, {}, (offset, offset + len(text)), "a permission, no restriction")]


def evidence(c: Constraint) -> str:
    """What the verdict of a permission constraint rests on."""
    return DEFINITION_EVIDENCE if c.params.get("definition") else EVIDENCE


def check(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Always satisfied: the inclusion holds and the exclusion does not apply, for every patient."""
    return c.polarity == "required", evidence(c)
