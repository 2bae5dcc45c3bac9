"""Cohorts, parts and arms of multi-cohort studies: which cohort a criterion belongs to, and whether the patient
fits one cohort (with the study's common criteria and any "one of the following" alternatives).

A label is a short, stable name built from a cohort noun and its identifier ("Cohort 2A", "Part 1", "Arm B",
"Phase 1b"), normalised so that "Cohort A:", "cohort a only", "(Cohort A)" and "Cohort A participants" agree.
Label grammar (what the matcher relies on):
- alternatives are joined by ", ": "Cohorts A and B: ..." -> "Cohort A, Cohort B" (`split_labels` splits them);
- nested levels are joined by a space, outer first: "Additional Inclusion Criteria For Sub-Study 1 Part A:"
  -> "Sub-study 1 Part A" (`levels` splits them); a criterion labelled with an outer level only ("Sub-study 1")
  applies to every cohort nested in it (`applies`).
The nouns and scope cues are data: cohorts.yaml.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from mbcnav.trials.tables import read_table

_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10}
_MAX_LABELS = 12  # more alternatives than this is a list of tumour types, not a cohort scope
_CONNECTOR = re.compile(r"\s*(?:,\s*(?:and|or)?|and/or|and|or|&|/|\+)\s*")
_RANGE = re.compile(r"\s*(?:-|–|to|through)\s*")
_BULLET = re.compile(r"^\s*(?:[*•\-–]|\d{1,2}[.)]|[a-z][.)]|\([a-z0-9]{1,3}\))?\s*")
_BARE_COHORT = re.compile(r"(?i)\b(?:respective|following|each|these|the)\s+cohorts?\b")
_LEVEL = re.compile(r"[A-Z][\w-]* [0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class _Table:
    mentions: tuple[re.Pattern[str], ...]  # one per noun, so that "Part 1 and Part 2" lists one noun only
    nouns: tuple[tuple[re.Pattern[str], str], ...]
    named: tuple[tuple[re.Pattern[str], str], ...]
    word_ids: dict[str, str]
    scope_before: re.Pattern[str]
    scope_after: re.Pattern[str]
    not_after: re.Pattern[str]
    not_before: re.Pattern[str]
    not_text: re.Pattern[str]
    negated: re.Pattern[str]
    later_entry: re.Pattern[str]
    unnamed_arm: re.Pattern[str]
    id_pattern: re.Pattern[str]
    section_label: re.Pattern[str]


@cache
def _table() -> _Table:
    data: dict[str, Any] = read_table("cohorts.yaml")
    nouns = tuple((re.compile(rf"(?:{n['pattern']})"), str(n["label"])) for n in data["nouns"])
    words = "|".join(data["word_ids"])
    # a single letter is an identifier only where a label can end ("Cohort A:", "cohort a only", "Arms A or B"),
    # so that "Part of" / "arm a catheter" / "group a participant" are not read as cohorts
    letter = (
        r"[a-z](?=\s*(?:$|[:),;.\]/&+]|-\s|\s(?:only|and|or|participants|patients|subjects|pts|cohorts?|arms?|"
        r"parts?|\()\b))"
    )
    # "1f-1" (a sub-cohort, NCT05919264), "2A", "A1", "III", "Ib", "two", "A"
    one_id = (
        rf"(?:\d{{1,2}}[a-z]-\d{{1,2}}|\d{{1,2}}[a-z]?\d?|[a-z]\d{{1,2}}[a-z]?|[ivx]{{2,4}}[ab]?|[ivx][ab]|"
        rf"(?:{words})|{letter})\b"
    )
    mentions = tuple(
        re.compile(
            rf"\b(?P<noun>{n['pattern']})(?:[\s-]*(?=\d)|\s+)"
            rf"(?P<ids>{one_id}(?:(?:{_CONNECTOR.pattern}|{_RANGE.pattern})(?:(?:{n['pattern']})\s*)?{one_id})*)"
        )
        for n in data["nouns"]
    )
    return _Table(
        mentions=mentions,
        nouns=nouns,
        named=tuple((re.compile(rf"\b(?:{n['pattern']})\b"), str(n["label"])) for n in data["named"]),
        word_ids={str(k): str(v) for k, v in data["word_ids"].items()},
        scope_before=re.compile(data["scope_before"]),
        scope_after=re.compile(data["scope_after"]),
        not_after=re.compile(data["not_after"]),
        not_before=re.compile(data["not_before"]),
        not_text=re.compile(data["not_text"]),
        negated=re.compile(data["negated_before"]),
        later_entry=re.compile(data["later_entry"]),
        unnamed_arm=re.compile(data["unnamed_arm"]),
        id_pattern=re.compile(rf"\b{one_id}"),
        section_label=re.compile(data["section_label"]),
    )


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int
    end: int
    noun: str
    labels: tuple[str, ...]


def _norm_id(raw: str, noun: str, word_ids: dict[str, str]) -> str:
    """ "2a" -> "2A", "ib" -> "1b" (phases), "iii" -> "3", "two" -> "2"; a lone "I" stays a letter except for a phase
    (Parts A..K include a "Part I", NCT05579366)."""
    raw = word_ids.get(raw, raw)
    if noun == "Phase":
        m = re.fullmatch(r"([ivx]{1,4}|\d{1,2})([ab]?)", raw)
        if m and (m.group(1).isdigit() or m.group(1) in _ROMAN):
            num = m.group(1) if m.group(1).isdigit() else str(_ROMAN[m.group(1)])
            return num + m.group(2)
        return raw.upper()
    if len(raw) >= 2 and raw in _ROMAN:
        return str(_ROMAN[raw])
    return raw.upper()


def _noun_label(noun: str, table: _Table) -> str:
    for pattern, label in table.nouns:
        if pattern.fullmatch(noun):
            return label
    return noun.capitalize()


def _expand_ids(ids: str, noun: str, table: _Table) -> list[str]:
    """The identifiers of "1, 2, 5 and 7" / "A or B" / "1-4" / "1 and Part 2", ranges expanded."""
    found = [(m.start(), m.end(), m.group(0)) for m in table.id_pattern.finditer(ids)]
    out: list[str] = []
    for k, (s, _e, raw) in enumerate(found):
        norm = _norm_id(raw, noun, table.word_ids)
        if k > 0 and _RANGE.fullmatch(ids[found[k - 1][1] : s]) and out and out[-1].isdigit() and norm.isdigit():
            lo, hi = int(out[-1]), int(norm)
            if lo < hi <= lo + _MAX_LABELS:
                out.extend(str(n) for n in range(lo + 1, hi + 1))
                continue
        out.append(norm)
    return out


def _mentions(text: str, header: bool, table: _Table) -> list[_Mention]:
    out: list[_Mention] = []
    found = sorted((m for pattern in table.mentions for m in pattern.finditer(text)), key=lambda m: m.start())
    for m in found:
        before, after = text[: m.start()], text[m.end() :]
        if table.not_after.match(after) or table.not_before.search(before) or table.negated.search(before):
            continue
        if not (header or table.scope_before.search(before) or table.scope_after.match(after)):
            continue
        noun = _noun_label(m.group("noun"), table)
        labels = tuple(f"{noun} {i}" for i in dict.fromkeys(_expand_ids(m.group("ids"), noun, table)))
        out.append(_Mention(m.start(), m.end(), noun, labels))
    return out


def _levels_of(text: str) -> list[list[str]] | None:
    """The cohort levels a text names (outer first, alternatives within a level), [] when it names none, None when
    it names a scope the matcher cannot represent (a later entry step, a drug-named arm inside a cohort)."""
    table = _table()
    t = _BULLET.sub("", text.replace("\\", "")).strip().lower()
    if not t or table.not_text.search(t):
        return []
    header = t.rstrip(" *_)]").endswith(":") and len(t) < 200
    mentions = _mentions(t, header, table)
    if not mentions:
        named = [
            label
            for pattern, label in table.named
            if any(
                header or table.scope_before.search(t[: nm.start()]) or table.scope_after.match(t[nm.end() :])
                for nm in pattern.finditer(t)
                if not table.negated.search(t[: nm.start()])
            )
        ]
        return [named] if named else []
    if table.later_entry.search(t) or table.unnamed_arm.search(t):
        return None
    levels: list[list[str]] = []
    prev: _Mention | None = None
    for mention in mentions:
        nouns_here = {label.split(" ")[0] for label in levels[-1]} if levels else set()
        joined = prev is not None and _CONNECTOR.fullmatch(t[prev.end : mention.start]) is not None
        if levels and (joined or mention.noun in nouns_here):
            levels[-1].extend(label for label in mention.labels if label not in levels[-1])
        else:
            levels.append(list(mention.labels))
        prev = mention
    return levels


@cache
def _named_labels() -> frozenset[str]:
    return frozenset(label for _, label in _table().named)


def cohort_of(own_text: str, ancestors: list[str], heading: str) -> str | None:
    """The cohort a cohort-specific criterion applies to ("Cohort A", "Part 2", "Arm B"), read from its own text,
    its parent bullets (nearest first) and the last section heading before it; None when no cohort is named (the
    criterion then keeps no constraints: a requirement of an unnamed subgroup is not required of everyone)."""
    sources = [own_text, *ancestors]
    if heading and all(_BULLET.sub("", heading).strip() != _BULLET.sub("", a).strip() for a in ancestors):
        sources.append(heading)
    levels: list[list[str]] = []
    for k, text in enumerate(sources):
        found = _levels_of(text)
        if k == 0 and found and any(_BARE_COHORT.search(a) for a in ancestors):
            # "Cohort B3 (Breast Cancer)" under "... disease for the respective cohort:" (NCT05123482) defines one
            # cohort of a list whose outer level (the sub-study) the parent does not name: not placeable
            return None
        if found is None:
            if not levels:
                return None
            continue
        if not found:
            continue
        have = {label.split(" ")[0] for level in levels for label in level}
        new = {label.split(" ")[0] for level in found for label in level}
        if not levels:
            levels = found
        elif not have & new and all(len(level) == 1 and level[0] not in _named_labels() for level in found):
            levels = found + levels  # an outer level named further up ("Sub-Study 1:" above "Cohort B1")
    if not levels:
        return None
    combos = list(itertools.islice(itertools.product(*levels), _MAX_LABELS + 1))
    if len(combos) > _MAX_LABELS:
        return None
    return ", ".join(" ".join(combo) for combo in combos)


def is_section_label(text: str) -> bool:
    """A cohort's heading that is only its label ("Additional Criteria for the Palbociclib Combination (Arm D):"):
    cohorts.yaml `section_label`, on the whole (stripped, lower-cased) text."""
    return bool(_table().section_label.search(" ".join(text.lower().split())))


def split_labels(label: str | None) -> tuple[str, ...]:
    """The cohorts a label names: "Cohort A, Cohort B" -> ("Cohort A", "Cohort B"); None -> ()."""
    if not label:
        return ()
    return tuple(part.strip() for part in label.split(", ") if part.strip())


def levels(label: str) -> tuple[str, ...]:
    """The nested levels of one cohort label: "Sub-study 1 Part A" -> ("Sub-study 1", "Part A")."""
    return tuple(m.group(0) for m in _LEVEL.finditer(label))


def applies(label: str | None, chosen: str) -> bool:
    """Whether a criterion labelled `label` applies to a patient placed in cohort `chosen` (one label of
    `split_labels`): common criteria (None) always; otherwise when one of its alternatives names only levels of
    `chosen` ("Sub-study 1" applies to "Sub-study 1 Part A")."""
    if label is None:
        return True
    mine = set(levels(chosen)) or {chosen}
    return any(set(levels(alt) or (alt,)) <= mine for alt in split_labels(label))


def candidates(labels: set[str] | list[str]) -> list[str]:
    """The cohorts a patient can be placed in: the labels not strictly nested above another ("Sub-study 1" is not a
    cohort of its own when "Sub-study 1 Part A" exists), sorted."""
    all_labels = set(labels)
    sets = {label: set(levels(label)) or {label} for label in all_labels}
    return sorted(a for a in all_labels if not any(sets[a] < sets[b] for b in all_labels if b != a))
