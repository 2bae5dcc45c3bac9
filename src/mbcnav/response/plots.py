"""Spider, swimmer and waterfall plots (matplotlib; PNG and SVG; readable in black-and-white print)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mbcnav.response.engine import ResponseReport

# Black-and-white safe: lines differ by dash and marker, bars by hatch; greys only.
_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 1)), "P")]
_HATCH = {"CR": "", "PR": "///", "SD": "...", "PD": "xx", "NE": "\\\\"}
_GREY = {"CR": "0.15", "PR": "0.35", "SD": "0.6", "PD": "0.85", "NE": "1.0"}


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{stem}.{ext}"
        fig.savefig(p, dpi=150, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        paths.append(p)
    plt.close(fig)
    return paths


def spider(report: ResponseReport, out_dir: Path, stem: str = "spider") -> list[Path]:
    """% change of the target-lesion sum from each line's baseline over time, one trace per line of therapy, with
    the RECIST reference lines (-30% PR, +20% PD)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = 0
    for i, line in enumerate(report.lines):
        if line.baseline_date is None or line.baseline_sum is None:
            continue
        xs = [0.0]
        ys = [0.0]
        for t in line.timepoints:
            if t.change_from_baseline_pct is not None:
                xs.append((t.date - line.baseline_date).days / 7)
                ys.append(t.change_from_baseline_pct)
            if t.overall == "PD":
                break  # the trace ends at progression
        style, marker = _STYLES[i % len(_STYLES)]
        label = f"line {line.line}: {', '.join(line.drugs) or 'therapy'} — {line.best_overall_detail}"
        ax.plot(xs, ys, linestyle=style, marker=marker, color="black", fillstyle="none", label=label)
        pd = [(x, y) for x, y, t in zip(xs[1:], ys[1:], line.timepoints, strict=False) if t.overall == "PD"]
        if pd:
            ax.plot([pd[0][0]], [pd[0][1]], marker="X", markersize=10, color="black", linestyle="none")
        drawn += 1
    ax.axhline(20, color="0.4", linestyle="--", linewidth=0.8)
    ax.axhline(-30, color="0.4", linestyle="--", linewidth=0.8)
    ax.axhline(0, color="0.7", linewidth=0.6)
    ax.text(ax.get_xlim()[1], 20, " +20% (PD)", va="center", fontsize=8)
    ax.text(ax.get_xlim()[1], -30, " −30% (PR)", va="center", fontsize=8)
    ax.set_xlabel("weeks from the line's baseline scan")
    ax.set_ylabel("change in sum of target diameters (%)")
    ax.set_title(f"Spider plot — patient {report.patient_id or '?'} (RECIST 1.1; X = progression)")
    if drawn:
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no line with a RECIST baseline", transform=ax.transAxes, ha="center")
    return _save(fig, out_dir, stem)


def swimmer(report: ResponseReport, out_dir: Path, stem: str = "swimmer", today: date | None = None) -> list[Path]:
    """Lines of therapy as bars in time, with first response (triangle), progression (X) and ongoing (arrow)."""
    fig, ax = plt.subplots(figsize=(7, 0.7 * max(2, len(report.lines)) + 1.2))
    starts = [line.start for line in report.lines if line.start]
    origin = min(starts) if starts else date.today()

    def months(d: date) -> float:
        return (d - origin).days / 30.44

    def hollow(x: float, y: int, marker: str, size: int) -> None:
        """A white-filled marker with a black edge: visible on dark and light bars."""
        ax.plot(x, y, marker=marker, markersize=size, markerfacecolor="white", markeredgecolor="black")

    end_default = today or date.today()
    for row, line in enumerate(report.lines):
        if line.start is None:
            continue
        nxt = report.lines[row + 1].start if row + 1 < len(report.lines) else None
        last = line.timepoints[-1].date if line.timepoints else line.start
        end = nxt or line.progression_date or max(last, end_default)
        x0 = months(line.start)
        width = max((end - line.start).days / 30.44, 0.2)
        ax.barh(
            row,
            width,
            left=x0,
            height=0.5,
            color=_GREY.get(line.best_overall_response, "1.0"),
            edgecolor="black",
            hatch=_HATCH.get(line.best_overall_response, ""),
        )
        ax.text(x0, row - 0.3, f"{', '.join(line.drugs)} — best {line.best_overall_detail}", fontsize=8, va="bottom")
        if line.response_start:
            hollow(months(line.response_start), row, "^", 10)
        if line.progression_date:
            hollow(months(line.progression_date), row, "X", 11)
        elif nxt is None:
            ax.annotate(
                "",
                xy=(x0 + width + 0.8, row),
                xytext=(x0 + width, row),
                arrowprops={"arrowstyle": "->", "color": "black"},
            )
    ax.set_yticks(range(len(report.lines)), [f"line {line.line}" for line in report.lines])
    ax.set_ylim(len(report.lines) - 0.5, -0.9)  # first line on top, room for its label
    ax.set_xlabel(f"months since first metastatic line ({origin.isoformat()})")
    ax.set_title(f"Swimmer plot — patient {report.patient_id or '?'} (▲ response, X progression, → ongoing)")
    return _save(fig, out_dir, stem)


def waterfall(reports: Sequence[ResponseReport], out_dir: Path, stem: str = "waterfall") -> list[Path]:
    """Best % change of the target sum for each patient (first line with a RECIST baseline), sorted; hatch = best
    overall response."""
    rows = []
    for rep in reports:
        for line in rep.lines:
            best = line.best_change_pct()
            if best is not None:
                rows.append((rep.patient_id or "?", best, line.best_overall_response))
                break
    rows.sort(key=lambda r: -r[1])
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(rows) + 2), 4))
    for i, (_, value, bor) in enumerate(rows):
        ax.bar(i, value, color=_GREY.get(bor, "1.0"), edgecolor="black", hatch=_HATCH.get(bor, ""))
    ax.axhline(20, color="0.4", linestyle="--", linewidth=0.8)
    ax.axhline(-30, color="0.4", linestyle="--", linewidth=0.8)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=90, fontsize=7)
    ax.set_ylabel("best change in sum of target diameters (%)")
    ax.set_title(f"Waterfall plot — {len(rows)} patients with a RECIST baseline")
    handles = [Rectangle((0, 0), 1, 1, facecolor=_GREY[k], edgecolor="black", hatch=_HATCH[k]) for k in _GREY]
    ax.legend(handles, list(_GREY), fontsize=8, title="best response", loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, out_dir, stem)
