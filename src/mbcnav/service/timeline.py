"""The disease timeline as one picture: an inline SVG built from the assessment and response JSON documents.

Pure: `timeline_svg(assessment, response)` reads only the two documents (docs/assess-json.md, docs/response.md)
and returns the SVG markup (every text escaped); `timeline_events` gives the same events as rows, for the text table
shown with the picture (and for anyone who cannot see it). The primary diagnosis date is not a key of the assessment
contract: the caller passes it (`diagnosis=`), else it is read from `presentation_basis` ("… diagnosis (2015-06-03)").

Layout: a date axis at the bottom; rows for the primary diagnosis, early (neo)adjuvant treatment, the first
metastasis, one row per metastasis record (`site_details`), one per line of therapy (a bar from start to end, or to
the as-of date while it goes on, labelled with its drugs and best response, with RECIST progression marked). When the
years before the first metastasis would squeeze the metastatic years into a sliver, they are drawn compressed (the
axis shows a break)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

from mbcnav.dates import DateError, PartialDate

WIDTH = 960
LEFT = 150  # the row-label column
RIGHT = 28
TOP = 30
ROW = 30
LINE_ROW = 44
AXIS = 44
CHAR_PX = 6.6  # average width of a 12 px sans-serif character (to keep labels inside the picture)

INK = "#1a1a1a"
MUTED = "#4a4a4a"
GRID = "#d9d9d9"
DIAGNOSIS = "#5b2a86"
METASTASIS = "#a34700"
LINE = "#1f5f99"
EARLY = "#5f6b7a"
PROGRESSION = "#b3121a"

_EARLY_SETTINGS = ("neoadjuvant", "adjuvant")
_DIAGNOSIS_IN_BASIS = re.compile(r"diagnosis \((\d{4}(?:-\d{2}(?:-\d{2})?)?)\)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class TimelineEvent:
    """One row of the timeline's text table: when, until when, what, and the details."""

    date: str | None  # as the record gave it (partial dates keep their precision); None when not recorded
    end: str | None
    kind: str  # diagnosis | early_therapy | first_metastasis | metastasis | line | progression | as_of
    event: str
    details: str


def _day(text: object) -> date | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return PartialDate.parse(text).earliest
    except DateError:
        return None


def _str(value: object) -> str:
    return "" if value is None else str(value)


def diagnosis_from(assessment: Mapping[str, Any]) -> str | None:
    """The primary diagnosis date as `presentation_basis` states it, when it does."""
    m = _DIAGNOSIS_IN_BASIS.search(_str(assessment.get("presentation_basis")))
    return m.group(1) if m else None


def _label(value: object) -> str:
    return _str(value).replace("_", " ")


def _drugs(drugs: object) -> str:
    return " + ".join(str(d) for d in drugs) if isinstance(drugs, list) and drugs else "therapy (drugs not recorded)"


def _response_lines(response: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    out: dict[int, Mapping[str, Any]] = {}
    for r in response.get("lines") or []:
        if isinstance(r, Mapping) and isinstance(r.get("line"), int):
            out[r["line"]] = r
    return out


def _early_courses(assessment: Mapping[str, Any]) -> list[tuple[str, str | None, list[str], str]]:
    """(Neo)adjuvant drug courses grouped by their dates: (start, end, drugs, setting)."""
    groups: dict[tuple[str, str | None, str], list[str]] = {}
    for t in assessment.get("therapies") or []:
        if not isinstance(t, Mapping) or t.get("setting") not in _EARLY_SETTINGS or not _day(t.get("start")):
            continue
        key = (str(t["start"]), t.get("end") if isinstance(t.get("end"), str) else None, str(t["setting"]))
        groups.setdefault(key, []).append(str(t.get("drug")))
    return [(s, e, drugs, setting) for (s, e, setting), drugs in sorted(groups.items(), key=lambda kv: kv[0][0])]


def timeline_events(
    assessment: Mapping[str, Any], response: Mapping[str, Any], *, diagnosis: str | None = None
) -> list[TimelineEvent]:
    """Every event of the picture, in date order (undated ones last)."""
    events: list[TimelineEvent] = []
    diagnosis = diagnosis or diagnosis_from(assessment)
    stage = assessment.get("stage") or {}
    if diagnosis:
        initial = stage.get("initial_group") or (stage.get("group") if stage.get("group") != "IV" else None)
        events.append(
            TimelineEvent(
                diagnosis,
                None,
                "diagnosis",
                "Primary breast cancer diagnosed",
                f"stage {initial} at diagnosis" if initial and initial != "unknown" else "",
            )
        )
    for start, end, drugs, setting in _early_courses(assessment):
        events.append(TimelineEvent(start, end, "early_therapy", f"{setting.capitalize()} treatment", ", ".join(drugs)))
    first = assessment.get("first_metastasis_date")
    if isinstance(first, str) and first:
        sites = ", ".join(_label(s) for s in assessment.get("sites") or [])
        presentation = _label(assessment.get("presentation"))
        events.append(
            TimelineEvent(first, None, "first_metastasis", "First distant metastasis",
                          "; ".join(x for x in (presentation, f"active sites: {sites}" if sites else "") if x))
        )  # fmt: skip
    for s in assessment.get("site_details") or []:
        if not isinstance(s, Mapping):
            continue
        lesions = s.get("lesions")
        extra = [f"{lesions} lesion{'s' if lesions != 1 else ''}" if isinstance(lesions, int) else "",
                 f"status {s.get('status')}" if s.get("status") else ""]  # fmt: skip
        details = "; ".join(x for x in [_str(s.get("detail")), *extra] if x)
        when = s.get("date") if isinstance(s.get("date"), str) else None
        events.append(TimelineEvent(when, None, "metastasis", f"Metastasis: {_label(s.get('site'))}", details))
    rlines = _response_lines(response)
    for line in assessment.get("lines") or []:
        if not isinstance(line, Mapping):
            continue
        n = line.get("number")
        r = rlines.get(n) if isinstance(n, int) else None
        parts = []
        if r is not None and r.get("best_overall_response"):
            parts.append(f"best response {r.get('best_overall_response_detail') or r['best_overall_response']}")
        if line.get("ongoing"):
            parts.append("ongoing")
        elif line.get("reason_stopped"):
            parts.append(f"stopped: {_label(line['reason_stopped'])}")
        line_end = line.get("end") if isinstance(line.get("end"), str) else None
        line_start = line.get("start") if isinstance(line.get("start"), str) else None
        events.append(
            TimelineEvent(line_start, line_end, "line", f"Line {n}: {_drugs(line.get('drugs'))}", "; ".join(parts))
        )
        if r is not None and isinstance(r.get("progression_date"), str):
            events.append(
                TimelineEvent(r["progression_date"], None, "progression", f"Progression on line {n} (RECIST 1.1)",
                              "first time point assessed as progressive disease")
            )  # fmt: skip
    if isinstance(assessment.get("as_of"), str):
        events.append(TimelineEvent(assessment["as_of"], None, "as_of", "As of", "the date the record is read for"))
    order = {"diagnosis": 0, "early_therapy": 1, "first_metastasis": 2, "metastasis": 3, "line": 4, "progression": 5}
    return sorted(
        events,
        key=lambda e: (_day(e.date) is None, _day(e.date) or date.min, order.get(e.kind, 9), e.event),
    )


# ---- the picture ------------------------------------------------------------------------------------------------
class _Scale:
    """Dates to x: linear, or with the years before `knot` compressed into the first `share` of the width."""

    def __init__(self, start: date, end: date, x0: float, x1: float, knot: date | None, share: float = 0.2) -> None:
        self.start, self.end, self.x0, self.x1 = start, end, x0, x1
        self.knot = knot
        self.xk = x0 + share * (x1 - x0) if knot else x0

    def __call__(self, d: date) -> float:
        d = min(max(d, self.start), self.end)
        if self.knot is None:
            return self.x0 + (d - self.start).days / max(1, (self.end - self.start).days) * (self.x1 - self.x0)
        if d <= self.knot:
            return self.x0 + (d - self.start).days / max(1, (self.knot - self.start).days) * (self.xk - self.x0)
        return self.xk + (d - self.knot).days / max(1, (self.end - self.knot).days) * (self.x1 - self.xk)

    def segments(self) -> list[tuple[date, date]]:
        if self.knot is None:
            return [(self.start, self.end)]
        return [(self.start, self.knot), (self.knot, self.end)]


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _ticks(scale: _Scale) -> list[tuple[float, str]]:
    """Axis ticks per segment: months (the year on January) when there is room, else years."""
    out: list[tuple[float, str]] = []
    for a, b in scale.segments():
        per_month = (scale(b) - scale(a)) / max(1.0, (b - a).days / 30.44)
        step = next((s for s in (1, 3, 6, 12, 24, 60, 120) if per_month * s >= (60 if s < 12 else 40)), 240)
        ticks: list[tuple[date, str]] = []
        if step < 12:
            t = date(a.year, 1, 1)
            while t <= b:
                if t >= a:
                    ticks.append((t, str(t.year) if t.month == 1 else _MONTHS[t.month - 1]))
                t = _add_months(t, step)
            if ticks and ticks[0][0].month != 1:  # the first tick names its year
                ticks[0] = (ticks[0][0], f"{ticks[0][1]} {ticks[0][0].year}")
        else:
            ticks = [(date(y, 1, 1), str(y)) for y in range(a.year, b.year + 1) if y % (step // 12) == 0]
            ticks = [(t, label) for t, label in ticks if a <= t <= b]
        for t, label in ticks:
            x = scale(t)
            if not out or x - out[-1][0] >= 36:
                out.append((x, label))
    return out


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, fill: str = INK,
          weight: str = "normal") -> str:  # fmt: skip
    bold = ' font-weight="bold"' if weight != "normal" else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"{bold}>'
        f"{escape(text)}</text>"
    )


def _fit_label(x: float, text: str, lo: float, hi: float, size: int = 12) -> tuple[float, str, str]:
    """Where a label starting at x goes so that it stays between lo and hi: (x, anchor, text)."""
    per = CHAR_PX * size / 12
    room = hi - lo
    if len(text) * per > room:
        keep = max(4, int(room / per) - 1)
        text = text[:keep] + "…"
    width = len(text) * per
    if x + width <= hi:
        return x, "start", text
    return max(lo + width, min(hi, x)), "end", text


def _diamond(x: float, y: float, r: float, fill: str) -> str:
    return (
        f'<path d="M{x:.1f} {y - r:.1f} L{x + r:.1f} {y:.1f} L{x:.1f} {y + r:.1f} L{x - r:.1f} {y:.1f} Z" '
        f'fill="{fill}"/>'
    )


def _triangle(x: float, y: float, r: float, fill: str) -> str:
    low = y + r * 0.8
    return f'<path d="M{x:.1f} {y - r:.1f} L{x + r:.1f} {low:.1f} L{x - r:.1f} {low:.1f} Z" fill="{fill}"/>'


def _cross(x: float, y: float, r: float, stroke: str) -> str:
    return (
        f'<path d="M{x - r:.1f} {y - r:.1f} L{x + r:.1f} {y + r:.1f} '
        f'M{x - r:.1f} {y + r:.1f} L{x + r:.1f} {y - r:.1f}" '
        f'stroke="{stroke}" stroke-width="3" stroke-linecap="round"/>'
    )


def _describe(events: Sequence[TimelineEvent], compressed: bool) -> str:
    parts = []
    for e in events:
        if e.kind == "as_of":
            continue
        when = e.date or "date not recorded"
        span = f"{when} to {e.end}" if e.end else (f"from {when}" if e.kind in ("line", "early_therapy") else when)
        parts.append(f"{e.event}, {span}" + (f" ({e.details})" if e.details else ""))
    text = "; ".join(parts) + "." if parts else "No dated events in the record."
    if compressed:
        text += " The years before the first metastasis are drawn compressed."
    return text


def timeline_svg(
    assessment: Mapping[str, Any],
    response: Mapping[str, Any],
    *,
    diagnosis: str | None = None,
    id_prefix: str = "timeline",
) -> str:
    """The disease timeline as an accessible inline SVG (role="img", <title>, <desc>)."""
    events = timeline_events(assessment, response, diagnosis=diagnosis)
    as_of = _day(assessment.get("as_of")) or max((d for e in events if (d := _day(e.date))), default=date.today())
    dated = [d for e in events for d in (_day(e.date), _day(e.end)) if d is not None]
    start = min([*dated, as_of])
    end = max(as_of, *(d for d in dated if d <= as_of)) if dated else as_of
    if (end - start).days < 180:  # a short history still gets a readable axis
        start = end - timedelta(days=180)
    first_met = _day(assessment.get("first_metastasis_date"))
    line_starts = [_day(x.get("start")) for x in assessment.get("lines") or [] if isinstance(x, Mapping)]
    pivot = first_met or min((d for d in line_starts if d), default=None)
    knot = None
    if pivot is not None:
        candidate = pivot - timedelta(days=180)
        if (candidate - start).days > 730 and (candidate - start).days > 0.45 * (end - start).days:
            knot = candidate
    pad = timedelta(days=max(20, (end - start).days // 60))
    x0, x1 = LEFT + 10, WIDTH - RIGHT
    scale = _Scale(start - pad, end + pad // 2, x0, x1, knot)

    rows: list[tuple[str, float, Callable[[float], list[str]]]] = []  # (label, height, draw(y_mid))
    used: set[str] = set()  # what was drawn: the legend explains only that

    def diag_row(y: float) -> list[str]:
        out = []
        for e in events:
            if e.kind == "diagnosis" and (d := _day(e.date)):
                x = scale(d)
                out.append(_diamond(x, y, 7, DIAGNOSIS))
                used.add("diagnosis")
                lx, anchor, text = _fit_label(x + 12, f"{e.date}" + (f" · {e.details}" if e.details else ""), x0, x1)
                out.append(_text(lx, y + 4, text, anchor=anchor))
        return out

    if any(e.kind == "diagnosis" for e in events):
        rows.append(("Primary diagnosis", ROW, diag_row))

    early = [e for e in events if e.kind == "early_therapy"]

    def early_row(y: float) -> list[str]:
        out = []
        for i, e in enumerate(early):
            a = _day(e.date)
            if a is None:
                continue
            b = _day(e.end) or a
            xa, xb = scale(a), max(scale(b), scale(a) + 3)
            out.append(f'<rect x="{xa:.1f}" y="{y - 5:.1f}" width="{xb - xa:.1f}" height="10" fill="{EARLY}" rx="2"/>')
            used.add("early")
            if i == len(early) - 1 or len(early) == 1:
                label = "; ".join(x.details for x in early)
                lx, anchor, text = _fit_label(xb + 6, label, x0, x1, 11)
                out.append(_text(lx, y + 4, text, anchor=anchor, size=11, fill=MUTED))
        return out

    if early:
        rows.append(("Early treatment", ROW, early_row))

    def first_row(y: float) -> list[str]:
        out = []
        for e in events:
            if e.kind == "first_metastasis" and (d := _day(e.date)):
                x = scale(d)
                out.append(_triangle(x, y, 8, METASTASIS))
                used.add("first")
                lx, anchor, text = _fit_label(x + 12, f"{e.date} · {e.details}" if e.details else e.date or "", x0, x1)
                out.append(_text(lx, y + 4, text, anchor=anchor))
        return out

    if any(e.kind == "first_metastasis" for e in events):
        rows.append(("First metastasis", ROW, first_row))

    for s in assessment.get("site_details") or []:
        if not isinstance(s, Mapping):
            continue

        def site_row(y: float, s: Mapping[str, Any] = s) -> list[str]:
            out = []
            d = _day(s.get("date"))
            lesions = s.get("lesions")
            count = f" · {lesions} lesion{'s' if lesions != 1 else ''}" if isinstance(lesions, int) else ""
            status = _str(s.get("status"))
            if d is None:
                out.append(_text(x0, y + 4, f"date not recorded{count} · {status}", fill=MUTED))
                return out
            x = scale(d)
            if status in ("active", "unknown"):
                dash = ' stroke-dasharray="4 3"' if status == "unknown" else ""
                out.append(
                    f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{scale(as_of):.1f}" y2="{y:.1f}" stroke="{METASTASIS}" '
                    f'stroke-width="2" stroke-opacity="0.55"{dash}/>'
                )
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5.5" fill="{METASTASIS}"/>')
            used.add("site")
            lx, anchor, text = _fit_label(x + 10, f"{s.get('date')}{count} · {status}", x0, x1, 11)
            out.append(_text(lx, y - 6, text, anchor=anchor, size=11, fill=MUTED))
            return out

        rows.append((_label(s.get("site")).capitalize() or "Metastasis", ROW, site_row))

    rlines = _response_lines(response)
    for line in assessment.get("lines") or []:
        if not isinstance(line, Mapping):
            continue

        def line_row(y: float, line: Mapping[str, Any] = line) -> list[str]:
            out = []
            a = _day(line.get("start"))
            n = line.get("number")
            r = rlines.get(n) if isinstance(n, int) else None
            best = (r.get("best_overall_response_detail") or r.get("best_overall_response")) if r else None
            label = _drugs(line.get("drugs")) + (f" · best response {best}" if best else "")
            if a is None:
                out.append(_text(x0, y + 4, f"{label} · start not recorded", fill=MUTED))
                return out
            ongoing = bool(line.get("ongoing")) or not line.get("end")
            b = as_of if ongoing else (_day(line.get("end")) or as_of)
            xa, xb = scale(a), max(scale(b), scale(a) + 4)
            out.append(f'<rect x="{xa:.1f}" y="{y:.1f}" width="{xb - xa:.1f}" height="14" fill="{LINE}" rx="3"/>')
            used.add("line")
            if ongoing:
                used.add("ongoing")
                out.append(
                    f'<path d="M{xb:.1f} {y - 3:.1f} L{xb + 9:.1f} {y + 7:.1f} L{xb:.1f} {y + 17:.1f} Z" '
                    f'fill="{LINE}"/>'
                )
            if r is not None:
                for tp in r.get("timepoints") or []:
                    if isinstance(tp, Mapping) and (td := _day(tp.get("date"))):
                        used.add("scan")
                        out.append(
                            f'<circle cx="{scale(td):.1f}" cy="{y + 7:.1f}" r="2.5" fill="#ffffff" '
                            f'stroke="{INK}" stroke-width="1"/>'
                        )
            pd = _day(r.get("progression_date")) if r else None
            if pd is not None:
                out.append(_cross(scale(pd), y + 7, 6, PROGRESSION))
                used.add("pd")
            elif line.get("reason_stopped") == "progression" and not ongoing:
                used.add("stopped")
                out.append(
                    f'<circle cx="{xb:.1f}" cy="{y + 7:.1f}" r="6" fill="#ffffff" stroke="{PROGRESSION}" '
                    'stroke-width="2.5"/>'
                )
            lx, anchor, text = _fit_label(xa, label, x0, x1)
            out.append(_text(lx, y - 5, text, anchor=anchor))
            return out

        rows.append((f"Line {line.get('number')}", LINE_ROW, line_row))

    axis_y = TOP + sum(h for _, h, _ in rows) + 6
    shading: list[str] = []  # under the grid
    drawn: list[str] = []
    y = float(TOP)
    for i, (label, h, draw) in enumerate(rows):
        if i % 2 == 1:
            shading.append(f'<rect x="0" y="{y:.1f}" width="{WIDTH}" height="{h}" fill="#f4f6f8"/>')
        mid = y + h / 2 + (4 if h == LINE_ROW else 0)
        drawn.append(_text(12, mid + 4, label, weight="bold"))
        drawn.extend(draw(mid - (7 if h == LINE_ROW else 0)))
        y += h
    # the legend: only what the picture shows
    items: list[tuple[str, str, str]] = [
        ("diagnosis", _diamond(0, 0, 6, DIAGNOSIS), "primary diagnosis"),
        ("early", f'<rect x="-9" y="-4" width="18" height="8" fill="{EARLY}" rx="2"/>', "early treatment"),
        ("first", _triangle(0, 0, 7, METASTASIS), "first metastasis"),
        ("site", f'<circle cx="0" cy="0" r="5" fill="{METASTASIS}"/>', "metastasis found"),
        ("line", f'<rect x="-9" y="-6" width="18" height="12" fill="{LINE}" rx="2"/>', "line of therapy"),
        ("ongoing", f'<path d="M-4 -8 L6 0 L-4 8 Z" fill="{LINE}"/>', "ongoing"),
        ("scan", f'<circle cx="0" cy="0" r="2.5" fill="#ffffff" stroke="{INK}"/>', "scan assessment"),
        ("pd", _cross(0, 0, 5, PROGRESSION), "progression (RECIST)"),
        ("stopped", f'<circle cx="0" cy="0" r="5" fill="#ffffff" stroke="{PROGRESSION}" stroke-width="2.5"/>',
         "stopped for progression"),
    ]  # fmt: skip
    legend: list[str] = []
    lx, ly = 12.0, axis_y + AXIS + 4
    for key, glyph, text in items:
        if key not in used:
            continue
        step = 23 + len(text) * CHAR_PX * 11 / 12 + 10
        if lx + step > WIDTH:
            lx, ly = 12.0, ly + 20
        legend.append(f'<g transform="translate({lx + 9:.1f} {ly - 4:.1f})">{glyph}</g>')
        legend.append(_text(lx + 23, ly, text, size=11, fill=MUTED))
        lx += step
    height = int(ly + 14)
    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    body: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-labelledby="{title_id} {desc_id}" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">',
        f'<title id="{title_id}">Disease timeline</title>',
        f'<desc id="{desc_id}">{escape(_describe(events, knot is not None))}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        *shading,
    ]
    for x, label in _ticks(scale):
        body.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{axis_y:.1f}" stroke="{GRID}"/>')
        body.append(_text(x, axis_y + 18, label, anchor="middle", size=11, fill=MUTED))
    body.append(f'<line x1="{x0}" y1="{axis_y:.1f}" x2="{x1}" y2="{axis_y:.1f}" stroke="{INK}"/>')
    if knot is not None:
        xk = scale(knot)
        body.append(
            f'<rect x="{xk - 5:.1f}" y="{axis_y - 8:.1f}" width="10" height="16" fill="#ffffff"/>'
            f'<path d="M{xk - 7:.1f} {axis_y + 6:.1f} L{xk - 1:.1f} {axis_y - 6:.1f} M{xk + 1:.1f} {axis_y + 6:.1f} '
            f'L{xk + 7:.1f} {axis_y - 6:.1f}" stroke="{INK}" stroke-width="1.5"/>'
        )
        body.append(_text((x0 + xk) / 2, axis_y + 32, "(compressed)", anchor="middle", size=10, fill=MUTED))
    xa = scale(as_of)
    body.append(
        f'<line x1="{xa:.1f}" y1="{TOP - 14}" x2="{xa:.1f}" y2="{axis_y:.1f}" stroke="{MUTED}" stroke-dasharray="5 4"/>'
    )
    body.append(_text(min(xa, x1), TOP - 18, f"as of {as_of.isoformat()}", anchor="end", size=11, fill=MUTED))
    body.extend(drawn)
    body.extend(legend)
    body.append("</svg>")
    return "\n".join(body)


__all__ = ["TimelineEvent", "diagnosis_from", "timeline_events", "timeline_svg"]
