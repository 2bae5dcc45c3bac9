"""Laboratory summaries: per analyte the latest value on or before the as-of date, its reference range, × ULN, flag
and trend against the previous dated value (terminology/labs.yaml, record/labs.py). Pure.

The range is the record's own; without one, the cited default of labs.yaml for the patient's sex, marked assumed
(visible in `describe()` and in the JSON `reference_range.assumed`); without either, the ULN is unknown."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from mbcnav.dates import PartialDate
from mbcnav.record.labs import lab_table
from mbcnav.record.model import LabResult, Record, ReferenceRange, Source

Trend = Literal["rising", "falling", "stable", "single"]


def display_number(x: float) -> str:
    """A lab number for people: at least 3 significant digits and every digit before the point ("0.877", "11.9",
    "224", "1230"), so a value converted from SI units (15 µmol/L bilirubin = 0.8771930 mg/dL) is not shown with
    seven decimals. The JSON keeps the full value."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    before = math.floor(math.log10(abs(x))) + 1
    return f"{x:.{max(3, before)}g}"


Flag = Literal["high", "low", "normal"]


@dataclass(frozen=True, slots=True)
class LabSummary:
    analyte: str
    name: str
    loinc: str | None
    value: float
    unit: str
    date: PartialDate | None
    reference_range: ReferenceRange | None
    times_uln: float | None
    flag: Flag | None
    trend: Trend
    previous: LabResult | None
    source: str  # "Observation/id", or "computed from Observation/a and Observation/b"
    # the value as the laboratory reported it, when in another unit than the canonical one ("9 umol/L" for a
    # bilirubin of 0.526 mg/dL): shown first, so that a clinician can match it against the report (fresh10-12)
    reported_value: float | None = None
    reported_unit: str | None = None

    def reported_range(self) -> tuple[float | None, float | None] | None:
        """The reference range in the reported unit (the canonical range scaled back; units differ by a factor)."""
        rr = self.reference_range
        if rr is None or self.reported_value is None or self.reported_unit is None or not self.value:
            return None
        factor = self.reported_value / self.value
        return tuple(None if b is None else float(f"{b * factor:.4g}") for b in (rr.low, rr.high))  # type: ignore[return-value]

    def describe(self) -> str:
        """'bilirubin 4.1 mg/dL = 3.4 × ULN (2026-11-10, rising) — Observation/x'."""
        value = f"{display_number(self.value)} {self.unit}"
        if self.reported_value is not None and self.reported_unit is not None:  # as on the laboratory's report
            value = f"{display_number(self.reported_value)} {self.reported_unit} ({value})"
        parts = [f"{self.name} {value}"]
        rr = self.reference_range
        if self.times_uln is not None:
            parts.append(f"= {self.times_uln:g} × ULN")
        elif rr is None:
            parts.append("(no reference range in the record: ULN unknown)")
        if rr is not None and rr.assumed:
            bounds = "–".join(display_number(b) for b in (rr.low, rr.high) if b is not None)
            kind = "ULN" if rr.low is None else "range"
            parts.append(
                f"[{kind} {bounds} {self.unit} assumed: no reference range in the record; cited default: {rr.source}]"
            )
        when = ", ".join(x for x in (str(self.date) if self.date else "undated", self.trend) if x != "single")
        return " ".join(parts) + f" ({when}) — {self.source}"

    def as_json(self) -> dict[str, Any]:
        rr = self.reference_range
        return {
            "analyte": self.analyte,
            "loinc": self.loinc,
            "value": self.value,
            "unit": self.unit,
            "date": str(self.date) if self.date else None,
            "reference_range": (
                {"low": rr.low, "high": rr.high, "source": rr.source, "assumed": rr.assumed} if rr else None
            ),
            "times_uln": self.times_uln,
            "flag": self.flag,
            "trend": self.trend,
            "previous": (
                {"value": self.previous.value, "date": str(self.previous.date) if self.previous.date else None}
                if self.previous
                else None
            ),
            "source": self.source,
            # 1.1, additive: the value, unit and range as the laboratory reported them (null when the record used
            # the canonical unit)
            "reported": (
                {
                    "value": self.reported_value,
                    "unit": self.reported_unit,
                    "reference_range": (
                        dict(zip(("low", "high"), reported, strict=True))
                        if (reported := self.reported_range()) is not None
                        else None
                    ),
                }
                if self.reported_unit is not None
                else None
            ),
        }


def _flag(value: float, rr: ReferenceRange | None) -> Flag | None:
    if rr is None:
        return None
    if rr.high is not None and value > rr.high:
        return "high"
    if rr.low is not None and value < rr.low:
        return "low"
    return "normal"


def _trend(latest: LabResult, previous: LabResult | None) -> Trend:
    if previous is None:
        return "single"
    threshold = lab_table().trend_relative_change
    base = abs(previous.value)
    delta = latest.value - previous.value
    if base == 0:
        return "stable" if delta == 0 else ("rising" if delta > 0 else "falling")
    if abs(delta) / base <= threshold:
        return "stable"
    return "rising" if delta > 0 else "falling"


def _series(rows: list[LabResult], as_of: date) -> list[LabResult]:
    """Dated values on or before as_of, oldest first; undated values only when nothing is dated."""
    dated = [r for r in rows if r.date is not None and r.date.earliest <= as_of]
    if dated:
        return sorted(dated, key=lambda r: r.date.earliest if r.date else date.min)
    return [r for r in rows if r.date is None][-1:]


def _corrected_calcium(record: Record, as_of: date) -> list[LabResult]:
    """Albumin-corrected calcium from a calcium and an albumin of the same day (Payne 1973, labs.yaml)."""
    tab = lab_table()
    albumin = {
        r.date.isoformat(): r for r in record.labs if r.analyte == "albumin" and r.date and r.date.precision == "day"
    }
    out: list[LabResult] = []
    for ca in record.labs:
        if ca.analyte != "calcium" or ca.date is None or ca.date.earliest > as_of:
            continue
        alb = albumin.get(ca.date.isoformat())
        if alb is None or ca.date.precision != "day":
            continue
        value = round(ca.value + tab.corrected_calcium_factor * (tab.corrected_calcium_albumin - alb.value), 2)
        src = Source(f"computed from {ca.source.resource} and {alb.source.resource}", ca.source.location)
        out.append(
            LabResult(
                "corrected_calcium",
                None,
                value,
                "mg/dL",
                ca.date,
                ca.reference_range,
                src,
                value,
                "mg/dL",
            )
        )
    return out


def summarize_labs(record: Record, as_of: date) -> tuple[LabSummary, ...]:
    """One summary per analyte present in the record, in the order of terminology/labs.yaml."""
    tab = lab_table()
    recorded_cc = [r for r in record.labs if r.analyte == "corrected_calcium"]
    computed = [] if recorded_cc else _corrected_calcium(record, as_of)
    rows = list(record.labs) + computed
    out: list[LabSummary] = []
    for key, analyte in tab.analytes.items():
        series = _series([r for r in rows if r.analyte == key], as_of)
        if not series:
            continue
        latest = series[-1]
        previous = series[-2] if len(series) > 1 else None
        rr = latest.reference_range or analyte.default_range(record.patient.sex)
        uln = (
            round(latest.value / rr.high, 2)
            if analyte.uln and rr is not None and rr.high is not None and rr.high > 0
            else None
        )
        name = analyte.name
        if latest.source.resource.startswith("computed"):
            name = f"{analyte.name} ({tab.corrected_calcium_source})"
        out.append(
            LabSummary(
                key,
                name,
                latest.loinc,
                latest.value,
                latest.unit,
                latest.date,
                rr,
                uln,
                _flag(latest.value, rr),
                _trend(latest, previous),
                previous,
                latest.source.resource,
                *_reported(latest),
            )
        )
    return tuple(out)


def _reported(r: LabResult) -> tuple[float | None, str | None]:
    """The reported value and unit, when the record used another unit than the canonical one."""
    unit = (r.reported_unit or "").strip()
    if not unit or unit == r.unit or r.source.resource.startswith("computed"):
        return None, None
    return r.reported_value, unit


def latest_lab(labs: tuple[LabSummary, ...], analyte: str) -> LabSummary | None:
    return next((x for x in labs if x.analyte == analyte), None)
