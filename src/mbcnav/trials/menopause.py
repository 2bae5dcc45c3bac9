"""Menopausal status required by a criterion ("Postmenopausal women", "Patients must be premenopausal"), read from
the text and checked against the assessment's menopausal status (menopause.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mbcnav.trials.model import Constraint
from mbcnav.trials.tables import read_table

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView

TYPES: tuple[str, ...] = ("menopausal_status",)

# a list head whose clauses define a status or childbearing potential: its clauses are definitions, not requirements
_DEFINITION_HEAD = re.compile(r"child-?\s?bearing|reproductive|steril|defined|definition|menopaus")
# the criterion names the sex it speaks of: the status is then one for women, and a man is not asked it
_SEX_WORD = re.compile(r"\b(?:women|woman|females?|men|males?)\b")


@dataclass(frozen=True, slots=True)
class _Table:
    lead_in: re.Pattern[str]
    statements: tuple[tuple[str, re.Pattern[str]], ...]
    rule_after: re.Pattern[str]
    any_status: re.Pattern[str]
    alternative_after: re.Pattern[str]
    ofs: re.Pattern[str]


@cache
def _table() -> _Table:
    raw: Any = read_table("menopause.yaml")
    return _Table(
        re.compile(raw["lead_in"]),
        tuple((str(s["status"]), re.compile(s["pattern"])) for s in raw["statements"]),
        re.compile(raw["rule_after"]),
        re.compile(raw["any_status"]),
        re.compile(raw["alternative_after"]),
        re.compile(raw["ofs"]),
    )


def extract(text: str, offset: int, section: str, negated: bool, head: str = "") -> list[Constraint]:
    """The menopausal status a criterion states as its own requirement (see trials/kinds.py for the arguments)."""
    t = _table()
    if t.any_status.search(text) or _DEFINITION_HEAD.search(head):
        return []  # any status; or a clause of a definition list ("Females of child-bearing potential ...:")
    start = t.lead_in.match(text)
    pos = start.end() if start else 0
    for status, pattern in t.statements:
        m = pattern.match(text, pos)
        if m is None or t.rule_after.search(text[m.end() :]):
            continue
        if t.alternative_after.search(text[m.end() :]) and not t.ofs.search(text):
            continue  # "Postmenopausal or evidence of non-childbearing status": one alternative among others
        rest = text[m.end() :].strip(" .;,")
        if section == "exclusion" and rest:
            continue  # an exclusion is read only when it is the status alone ("Premenopausal women"), not a list head
        polarity = "required" if section == "inclusion" else "excluded"
        if negated:
            polarity = "excluded" if polarity == "required" else "required"
        params: dict[str, Any] = {"status": status}
        if _SEX_WORD.search(text):
            params["women"] = True  # "Postmenopausal women", "male or postmenopausal female": a man is not asked
        if status == "post" and t.ofs.search(text):
            params["ofs_counts"] = True
        cue = f'menopausal status {status}: "{m.group(0)}"'
        return [Constraint("menopausal_status", polarity, params, (offset + m.start(), offset + m.end()), cue)]
    return []


def check(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Is the patient of the status (a man: the criterion is about women; unknown status: unknown)."""
    want = str(c.params.get("status"))
    sex = p.facts.get("sex")
    status = p.facts.get("menopausal_status")
    basis = p.basis.get("menopausal_status") or ""
    said = f"menopausal status {status or 'not recorded'}" + (f" ({basis[:80]})" if basis else "")
    if sex == "male":
        if c.params.get("women"):
            return True, "a man: the menopausal status is a criterion for women"
        return False, "a man: not of the menopausal status required"
    if status is None:
        return None, said
    if want == "post":
        if status == "post":
            return True, said
        if c.params.get("ofs_counts") and p.facts.get("current.ovarian_suppression"):
            return True, f"{said}; on ovarian function suppression, which the criterion accepts"
        return False, said
    return status in ("pre", "peri"), said
