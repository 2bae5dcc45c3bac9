"""Endocrine resistance per the ESO-ESMO ABC consensus (ABC4, Cardoso et al., Ann Oncol 2018;29:1634-57)."""

from __future__ import annotations

from dataclasses import dataclass

from mbcnav.assess.config import AssessmentConfig
from mbcnav.assess.therapy import Course, Line
from mbcnav.dates import Interval, PartialDate, interval, months_to_days
from mbcnav.knowledge.drugs import catalogue

_SEVERITY = {"primary": 3, "secondary": 2, "sensitive": 1}


@dataclass(frozen=True, slots=True)
class Resistance:
    value: str  # primary | secondary | sensitive | not_applicable | unknown
    basis: tuple[str, ...]


def _endocrine(c: Course) -> bool:
    return catalogue().has_class(c.drug, "endocrine")


def _side(span: Interval, months: float, *, limit_inclusive_below: bool) -> str | None:
    """Whether an interval is surely below or surely at/above a time point; None when its date precision
    straddles it. `limit_inclusive_below` puts an interval of exactly the limit on the "below" side."""
    limit = months_to_days(months)
    if span.max_days < limit or (limit_inclusive_below and span.max_days == limit):
        return "below"
    if span.min_days > limit or (not limit_inclusive_below and span.min_days == limit):
        return "above"
    return None


def assess_resistance(
    hr_positive: bool | None,
    courses: list[Course],
    lines: list[Line],
    first_metastasis: PartialDate | None,
    config: AssessmentConfig,
    progressions: tuple[PartialDate, ...] = (),
) -> Resistance:
    """ABC4 definitions:
    - primary: relapse while on the first 2 years of adjuvant endocrine therapy (ET), or progression within the
      first 6 months of first-line ET for advanced disease, while on ET;
    - secondary: relapse while on adjuvant ET after the first 2 years, relapse within 12 months of completing
      adjuvant ET, or progression >=6 months after starting ET for advanced disease, while on ET;
    - sensitive (as used in ABC5-derived trials): relapse >12 months after completing adjuvant ET, or no prior ET.
    When several situations apply, the most resistant one is reported (resistance is acquired, not lost)."""
    if hr_positive is False:
        return Resistance("not_applicable", ("hormone-receptor negative",))
    if hr_positive is None:
        return Resistance("unknown", ("hormone-receptor status unknown",))
    findings: list[tuple[str, str]] = []
    unknown: list[str] = []
    adjuvant = [c for c in courses if c.setting in ("adjuvant", "neoadjuvant") and _endocrine(c)]
    if adjuvant:
        if first_metastasis is None:
            unknown.append("adjuvant endocrine therapy given, but the date of distant relapse is unknown")
        else:
            starts = [c.start for c in adjuvant if c.start is not None]
            if not starts:
                unknown.append("adjuvant endocrine therapy without a start date")
            else:
                et_start = min(starts, key=lambda d: d.earliest)
                ongoing = any(
                    c.exposure.ongoing or c.end is None or c.end.latest >= first_metastasis.earliest for c in adjuvant
                )
                ends = [c.end for c in adjuvant if c.end is not None]
                if ongoing:
                    side = _side(
                        interval(et_start, first_metastasis),
                        config.adjuvant_primary_resistance_months,
                        limit_inclusive_below=False,
                    )
                    if side == "below":
                        findings.append(
                            (
                                "primary",
                                f"relapse ({first_metastasis}) within the first 2 years of "
                                f"adjuvant endocrine therapy (started {et_start})",
                            )
                        )
                    elif side == "above":
                        findings.append(
                            (
                                "secondary",
                                f"relapse ({first_metastasis}) on adjuvant endocrine therapy, "
                                f"after its first 2 years (started {et_start})",
                            )
                        )
                    else:
                        unknown.append("date precision cannot tell relapse before/after 2 years of adjuvant ET")
                elif ends:
                    et_end = max(ends, key=lambda d: d.earliest)
                    side = _side(
                        interval(et_end, first_metastasis),
                        config.post_adjuvant_secondary_months,
                        limit_inclusive_below=True,
                    )
                    if side == "below":
                        findings.append(
                            (
                                "secondary",
                                f"relapse ({first_metastasis}) within 12 months of completing "
                                f"adjuvant endocrine therapy ({et_end})",
                            )
                        )
                    elif side == "above":
                        findings.append(
                            (
                                "sensitive",
                                f"relapse ({first_metastasis}) more than 12 months after "
                                f"completing adjuvant endocrine therapy ({et_end})",
                            )
                        )
                    else:
                        unknown.append("date precision cannot place relapse within/after 12 months of adjuvant ET")
    first_line = lines[0] if lines else None
    if (
        first_line is not None
        and any(_endocrine(c) for c in first_line.courses)
        and first_line.reason_stopped == "progression"
    ):
        # ABC4: time on first-line *endocrine* therapy, so from the first endocrine course of the line, not from the
        # line's start (chemotherapy + anti-HER2 first, endocrine maintenance added months later)
        line_et_start = _et_start(first_line)
        if line_et_start is None or first_line.end is None:
            unknown.append("progression on first-line endocrine therapy, but its dates are incomplete")
        else:
            cls = _first_line_class(line_et_start, first_line.end, config)
            if cls is None:
                unknown.append("date precision cannot tell progression before/after 6 months of 1st-line ET")
            else:
                findings.append(
                    (
                        cls,
                        f"progression {_WHEN[cls]} of first-line endocrine therapy "
                        f"({line_et_start} to {first_line.end})",
                    )
                )
    if first_line is not None and first_line.reason_stopped != "progression":
        # ABC4 counts progression on first-line ET, also when the line goes on (oligoprogression treated locally,
        # fresh8 q06: RECIST progression 14.5 months into letrozole + palbociclib, SBRT, the line continued)
        found = _progression_during(first_line, progressions, config)
        if found is not None:
            findings.append(found)
    if findings:
        worst = max(findings, key=lambda f: _SEVERITY[f[0]])
        return Resistance(worst[0], tuple(f[1] for f in findings) + tuple(unknown))
    if unknown:
        return Resistance("unknown", tuple(unknown))
    unplaced = sorted({c.drug for c in courses if _endocrine(c) and c.setting == "unknown"})
    if unplaced:
        return Resistance("unknown", (f"endocrine therapy ({', '.join(unplaced)}) whose setting or dates are unknown",))
    if not any(_endocrine(c) for c in courses):
        return Resistance("sensitive", ("no prior endocrine therapy (endocrine-naive)",))
    return Resistance(
        "sensitive",
        (
            "endocrine therapy given without relapse on or soon after it, or without "
            "documented progression on first-line endocrine therapy",
        ),
    )


_WHEN = {"primary": "within 6 months", "secondary": "after >=6 months"}


def _et_start(line: Line) -> PartialDate | None:
    """The start of the line's first endocrine course (ABC4 counts time on endocrine therapy)."""
    starts = [c.start for c in line.courses if _endocrine(c) and c.start is not None]
    return min(starts, key=lambda d: d.earliest) if starts else None


def _first_line_class(et_start: PartialDate, event: PartialDate, config: AssessmentConfig) -> str | None:
    """ABC4: progression within the first 6 months of first-line ET is primary resistance, later secondary; None
    when the dates cannot tell."""
    side = _side(interval(et_start, event), config.first_line_primary_resistance_months, limit_inclusive_below=False)
    return {"below": "primary", "above": "secondary"}.get(side or "")


def _progression_during(
    line: Line, progressions: tuple[PartialDate, ...], config: AssessmentConfig
) -> tuple[str, str] | None:
    """The first documented progression (disease status, including RECIST progression) while a first line holding
    endocrine therapy runs, classed by the time from its first endocrine course."""
    et_start = _et_start(line)
    if et_start is None:
        return None
    end = line.end
    during = sorted(
        (p for p in progressions if p.earliest > et_start.latest and (end is None or p.latest <= end.earliest)),
        key=lambda d: d.earliest,
    )
    cls = _first_line_class(et_start, during[0], config) if during else None
    if cls is None:
        return None
    went_on = "while the line went on" if line.ongoing else "before the line stopped"
    return (cls, f"progression ({during[0]}) {_WHEN[cls]} of first-line endocrine therapy ({et_start}), {went_on}")
