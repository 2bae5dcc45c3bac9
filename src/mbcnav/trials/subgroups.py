"""Criteria addressed to a subgroup ("Male participants must ...", "Women of childbearing potential must ...",
"Patients with treated brain metastases are eligible if ..."): which subgroup, and whether the patient is in it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mbcnav.terminology.tumour_types import tumour_types
from mbcnav.trials.model import Constraint
from mbcnav.trials.tables import alternation, read_table

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView

TYPE = "subgroup"
_LABELS = {
    "men": "men",
    "women_of_childbearing_potential": "women of childbearing potential",
    "premenopausal_women": "pre- or perimenopausal women",
    "premenopausal_definition": "pre- or perimenopausal women",
    "men_of_reproductive_potential": "men of reproductive potential",
    "brain_metastases": "patients with brain metastases",
    "women_contraception": "women who can become pregnant",
    "people_of_reproductive_potential": "men and women of reproductive potential",
    "other_cancer_types": "patients with another type of cancer",
    "other_cancer_rule": "patients with another type of cancer",
    "other_cancer_disease": "patients with another type of cancer",
    "breast_hr_positive_her2_negative": "the HR-positive HER2-negative breast cancer cohort",
    "breast_her2_positive": "the HER2-positive breast cancer cohort",
    "breast_triple_negative": "the triple-negative breast cancer cohort",
}


_SEPARATOR = re.compile(r"\s*(?:•|\*|\s-\s|\s–\s)\s*\S")  # "•" is "*" once normalised
# a second subject is joined to the first: "... and female patients of childbearing potential must ..."
_JOINED_BEFORE = re.compile(r"(?:\band|\bor|,|/|&)\s*(?:(?:sexually active|fertile|all)\s+)?$")


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    pattern: re.Pattern[str]
    requires: re.Pattern[str] | None
    requires_in_subject: bool  # the subject itself may hold it ("Treated brain metastases are allowed")
    members: tuple[dict[str, tuple[Any, ...]], ...]
    names_cohort: bool = False  # the subject is the whole point: the criterion names a cohort's disease
    separator_rule: bool = False  # "<tumour type> • <its rule>": the separator after the subject makes it a rule


@dataclass(frozen=True, slots=True)
class _Table:
    groups: tuple[_Group, ...]
    lead_in: re.Pattern[str]
    qualifier: re.Pattern[str]
    joiner: re.Pattern[str]
    obligation: re.Pattern[str]
    allowance: re.Pattern[str]


@cache
def _table() -> _Table:
    raw: Any = read_table("subgroups.yaml")
    groups = []
    for name, entry in raw["groups"].items():
        if name not in _LABELS:
            raise ValueError(f"subgroups.yaml: group {name!r} has no label in trials/subgroups.py")
        members = tuple({k: tuple(v) for k, v in alt.items()} for alt in entry["members"])
        other = tumour_types().named
        no_breast = tumour_types().no_breast_after
        alt = alternation(
            [t.replace("{other_tumour}", other).replace("{no_breast_after}", no_breast) for t in entry["triggers"]],
            longest_first=True,
        )
        groups.append(
            _Group(
                name,
                re.compile(rf"(?:{alt})(?!\w)"),  # "(?!\w)", not "\b": a head may end in ")"
                re.compile(entry["requires"]) if "requires" in entry else None,
                bool(entry.get("requires_in_subject", False)),
                members,
                bool(entry.get("names_cohort", False)),
                bool(entry.get("separator_rule", False)),
            )
        )
    return _Table(
        tuple(groups),
        re.compile(raw["lead_in"]),
        re.compile(raw["qualifier"]),
        re.compile(raw["joiner"]),
        re.compile(raw["obligation"]),
        re.compile(raw["allowance"]),
    )


def _subject(text: str, cohort_names: bool = True) -> tuple[list[_Group], int, int]:
    """The subgroups a criterion starts with (joined by "and", "or", ","), and the span of that subject
    (`cohort_names` False: not the groups that only name another tumour type's cohort)."""
    t = _table()
    pool = t.groups if cohort_names else tuple(g for g in t.groups if not g.names_cohort)
    pos = len(text) - len(text.lstrip(" *-•\t\n·"))
    start = pos
    while m := t.lead_in.match(text, pos):
        pos = m.end()
    found: list[_Group] = []
    end = pos
    while True:
        while q := t.qualifier.match(text, pos):
            pos = q.end()
        hit = max(((g, g.pattern.match(text, pos)) for g in pool), key=lambda gm: gm[1].end() if gm[1] else -1)
        group, m = hit
        if m is None:
            break
        if group not in found:
            found.append(group)
        end = pos = m.end()
        j = t.joiner.match(text, pos)
        if j is None:
            break
        pos = j.end()
    return found, start, end


def extract(text: str, offset: int, below: str = "", *, is_head: bool = False) -> list[Constraint]:
    """The subgroup a criterion is addressed to, as one constraint (none when it is not addressed to one). `text`
    is the normalised (lower-case) criterion; `offset` its position in the whole eligibility text; `below` the
    sub-bullet a list head `text` is read for ("Male participants:" then "- agree to use condoms"); `is_head` that
    `text` heads a list of its own (a heading that is only its subject is then marked `cohort_head`)."""
    # read for a sub-bullet, another tumour type's indication names its own cohort and binds nothing ("Uterine
    # carcinoma", a bare line the segmenter may hang every later bullet on); a rule for that tumour type's patients
    # (other_cancer_types: "Non-small cell lung cancer (NSCLC)" over that cohort's bullets) still binds them
    groups, start, end = _subject(text, cohort_names=not below)
    if not groups:
        return []
    t = _table()
    subject = text[start:end]
    stop = re.search(r"[.;]\s", text[end:])
    rest = (text[end : end + stop.start()] if stop else text[end:]) + " " + below
    # a list head: read for a sub-bullet below it, or as itself when it heads a list; it binds when it ends in a
    # colon or is nothing but its subject ("Participants with Multiple Myeloma", "NSCLC (cohort 2)")
    only_subject = not text[end:].strip(" :.")
    head = (bool(below) and (text.rstrip().endswith(":") or only_subject)) or (is_head and only_subject)
    # a disease named as the subject with no rule after it ("Metastatic NSCLC with progression after ...") names the
    # cohort; with one ("Metastatic colorectal cancer patients must ...") it is a rule for that cohort
    names_cohort = not below and any(g.names_cohort for g in groups) and not t.obligation.search(rest)
    # "Cervical cancer • Patients considered for ...": another tumour type's rule after a separator
    separated = any(g.separator_rule for g in groups) and bool(_SEPARATOR.match(text, end))
    if not (t.obligation.search(rest) or t.allowance.search(subject) or head or names_cohort or separated):
        return []
    # "Male patients with female partners of childbearing potential and female patients of childbearing potential
    # must ...": a second subject later in the sentence, joined by "and"/"or", before the obligation
    ob = t.obligation.search(rest)
    before = rest[: ob.start()] if ob else rest
    for g in t.groups:
        if g in groups:
            continue
        for m in g.pattern.finditer(before):
            joined = _JOINED_BEFORE.search(before[: m.start()])
            if (m.start() == 0 or not before[m.start() - 1].isalnum()) and joined:
                groups.append(g)
                break
    for g in groups:
        where = subject + " " + rest if g.requires_in_subject else rest
        if g.requires is not None and not g.requires.search(where):
            return []
    names = [g.name for g in groups]
    params: dict[str, Any] = {"groups": names}
    if (is_head and not below and only_subject) or names_cohort:
        params["cohort_head"] = True  # the heading of a cohort: "is she one of them?" is its whole question
    return [
        Constraint(
            TYPE,
            "required",
            params,
            (offset + start, offset + end),
            f'addressed to {" or ".join(_LABELS[n] for n in names)}: "{text[start:end].strip()}"',
        )
    ]


def names_a_cohort(c: Constraint) -> bool:
    """The constraint is another tumour type's indication naming its own cohort ("Vulvar cancer (squamous cell
    carcinoma)"): it binds no sub-bullet, so what the segmenter hangs below it is not made moot by it."""
    by_name = {g.name: g for g in _table().groups}
    names = [n for n in c.params.get("groups", []) if n in by_name]
    return bool(names) and all(by_name[n].names_cohort for n in names)


def _holds(value: Any, allowed: tuple[Any, ...]) -> bool | None:
    return None if value is None else value in allowed


def membership(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Is the patient in the subgroup the criterion is addressed to (True / False) or can the record not say (None),
    with the facts used."""
    by_name = {g.name: g for g in _table().groups}
    groups = [by_name[n] for n in c.params.get("groups", []) if n in by_name]
    used: dict[str, Any] = {}
    verdicts: list[bool | None] = []
    for g in groups:
        for alt in g.members:
            parts = []
            for fact, allowed in alt.items():
                value = p.facts.get(fact)
                used[fact] = value
                parts.append(_holds(value, allowed))
            verdicts.append(False if False in parts else True if all(parts) else None)
    label = " or ".join(_LABELS[g.name] for g in groups)
    facts = ", ".join(f"{k.replace('_', ' ')} {'unknown' if v is None else v}" for k, v in used.items())
    if True in verdicts:
        return True, f"applies to {label}: the patient is one ({facts})"
    if verdicts and all(v is False for v in verdicts):
        return False, f"not applicable: applies only to {label}; the patient is not ({facts})"
    return None, f"applies to {label}: whether the patient is one is not recorded ({facts})"
