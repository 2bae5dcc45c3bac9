"""Therapy classes the drug catalogue has no class for (ATR or CDK2 inhibitors, cell therapy, radiopharmaceuticals)
and investigational agents named by code: found in criteria and answered from the record's treatment list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mbcnav.knowledge.drugs import catalogue
from mbcnav.trials.tables import alternation, read_table

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView

AGENT_PREFIX = "agent:"  # the class key of a named agent: "agent:azd8421"


@dataclass(frozen=True, slots=True)
class NovelClass:
    key: str
    label: str
    phrases: re.Pattern[str]
    members: frozenset[str]  # catalogue drug names in the class
    procedures: re.Pattern[str] | None  # a local treatment of this kind ("radium-223", "Y-90 radioembolization")
    rule_out_only: bool = False  # read only to rule out, in exclusions (radiotherapy: its field is a person's reading)
    local_kind: str | None = None  # every local treatment of this kind (LocalTreatment.kind) is one of the class
    procedure_only: bool = False  # a procedure ("pneumonectomy"): answered from the local treatments alone


@dataclass(frozen=True, slots=True)
class _Table:
    classes: tuple[NovelClass, ...]
    finder: re.Pattern[str]
    code: re.Pattern[str]
    not_code: re.Pattern[str]
    study_drug_before: re.Pattern[str]


@cache
def _table() -> _Table:
    raw: Any = read_table("novel_therapies.yaml")
    cat = catalogue()
    classes: list[NovelClass] = []
    for key, entry in raw["classes"].items():
        members = set(entry.get("members", []))
        unknown = sorted(members - set(cat.drugs)) + sorted(set(entry.get("member_classes", [])) - set(cat.classes))
        if unknown:
            raise ValueError(f"novel_therapies.yaml: {key} names what the drug catalogue does not have: {unknown}")
        for klass in entry.get("member_classes", []):
            members |= {name for name in cat.drugs if cat.has_class(name, klass)}
        classes.append(
            NovelClass(
                key,
                str(entry["label"]),
                re.compile(rf"(?<![\w-])(?:{alternation(entry['phrases'], longest_first=True)})(?![\w])"),
                frozenset(members),
                re.compile(entry["procedures"]) if entry.get("procedures") else None,
                bool(entry.get("rule_out_only", False)),
                entry.get("local_kind"),
                bool(entry.get("procedure_only", False)),
            )
        )
    finder = "|".join(f"(?P<n{i}>{c.phrases.pattern})" for i, c in enumerate(classes))
    return _Table(
        tuple(classes),
        re.compile(finder),
        re.compile(rf"(?<![\w-])(?:{raw['agent_code']})(?![\w-])"),
        re.compile(rf"(?:{raw['not_codes']}|(?:jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)-?\d+)\Z"),
        re.compile(raw["study_drug_before"]),
    )


def by_key(key: str) -> NovelClass | None:
    return next((c for c in _table().classes if c.key == key), None)


def is_novel(name: str) -> bool:
    """Whether a prior-therapy class key is one of this module's (a class of the table or a named agent)."""
    return name.startswith(AGENT_PREFIX) or by_key(name) is not None


def find(s: str) -> list[tuple[int, int, str]]:
    """(start, end, class key) of the novel classes and agent codes named in the lower-cased criterion `s`."""
    t = _table()
    out: list[tuple[int, int, str]] = []
    for m in t.finder.finditer(s):
        i = int((m.lastgroup or "n0")[1:])
        out.append((m.start(), m.end(), t.classes[i].key))
    for m in t.code.finditer(s):
        code = m.group(0)
        if t.not_code.match(code) or any(a <= m.start() < b for a, b, _ in out):
            continue
        if t.study_drug_before.search(s[max(0, m.start() - 40) : m.start()]):
            continue  # "prior to the first dose of CTX-8371": the study's own drug
        out.append((m.start(), m.end(), AGENT_PREFIX + code.replace("-", "")))
    return sorted(out)


def rule_out_only(name: str) -> bool:
    """Whether the class is read only as a prior exposure that excludes, with its cue right before it (radiotherapy,
    and a named agent: "the effects of DS-8201a on the fetus", "6 months after the last dose of EIK1004" name the
    study's own drug, never one the patient must have had)."""
    if name.startswith(AGENT_PREFIX):
        return True
    c = by_key(name)
    return c is not None and c.rule_out_only


def label(name: str) -> str:
    if name.startswith(AGENT_PREFIX):
        return name[len(AGENT_PREFIX) :].upper()
    c = by_key(name)
    return c.label if c else name.replace("_", " ")


def received(
    name: str, p: PatientView, *, metastatic_only: bool = False, excluded: bool = True
) -> tuple[bool | None, str]:
    """Has the patient received a therapy of the novel class (or the named agent) `name`, from the record's
    treatment list read as complete (see novel_therapies.yaml): yes, no, or unknown while an uncatalogued drug is
    in the list; with the evidence. `excluded`: the criterion excludes the therapy (a rule-out-only class decides
    nothing else)."""
    what = label(name)
    if p.record is None:
        return None, f"{what}: no treatment list"
    cls = by_key(name)
    if cls is not None and cls.local_kind is not None:
        done = [lt for lt in p.record.local_treatments if lt.kind == cls.local_kind]
        if not excluded and cls.rule_out_only:
            return None, f"{what}: read from the record only to rule out an exclusion"
        if done:
            said = "; ".join(f"{lt.description} ({lt.start or '?'})" for lt in done[-3:])
            return None, f"{what} recorded ({said}): whether it is what the criterion names, a person reads"
        return False, f"no {what} among the record's local treatments"
    cat = catalogue()
    courses = [th for th in p.record.therapies if not metastatic_only or th.setting in ("metastatic", "unknown")]
    where = " for metastatic disease" if metastatic_only else ""
    code = name[len(AGENT_PREFIX) :] if name.startswith(AGENT_PREFIX) else None
    for th in courses:
        drug = th.drug.lower()
        if code is not None and code in re.sub(r"[\s-]", "", drug):
            return True, f"{th.drug} {th.start or '?'}: {what} received{where}"
        if cls is not None and (th.drug in cls.members or cls.phrases.search(drug)):
            return True, f"{th.drug} {th.start or '?'} is a {what}: received{where}"
    if cls is not None and cls.procedures is not None:
        for lt in p.record.local_treatments:
            if cls.procedures.search(f"{lt.description} {lt.site or ''}".lower()):
                return True, f"{lt.description} {lt.start or '?'}: {what} received"
    if cls is not None and cls.procedure_only:
        return False, f"no {what} among the record's local treatments"
    unknown = sorted({th.drug for th in courses if th.drug not in cat.drugs})
    if unknown:
        return None, f"{what}: {', '.join(unknown)} not in the drug catalogue, so the record cannot say"
    given = ", ".join(dict.fromkeys(th.drug for th in courses)) or "none"
    return False, f"no {what} in the treatment list{where} (every drug identified: {given})"
