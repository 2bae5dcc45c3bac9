"""Features of the breast tumour itself ("Inflammatory breast cancer", "Metaplastic breast cancer") read from a
criterion and checked against the record's primary tumour: its T category and histology (histology.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mbcnav.terminology.codes import words_pattern
from mbcnav.trials.model import Constraint
from mbcnav.trials.tables import alternation, read_table

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView

TYPES: tuple[str, ...] = ("histology",)

# "... inflammatory breast cancer are eligible / is allowed": an allowance, not an exclusion
_ALLOWED = re.compile(r"[^.;]{0,40}?\b(?:are|is)\s+(?:eligible|allowed|permitted|acceptable)\b")


@dataclass(frozen=True, slots=True)
class _Feature:
    name: str
    label: str
    trigger: re.Pattern[str]
    t_category: tuple[str, ...]
    histology: re.Pattern[str] | None
    words: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class _Table:
    features: tuple[_Feature, ...]
    not_before: re.Pattern[str]


@cache
def _table() -> _Table:
    raw: Any = read_table("histology.yaml")
    feats = tuple(
        _Feature(
            name,
            str(f["label"]),
            re.compile(rf"(?<![\w-])(?:{alternation(f['triggers'], longest_first=True)})(?![\w])"),
            tuple(str(t).upper() for t in f.get("t_category", [])),
            words_pattern(f["histology"]) if f.get("histology") else None,
            words_pattern(f["words"]) if f.get("words") else None,
        )
        for name, f in raw["features"].items()
    )
    return _Table(feats, re.compile(raw["not_before"]))


def extract(text: str, offset: int, section: str, negated: bool, head: str = "") -> list[Constraint]:
    """The tumour features an exclusion names (see trials/kinds.py for the arguments)."""
    if section != "exclusion" or negated:
        return []
    t = _table()
    out: list[Constraint] = []
    for f in t.features:
        m = f.trigger.search(text)
        if m is None or t.not_before.search(text[max(0, m.start() - 20) : m.start()]):
            continue
        if _ALLOWED.match(text, m.end()):
            continue
        polarity = "excluded"
        span = (offset + m.start(), offset + m.end())
        out.append(Constraint("histology", polarity, {"feature": f.name}, span, f'{f.label}: "{m.group(0)}"'))
    return out


def check(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Does the patient's primary tumour have the feature (None: the record has neither its T category nor its
    histology)."""
    f = next((x for x in _table().features if x.name == c.params.get("feature")), None)
    rec = p.record
    if f is None or rec is None:
        return None, "tumour feature: not read from the record"
    texts = [x for pc in rec.primaries for x in (pc.histology or "", pc.description)]
    t_values = [x.value for x in rec.tnm if x.axis == "T"]
    if f.t_category:
        hit = [v for v in t_values if any(v.upper().lstrip("CPY").startswith(k) for k in f.t_category)]
        if hit:
            return True, f"{f.label}: T category {hit[0]}"
    if f.words is not None and any(f.words.search(x) for x in texts):
        return True, f"{f.label}: the primary's description says so"
    if f.histology is not None:
        recorded = [pc.histology for pc in rec.primaries if pc.histology]
        if any(f.histology.search(x) for x in texts):
            return True, f"{f.label}: histology {recorded[0] if recorded else 'as described'}"
        if recorded:
            return False, f"{f.label}: histology recorded as {recorded[0]}"
    if f.t_category and t_values:
        return False, f"{f.label}: T category {', '.join(dict.fromkeys(t_values))} (not {'/'.join(f.t_category)})"
    return None, f"{f.label}: neither T category nor histology recorded"
