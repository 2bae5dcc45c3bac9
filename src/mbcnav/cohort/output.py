"""The cohort's output folder: written beside --out under a temporary name and renamed when complete (a run that
dies leaves no half-written output), the local engine's Parquet + CSV writers, and the one-page summary.html."""

from __future__ import annotations

import html
import io
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from mbcnav.cohort.core import TABLES, Row, Schema

PA_TYPES = {"str": "string", "int": "int64", "bool": "bool_", "float": "float64"}


@contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """A new folder beside `out` to write into; renamed to `out` (replacing it) when the block ends without an
    error, removed when it does not."""
    out = out.absolute()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def arrow_schema(schema: Schema) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    return pa.schema([pa.field(name, getattr(pa, PA_TYPES[kind])()) for name, kind in schema])


class TableWriter:
    """Rows of one table to `<name>.parquet` and `<name>.csv`, in batches (memory does not grow with the table)."""

    def __init__(self, folder: Path, name: str, batch: int = 20_000) -> None:
        import pyarrow.csv as pcsv  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self.name = name
        self.columns = [c for c, _ in TABLES[name]]
        self.schema = arrow_schema(TABLES[name])
        self.rows: list[Row] = []
        self.batch = batch
        self.count = 0
        self.parquet = pq.ParquetWriter(folder / f"{name}.parquet", self.schema, compression="zstd")
        self.csv_file = (folder / f"{name}.csv").open("wb")
        self.csv = pcsv.CSVWriter(self.csv_file, self.schema)

    def add(self, rows: list[Row]) -> None:
        self.rows += rows
        if len(self.rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if not self.rows:
            return
        cols = list(zip(*self.rows, strict=True))
        table = pa.Table.from_arrays(
            [pa.array(list(col), type=self.schema.field(i).type) for i, col in enumerate(cols)], schema=self.schema
        )
        self.parquet.write_table(table)
        self.csv.write_table(table)
        self.count += len(self.rows)
        self.rows = []

    def close(self) -> None:
        self.flush()
        self.parquet.close()
        self.csv.close()
        self.csv_file.close()


# ---- summary.html -------------------------------------------------------------------------------------------------
@dataclass
class RunInfo:
    engine: str
    export: str
    as_of: date
    files: int
    lines: int
    seconds: float
    trials: int


def _bar_svg(title: str, counts: list[tuple[str, int]], color: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not counts:
        return f"<p><em>{html.escape(title)}: none</em></p>"
    with plt.rc_context({"svg.hashsalt": "mbcnav-cohort", "svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(5.2, 0.32 * len(counts) + 0.9))
        labels = [c[0] for c in counts][::-1]
        values = [c[1] for c in counts][::-1]
        ax.barh(labels, values, color=color)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v}", va="center", fontsize=8)
        ax.set_title(title, fontsize=10, loc="left")
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_xlim(0, max(values) * 1.15 + 1)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]


def _section(tally: Counter[tuple[str, str]], section: str, order: list[str] | None = None) -> list[tuple[str, int]]:
    items = [(label, n) for (s, label), n in tally.items() if s == section and n > 0]
    if order is not None:
        rank = {k: i for i, k in enumerate(order)}
        return sorted(items, key=lambda x: (rank.get(x[0], len(rank)), x[0]))
    return sorted(items, key=lambda x: (-x[1], x[0]))


def summary_html(tally: Counter[tuple[str, str]], info: RunInfo, line_kinds: Counter[str]) -> str:
    """One page: the cohort in numbers and four plots (subtype, sites, line of therapy, gaps found)."""
    total = dict(_section(tally, "total"))
    problems = dict(_section(tally, "problem"))
    rows = [
        ("Patients in the export", total.get("patients", 0)),
        ("… read and assessed", total.get("readable", 0)),
        ("… whose record could not be used", total.get("unreadable", 0)),
        ("With breast cancer", total.get("breast cancer", 0)),
        ("With metastatic breast cancer", total.get("metastatic breast cancer", 0)),
        ("… with problem-list findings (gaps in the chart)", total.get("with chart findings", 0)),
        ("… with monitoring overdue", total.get("with overdue monitoring", 0)),
        ("… with trial candidates", total.get("with trial candidates", 0)),
        ("Resource lines read", info.lines),
        ("Malformed lines (problems table)", problems.get("malformed", 0)),
        ("Resources that refer to no patient (problems table)", problems.get("orphan", 0)),
        ("Patients without a Patient resource", problems.get("no_patient_resource", 0)),
        ("Shared resources (Medication, Practitioner...; not per patient)", line_kinds.get("shared", 0)),
    ]
    table = "\n".join(f"<tr><td>{html.escape(k)}</td><td class=n>{v:,}</td></tr>" for k, v in rows)
    lines_order = ["0", "1", "2", "3", "4", "5+"]
    plots = [
        _bar_svg("Metastatic breast cancer by subtype", _section(tally, "subtype"), "#4c72b0"),
        _bar_svg("Metastatic sites (a patient may have several)", _section(tally, "site"), "#55a868"),
        _bar_svg(
            "Lines of therapy in the metastatic setting",
            [(f"{k} line(s)", n) for k, n in _section(tally, "line", lines_order)],
            "#8172b2",
        ),
        _bar_svg("Gaps found", _section(tally, "gap"), "#c44e52"),
    ]
    trials = f"{info.trials} open studies" if info.trials else "not searched (no --trials-db with studies)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mbcnav cohort screening</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;color:#222}}
table{{border-collapse:collapse}}td{{padding:2px 10px;border-bottom:1px solid #eee}}td.n{{text-align:right}}
.plots{{display:grid;grid-template-columns:1fr 1fr;gap:8px}}.plots svg{{width:100%;height:auto}}
small{{color:#666}}</style></head><body>
<h1>Population screening</h1>
<p><small>Export {html.escape(info.export)} — {info.files} file(s), as of {info.as_of.isoformat()}, engine
{html.escape(info.engine)}, {info.seconds:.0f} s. Trials: {html.escape(trials)}. Decision support, not a decision:
each row of the tables points to a patient whose record should be looked at; the findings and their evidence are
those of <code>mbcnav assess / chart / plan / trials match</code> for that patient.</small></p>
<table>{table}</table>
<div class=plots>{"".join(f"<div>{p}</div>" for p in plots)}</div>
<p><small>Tables (Parquet and CSV): patients, chart_findings, monitoring_due, trial_candidates, problems.</small></p>
</body></html>
"""


__all__ = ["RunInfo", "TableWriter", "arrow_schema", "atomic_folder", "summary_html"]
