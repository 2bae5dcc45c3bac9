"""Coded findings read by code and by meaning (whole phrases with negation), never by substring: menopausal
status, bilateral oophorectomy, Gilbert's syndrome, biliary obstruction, lymphangitic spread, dyspnoea at rest,
amenorrhoea. The codes and phrases are data: terminology/findings.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, get_args

import yaml

from mbcnav.terminology.codes import MBCNAV_CS, codings, texts

MenopauseStatus = Literal["pre", "peri", "post"]
FindingName = Literal[
    "bilateral_oophorectomy",
    "gilbert_syndrome",
    "biliary_obstruction",
    "lymphangitic_spread",
    "dyspnoea_at_rest",
    "amenorrhoea",
    "bone_marrow_infiltration",
]
FINDING_NAMES: tuple[FindingName, ...] = get_args(FindingName)


@dataclass(frozen=True, slots=True)
class PhraseHit:
    key: str
    phrase: str
    negated: bool


@dataclass(frozen=True, slots=True)
class _Table:
    negations: tuple[str, ...]
    question_codes: frozenset[str]
    status_codes: dict[tuple[str, str], MenopauseStatus]
    status_phrases: tuple[tuple[str, str], ...]  # (phrase, status), longest first
    not_a_status: tuple[str, ...]
    finding_codes: dict[tuple[str, str], FindingName]
    finding_phrases: tuple[tuple[str, str], ...]  # (phrase, finding name), longest first


@cache
def _table() -> _Table:
    raw: Any = yaml.safe_load(resources.files("mbcnav.terminology").joinpath("findings.yaml").read_text("utf-8"))
    meno = raw["menopause"]
    status_codes: dict[tuple[str, str], MenopauseStatus] = {}
    for system, mapping in meno["status_codes"].items():
        for code, status in mapping.items():
            status_codes[(system, str(code))] = status
    phrases = [(_norm(p), s) for s, ps in meno["phrases"].items() for p in ps]
    finding_codes: dict[tuple[str, str], FindingName] = {}
    finding_phrases: list[tuple[str, str]] = []
    for name, spec in raw["findings"].items():
        for system, codes in (spec.get("codes") or {}).items():
            for c in codes:
                finding_codes[(system, str(c))] = name
        finding_phrases += [(_norm(p), name) for p in spec["phrases"]]
    return _Table(
        negations=tuple(_norm(n) for n in raw["negations"]),
        question_codes=frozenset(str(c) for c in meno["question_codes"]["snomed"]),
        status_codes=status_codes,
        status_phrases=tuple(sorted(phrases, key=lambda x: -len(x[0]))),
        not_a_status=tuple(_norm(w) for w in meno["not_a_status"]),
        finding_codes=finding_codes,
        finding_phrases=tuple(sorted(finding_phrases, key=lambda x: -len(x[0]))),
    )


_SUFFIX = re.compile(r"\((finding|disorder|procedure|situation|observable entity|qualifier value)\)")


def _norm(text: str) -> str:
    t = _SUFFIX.sub(" ", text.lower())
    t = t.replace("’", "'")
    t = re.sub(r"[-_/,;:.()\[\]]", " ", t)
    return re.sub(r"\s+", " ", t).strip()


@cache
def _pattern(table: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    """One alternation per table, longest phrase first: at each position the longest phrase wins and a matched span
    is consumed, so a shorter phrase cannot match inside it ("pre menopausal" is not also "menopausal")."""
    alternation = "|".join(re.escape(p) for p, _ in table)
    return re.compile(rf"(?<=\s)(?:{alternation})(?=\s)"), dict(table)


@cache
def _negation() -> re.Pattern[str]:
    return re.compile(r"(?:^|\s)(?:" + "|".join(re.escape(n) for n in _table().negations) + r")(?:\s|$)")


def phrase_hits(text: str, table: tuple[tuple[str, str], ...]) -> list[PhraseHit]:
    """Every phrase of `table` found in `text` as whole words (longest first), each with its negation: a negation
    word among the three words before it."""
    t = f" {_norm(text)} "
    pattern, keys = _pattern(table)
    hits: list[PhraseHit] = []
    for m in pattern.finditer(t):
        window = " ".join(t[: m.start()].split()[-3:])
        hits.append(PhraseHit(keys[m.group(0)], m.group(0), bool(_negation().search(window))))
    return hits


def menopause_question(concept: Any) -> bool:
    """Is this Observation.code a menopausal-status question (the answer is in the value)?"""
    tab = _table()
    for system, code, _ in codings(concept):
        if system == "snomed" and code in tab.question_codes:
            return True
        if system == MBCNAV_CS + "/observation" and code == "menopausal-status":
            return True
    words = _norm(" ; ".join(texts(concept)))
    return bool(re.search(r"\bmenopaus(e|al) (status|state|function)\b|\bstatus menopaus", words))


def menopause_from_code(concept: Any) -> MenopauseStatus | None:
    """Status from a coded concept (SNOMED finding, mbcnav code); None when no code says it."""
    tab = _table()
    found: set[MenopauseStatus] = set()
    for system, code, _ in codings(concept):
        key = "mbcnav" if system == MBCNAV_CS + "/menopausal-status" else system
        status = tab.status_codes.get((key, code))
        if status is not None:
            found.add(status)
    return found.pop() if len(found) == 1 else None


def menopause_from_text(text: str) -> tuple[MenopauseStatus | None, str | None]:
    """Status from words, by meaning: (status, None), or (None, why not) when the text is negated, contradictory,
    about something else (a symptom, an age) or silent."""
    tab = _table()
    t = _norm(text)
    if not t:
        return None, None
    hits = phrase_hits(t, tab.status_phrases)
    if not hits:
        return None, None
    if any(re.search(rf"(?:^|\s){re.escape(w)}(?:\s|$)", t) for w in tab.not_a_status):
        return None, None  # about something else: a symptom, an age, a therapy, a cancer history
    if any(h.negated for h in hits):
        return None, f"{text[:60]!r} is negated: it says what the status is not, not what it is"
    statuses = {h.key for h in hits}
    if len(statuses) > 1:
        return None, f"{text[:60]!r} names more than one menopausal status"
    status = statuses.pop()
    return status, None  # type: ignore[return-value]


def menopause_status(concept: Any) -> tuple[MenopauseStatus | None, str | None]:
    """A CodeableConcept's status: codes first, then its words by meaning."""
    coded = menopause_from_code(concept)
    if coded is not None:
        return coded, None
    return menopause_from_text(" ; ".join(texts(concept)))


def finding_of(concept: Any) -> tuple[FindingName | None, bool]:
    """(finding, negated) of a CodeableConcept: code first, then whole phrases."""
    tab = _table()
    for system, code, _ in codings(concept):
        name = tab.finding_codes.get((system, code))
        if name is not None:
            return name, False
    words = " ; ".join(texts(concept))
    hits = phrase_hits(words, tab.finding_phrases)
    if not hits:
        return None, False
    first = hits[0]
    return first.key, first.negated  # type: ignore[return-value]


def finding_in_text(text: str, name: FindingName) -> bool:
    """Does free text (e.g. a metastasis description) state this finding, not negated?"""
    return any(h.key == name and not h.negated for h in phrase_hits(text, _table().finding_phrases))
