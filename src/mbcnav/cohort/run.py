"""One screening run, whatever the engine: check the export, load the open studies once (criteria parsed once),
write into a temporary folder beside --out with the chosen engine, add summary.html and run.json, rename."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from mbcnav.cohort.core import TrialList
from mbcnav.cohort.local import RunCounts, default_workers, export_files
from mbcnav.cohort.output import RunInfo, atomic_folder, summary_html
from mbcnav.record.inputs import UnusableInput

SKIPPED_KINDS = ("malformed", "orphan", "unusable_record", "internal_error")


@dataclass
class RunResult:
    out: Path
    counts: RunCounts
    seconds: float
    trials: int

    @property
    def skipped(self) -> int:
        """Lines or records that were not screened (each is a row of the problems table)."""
        return sum(
            n for (section, kind), n in self.counts.tally.items() if section == "problem" and kind in SKIPPED_KINDS
        )


def load_trials(url: str | None) -> TrialList | None:
    """The open studies of the store at `url` with their parsed criteria (parsed once, cached in the store), or
    None without a URL; UnusableInput when the store is missing or unusable. A store without studies gives []."""
    if url is None:
        return None
    from sqlalchemy.exc import SQLAlchemyError

    from mbcnav.trials.match import OPEN_STATUSES
    from mbcnav.trials.matching_io import parsed_trials
    from mbcnav.trials.migrations import StoreError
    from mbcnav.trials.store import TrialStore, missing_store

    problem = missing_store(url)
    if problem:
        raise UnusableInput(problem)
    try:
        with TrialStore(url) as store:
            if store.count() == 0:
                return []
            return list(parsed_trials(store, status=list(OPEN_STATUSES), include_all=False))
    except (StoreError, SQLAlchemyError, OSError) as exc:
        raise UnusableInput(f"the trial store cannot be used ({type(exc).__name__})") from None


def screen_export(
    export: Path,
    out: Path,
    *,
    engine: str = "local",
    as_of: date | None = None,
    trials_db: str | None = None,
    limit: int | None = None,
    master: str | None = None,
    workers: int | None = None,
    partitions: int | None = None,
    progress: bool | None = None,
    spark: Any = None,
) -> RunResult:
    """Screen a Bulk Data export into the folder `out` (replaced as a whole when the run ends well)."""
    if not export.is_dir():
        raise UnusableInput(f"{export}: not a folder (a FHIR Bulk Data export: one NDJSON file per resource type)")
    files = export_files(export)
    if not files:
        raise UnusableInput(f"{export}: the folder holds no .ndjson or .ndjson.gz files")
    now = date.today()
    as_of = as_of or now
    today = max(now, as_of)
    trials = load_trials(trials_db)
    t0 = time.perf_counter()
    with atomic_folder(out) as tmp:
        if engine == "spark":
            from mbcnav.cohort.spark import run_spark

            counts = run_spark(
                export, tmp, as_of=as_of, today=today, trials=trials, limit=limit, master=master,
                partitions=partitions, spark=spark,
            )  # fmt: skip
        elif engine == "local":
            from mbcnav.cohort.local import run_local

            counts = run_local(
                export, tmp, as_of=as_of, today=today, trials=trials, limit=limit,
                workers=workers or default_workers(), progress=progress,
            )  # fmt: skip
        else:
            raise ValueError(f"unknown engine {engine!r}")
        seconds = time.perf_counter() - t0
        info = RunInfo(engine, str(export), as_of, counts.files, counts.lines, seconds, len(trials or []))
        (tmp / "summary.html").write_text(summary_html(counts.tally, info, counts.line_kinds), encoding="utf-8")
        run = {
            "engine": engine,
            "export": str(export),
            "as_of": as_of.isoformat(),
            "files": counts.files,
            "lines": counts.lines,
            "line_kinds": dict(sorted(counts.line_kinds.items())),
            "rows": counts.rows,
            "counts": {f"{s}: {k}": n for (s, k), n in sorted(counts.tally.items())},
            "trials_searched": len(trials or []),
            "seconds": round(seconds, 1),
        }
        (tmp / "run.json").write_text(json.dumps(run, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return RunResult(out, counts, seconds, len(trials or []))


__all__ = ["SKIPPED_KINDS", "RunResult", "load_trials", "screen_export"]
