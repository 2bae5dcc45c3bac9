"""Laboratory and LVEF Observations, read by LOINC with UCUM units and reference ranges (terminology/labs.yaml).

A value becomes a fact only when its analyte (by LOINC code), unit (UCUM, converted to the analyte's canonical unit)
and magnitude (inside the analyte's plausibility bounds) are all understood; anything else is an input issue.
Reference ranges come from the record (`Observation.referenceRange`); without one, a default published range cited in
labs.yaml is used and marked `assumed` with its source (by sex where the source splits: those are resolved in
assess/labs.py, which knows the patient); an analyte without a cited default keeps an unknown ULN, never guessed."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from mbcnav.dates import PartialDate
from mbcnav.record.model import LabResult, ReferenceRange, Source
from mbcnav.terminology.codes import codings, texts


@dataclass(frozen=True, slots=True)
class Analyte:
    key: str
    name: str
    loinc: dict[str, str]
    unit: str
    units: dict[str, float]
    plausible: tuple[float, float]
    uln: bool
    # Cited defaults (labs.yaml `default_range`), marked assumed: key "any", or "female" / "male" when the source
    # splits by sex. Empty: no citable default, the ULN stays unknown without a record range.
    default_ranges: tuple[tuple[str, ReferenceRange], ...] = ()
    postmenopausal_default: ReferenceRange | None = None  # FSH / estradiol (labs.yaml `postmenopausal_default`)

    def default_range(self, sex: str | None) -> ReferenceRange | None:
        """The cited default range for a patient of this sex (None: none cited, or sex-split and sex not known)."""
        ranges = dict(self.default_ranges)
        if "any" in ranges:
            return ranges["any"]
        return ranges.get(sex) if sex in ("female", "male") else None


@dataclass(frozen=True, slots=True)
class LabTable:
    analytes: dict[str, Analyte]
    by_loinc: dict[str, str]
    trend_relative_change: float
    corrected_calcium_source: str
    corrected_calcium_factor: float
    corrected_calcium_albumin: float


@cache
def lab_table() -> LabTable:
    raw: Any = yaml.safe_load(resources.files("mbcnav.terminology").joinpath("labs.yaml").read_text("utf-8"))
    analytes: dict[str, Analyte] = {}
    by_loinc: dict[str, str] = {}
    for key, spec in raw["analytes"].items():
        units = {str(k): float(v) for k, v in spec["units"].items()}
        a = Analyte(
            key,
            spec["name"],
            {str(k): str(v) for k, v in spec["loinc"].items()},
            spec["unit"],
            units,
            (float(spec["plausible"][0]), float(spec["plausible"][1])),
            bool(spec["uln"]),
            _cited_ranges(key, spec.get("default_range"), units),
            dict(_cited_ranges(key, spec.get("postmenopausal_default"), units)).get("any"),
        )
        analytes[key] = a
        for code in a.loinc:
            by_loinc[code] = key
    cc = raw["corrected_calcium_formula"]
    return LabTable(
        analytes,
        by_loinc,
        float(raw["trend_relative_change"]),
        str(cc["source"]),
        float(cc["factor"]),
        float(cc["normal_albumin_g_dl"]),
    )


def _cited_ranges(key: str, spec: Any, units: dict[str, float]) -> tuple[tuple[str, ReferenceRange], ...]:
    """labs.yaml default range(s) -> (("any" / "female" / "male", range in the canonical unit, assumed), ...).
    A default without a source (or in a unit the analyte does not know) is a defect of labs.yaml, not a guess."""
    if spec is None:
        return ()
    if not isinstance(spec, dict) or not spec.get("source") or spec.get("unit") not in units:
        raise ValueError(f"labs.yaml {key}: a default range needs a source and a known unit")
    factor = units[str(spec["unit"])]
    source = str(spec["source"])

    def scaled(v: Any) -> float | None:
        return None if v is None else round(float(v) * factor, 6)

    parts = {s: spec[s] for s in ("female", "male") if isinstance(spec.get(s), dict)}
    if not parts:
        parts = {"any": spec}
    return tuple(
        (sex, ReferenceRange(scaled(p.get("low")), scaled(p.get("high")), source, True)) for sex, p in parts.items()
    )


def analyte_of(code: Any) -> Analyte | None:
    """The analyte an Observation.code names, by LOINC code only (display text never decides)."""
    tab = lab_table()
    for system, c, _ in codings(code):
        if system == "loinc" and c in tab.by_loinc:
            return tab.analytes[tab.by_loinc[c]]
    return None


def _unit_key(q: dict[str, Any]) -> str | None:
    for k in ("code", "unit"):
        v = q.get(k)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def _factor(analyte: Analyte, unit: str | None) -> float | None:
    if unit is None:
        return None
    if unit in analyte.units:
        return analyte.units[unit]
    low = {k.lower(): v for k, v in analyte.units.items()}
    return low.get(unit.lower())


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _range_quantity(q: Any, analyte: Analyte, default_unit: str | None) -> tuple[float | None, str | None]:
    """A referenceRange low/high in the canonical unit; (None, problem) when it cannot be converted."""
    if not isinstance(q, dict):
        return None, None
    v = _number(q.get("value"))
    if v is None:
        return None, "reference range bound is not a number"
    unit = _unit_key(q) or default_unit
    f = _factor(analyte, unit)
    if f is None:
        return None, f"reference range unit {unit!r} not understood for {analyte.name}"
    return v * f, None


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


_POSTMENOPAUSAL = re.compile(r"post-?\s?menopaus", re.I)


def _ranges(
    res: dict[str, Any], analyte: Analyte, unit: str | None
) -> tuple[ReferenceRange | None, ReferenceRange | None, list[str]]:
    """(normal range, postmenopausal range, problems) from Observation.referenceRange, in canonical units."""
    normal: ReferenceRange | None = None
    post: ReferenceRange | None = None
    problems: list[str] = []
    raw = res.get("referenceRange")
    for rr in raw if isinstance(raw, list) else []:
        if not isinstance(rr, dict):
            continue
        low, p1 = _range_quantity(rr.get("low"), analyte, unit)
        high, p2 = _range_quantity(rr.get("high"), analyte, unit)
        problems += [p for p in (p1, p2) if p]
        if low is None and high is None:
            continue
        words = " ".join(
            ([rr["text"]] if isinstance(rr.get("text"), str) else [])
            + [t for a in _as_list(rr.get("appliesTo")) for t in texts(a)]
            + texts(rr.get("type"))
        )
        if _POSTMENOPAUSAL.search(words):
            post = post or ReferenceRange(low, high, "record", False)
            continue
        if re.search(r"premenopaus|follicular|luteal|ovulat|pregnan|therapeutic|treatment", words, re.I):
            continue
        normal = normal or ReferenceRange(low, high, "record", False)
    return normal, post, problems


def parse_lab(
    res: dict[str, Any], analyte: Analyte, when: PartialDate | None, source: Source
) -> tuple[LabResult | None, list[str]]:
    """One lab Observation -> (LabResult or None, problems). Problems with a None result mean the value was
    dropped (an error); with a result they are warnings (e.g. a reference range that could not be read)."""
    q = res.get("valueQuantity")
    if not isinstance(q, dict):
        if any(k.startswith("value") for k in res):
            return None, [f"{analyte.name} value is not a Quantity; ignored"]
        return None, [f"{analyte.name} Observation has no value; ignored"]
    if q.get("comparator") in ("<", "<=", ">", ">="):
        return None, [f"{analyte.name} value is censored ({q['comparator']}{q.get('value')}); not used as a number"]
    v = _number(q.get("value"))
    if v is None:
        return None, [f"{analyte.name} value {q.get('value')!r} is not a number; ignored"]
    unit = _unit_key(q)
    factor = _factor(analyte, unit)
    if factor is None:
        return None, [
            f"{analyte.name} unit {unit!r} is not understood (expected one of {', '.join(sorted(analyte.units))}); "
            "ignored"
        ]
    value = v * factor
    lo, hi = analyte.plausible
    if value < 0 or not lo <= value <= hi:
        return None, [
            f"{analyte.name} {v:g} {unit} is impossible or implausible (outside {lo:g}-{hi:g} {analyte.unit}); ignored"
        ]
    normal, post, problems = _ranges(res, analyte, unit)
    if normal is None:
        # a cited default marked assumed (sex-split ones are resolved by assess/labs.py), or None: ULN unknown
        normal = analyte.default_range(None)
    if post is None:
        post = analyte.postmenopausal_default  # FSH / estradiol: cited default, marked assumed
    loinc = next((c for s, c, _ in codings(res.get("code")) if s == "loinc" and c in analyte.loinc), None)
    return (
        LabResult(
            analyte.key,
            loinc,
            round(value, 4),
            analyte.unit,
            when,
            normal,
            source,
            v,
            unit or analyte.unit,
            post,
        ),
        problems,
    )
