"""The embedded engine: one machine, memory bounded whatever the size of the export.

Pass 1 reads every line of every file once and files it under its patient in an on-disk SQLite table (the
external sort: SQLite sorts and indexes on disk, its page cache is bounded); pass 2 reads the table in patient
order, one patient at a time, and screens each (in worker processes when --workers > 1, in batches, so nothing
waits in memory for long). Rows come out in patient order: the tables are written already sorted."""

from __future__ import annotations

import gzip
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from mbcnav.cohort.core import (
    PATIENT_TABLES,
    Medications,
    PatientResult,
    Row,
    Source,
    TrialList,
    classify_line,
    screen_patient,
)
from mbcnav.cohort.output import TableWriter

BATCH_PATIENTS = 256  # patients handed to the workers at a time


def export_files(folder: Path) -> list[Path]:
    """The NDJSON files of a Bulk Data export (`.ndjson`, `.ndjson.gz`), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".ndjson", ".ndjson.gz")))


def open_lines(path: Path) -> IO[str]:
    """A file's lines as text (UTF-8; a byte that is not UTF-8 becomes U+FFFD, as Spark reads it)."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return path.open("r", encoding="utf-8", errors="replace", newline="\n")


@dataclass
class RunCounts:
    """What a run saw: lines by kind, line-level problems, and the counts of the summary."""

    files: int = 0
    lines: int = 0
    line_kinds: Counter[str] = field(default_factory=Counter)
    tally: Counter[tuple[str, str]] = field(default_factory=Counter)
    rows: dict[str, int] = field(default_factory=dict)


# ---- workers ---------------------------------------------------------------------------------------------------------
_STATE: dict[str, Any] = {}


def _init(as_of: date, today: date, trials: TrialList | None, medications: Medications) -> None:
    _STATE.update(as_of=as_of, today=today, trials=trials, medications=medications)


def _screen(group: tuple[str, list[Source]]) -> PatientResult:
    pid, sources = group
    return screen_patient(
        pid,
        sources,
        as_of=_STATE["as_of"],
        today=_STATE["today"],
        trials=_STATE["trials"],
        medications=_STATE["medications"],
    )


# ---- the two passes --------------------------------------------------------------------------------------------------
def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    for pragma in (
        "journal_mode=OFF",
        "synchronous=OFF",
        "temp_store=FILE",
        "cache_size=-65536",  # 64 MiB page cache
        "locking_mode=EXCLUSIVE",
    ):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE res (key TEXT, file INTEGER, line INTEGER, body TEXT)")
    db.execute(
        "CREATE TABLE problems (file TEXT, line INTEGER, kind TEXT, patient_id TEXT, resource_type TEXT, message TEXT)"
    )
    return db


def _pass1(db: sqlite3.Connection, files: list[Path], counts: RunCounts, advance: Callable[[int], None]) -> Medications:
    medications: Medications = {}
    batch: list[tuple[str, int, int, str]] = []
    problems: list[Row] = []
    for fi, path in enumerate(files):
        with open_lines(path) as fh:
            for lineno, text in enumerate(fh, 1):
                advance(len(text))
                c = classify_line(text)
                counts.lines += c.kind != "blank"
                counts.line_kinds[c.kind] += 1
                if c.kind == "patient":
                    batch.append((c.key or "", fi, lineno, text))
                    if len(batch) >= 5000:
                        db.executemany("INSERT INTO res VALUES (?, ?, ?, ?)", batch)
                        batch = []
                elif c.kind == "shared" and c.key is not None:
                    medications.setdefault(c.key, (path.name, lineno, text))
                elif c.kind in ("malformed", "orphan"):
                    problems.append((path.name, lineno, c.kind, "", c.resource_type, c.message))
                    if len(problems) >= 5000:
                        db.executemany("INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?)", problems)
                        problems = []
    db.executemany("INSERT INTO res VALUES (?, ?, ?, ?)", batch)
    db.executemany("INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?)", problems)
    db.execute("CREATE INDEX res_key ON res (key, file, line)")
    db.commit()
    return medications


def _groups(db: sqlite3.Connection, files: list[Path]) -> Iterator[tuple[str, list[Source]]]:
    names = [p.name for p in files]
    current: str | None = None
    sources: list[Source] = []
    for key, fi, line, body in db.execute("SELECT key, file, line, body FROM res ORDER BY key, file, line"):
        if key != current:
            if current is not None:
                yield current, sources
            current, sources = key, []
        sources.append((names[fi], line, body))
    if current is not None:
        yield current, sources


def _batches(groups: Iterator[tuple[str, list[Source]]], size: int) -> Iterator[list[tuple[str, list[Source]]]]:
    batch: list[tuple[str, list[Source]]] = []
    for g in groups:
        batch.append(g)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=__import__("rich.console", fromlist=["Console"]).Console(stderr=True),
    )


def run_local(
    export: Path,
    out: Path,
    *,
    as_of: date,
    today: date,
    trials: TrialList | None = None,
    limit: int | None = None,
    workers: int = 1,
    progress: bool | None = None,
) -> RunCounts:
    """Screen every patient of the export at `export` and write the tables into the folder `out` (which exists)."""
    files = export_files(export)
    counts = RunCounts(files=len(files))
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress(show)
    db_path = out / ".cohort-work.sqlite"
    db = _connect(db_path)
    try:
        if bar is not None:
            bar.start()
        total = sum(p.stat().st_size for p in files)
        reading = bar.add_task("reading the export", total=total) if bar is not None else None

        def advance(n: int) -> None:
            if bar is not None and reading is not None:
                bar.advance(reading, n)

        medications = _pass1(db, files, counts, advance if bar is not None else (lambda n: None))
        n_patients = db.execute("SELECT COUNT(DISTINCT key) FROM res").fetchone()[0]
        if limit is not None:
            n_patients = min(n_patients, limit)
        screening = bar.add_task("screening patients", total=n_patients) if bar is not None else None
        writers = {name: TableWriter(out, name) for name in PATIENT_TABLES}
        groups = _groups(db, files)
        if limit is not None:
            groups = (g for i, g in zip(range(limit), groups, strict=False))
        pool = (
            ProcessPoolExecutor(workers, initializer=_init, initargs=(as_of, today, trials, medications))
            if workers > 1
            else None
        )
        _init(as_of, today, trials, medications)
        patient_problems: list[Row] = []
        try:
            for batch in _batches(groups, BATCH_PATIENTS):
                results = (
                    list(pool.map(_screen, batch, chunksize=max(1, len(batch) // (4 * workers))))
                    if pool is not None
                    else [_screen(g) for g in batch]
                )
                for r in results:
                    for name in PATIENT_TABLES:
                        writers[name].add(r.rows[name])
                    patient_problems += r.rows["problems"]
                    counts.tally += r.tally
                if bar is not None and screening is not None:
                    bar.advance(screening, len(batch))
                if len(patient_problems) >= 5000:
                    db.executemany("INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?)", patient_problems)
                    patient_problems = []
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        db.executemany("INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?)", patient_problems)
        for w in writers.values():
            w.close()
            counts.rows[w.name] = w.count
        problems = TableWriter(out, "problems")
        cur = db.execute("SELECT * FROM problems ORDER BY file, line, patient_id, kind, message")
        while chunk := cur.fetchmany(10_000):
            problems.add([tuple(r) for r in chunk])
        problems.close()
        counts.rows["problems"] = problems.count
        for (kind,) in db.execute("SELECT kind FROM problems WHERE line > 0"):
            counts.tally["problem", kind] += 1
    finally:
        if bar is not None:
            bar.stop()
        db.close()
        db_path.unlink(missing_ok=True)
    return counts


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


__all__ = ["RunCounts", "default_workers", "export_files", "open_lines", "run_local"]
