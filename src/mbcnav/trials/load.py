"""Load record files into the trial store, one transaction per file, a bad record reported and skipped.

A file is written in one transaction; when that transaction fails (a record the database refuses, a concurrent
writer), it is retried, then each record of the file is written on its own, so that at most the failing records
are lost, each reported with its location — never the whole file, never silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from mbcnav.trials.migrations import StoreError
from mbcnav.trials.records import RecordProblem, Trial, iter_file, source_files
from mbcnav.trials.store import StudyOutcome, TrialStore, UpsertCounts, net_outcome, precedence

FILE_TRIES = 3  # tries of a file's transaction before its records are written one by one


@dataclass(slots=True)
class LoadSummary:
    """What a load did. Study counts are per study (NCT id), net over the whole load; `records` counts records."""

    files: int = 0
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RecordProblem] = field(default_factory=list)

    @property
    def studies(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def duplicates(self) -> int:
        """Records of a study that another record of this load stands for (one row per study)."""
        return self.records - self.studies

    @property
    def skipped(self) -> int:
        """Records (or files) dropped: not read, or not stored. Anything above 0 makes `trials load` exit 1."""
        return sum(1 for p in self.problems if p.severity == "error")


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]


def store_batch(
    store: TrialStore, batch: list[tuple[str, Trial]], name: str
) -> tuple[UpsertCounts, list[tuple[str, Trial]], list[RecordProblem]]:
    """Write one file's (or page's) records: in one transaction (tried FILE_TRIES times), else one by one.

    Returns the counts (per study), the records stored, and a problem for each record that could not be stored.
    """
    last = ""
    for _ in range(FILE_TRIES):
        try:
            return store.upsert(t for _, t in batch), batch, []
        except (SQLAlchemyError, StoreError) as exc:
            last = _reason(exc)
    stored: list[tuple[str, Trial]] = []
    problems: list[RecordProblem] = []
    merged: dict[str, StudyOutcome] = {}
    for location, t in batch:
        try:
            counts = store.upsert([t])
        except (SQLAlchemyError, StoreError) as exc:
            problems.append(RecordProblem(location, f"{t.nct_id}: not stored ({_reason(exc)})"))
            continue
        stored.append((location, t))
        for nct, outcome in counts.by_nct.items():
            merged[nct] = net_outcome(merged.get(nct), outcome)
    if problems:
        problems.insert(
            0,
            RecordProblem(
                name,
                f"the file could not be stored in one transaction ({last}); its records were stored one by one",
                "warning",
            ),
        )
    return UpsertCounts(by_nct=merged), stored, problems


@dataclass(slots=True)
class _Seen:
    key: tuple[int, str]
    version: str
    location: str


def collect_files(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[RecordProblem]]:
    files: list[tuple[Path, str]] = []
    problems: list[RecordProblem] = []
    for path in paths:
        f, p = source_files(path)
        files += f
        problems += p
    return files, problems


def load_files(
    store: TrialStore,
    files: list[tuple[Path, str]],
    problems: list[RecordProblem] | None = None,
    advance: Callable[[str], None] | None = None,
) -> LoadSummary:
    """Each file in one transaction: a file is stored whole or not at all.

    Two records of one study in this load with the same format and last-update date but different content would
    replace each other on every reload; the first is kept and the second reported, so reloading stays a no-op.
    """
    summary = LoadSummary(files=len(files), problems=list(problems or []))
    seen: dict[str, _Seen] = {}
    net: dict[str, StudyOutcome] = {}
    for file, name in files:
        batch: list[tuple[str, Trial]] = []
        for location, item in iter_file(file, name):
            if isinstance(item, RecordProblem):
                summary.problems.append(item)
                continue
            prior = seen.get(item.nct_id)
            if prior and prior.key == precedence(item) and prior.version != item.version:
                summary.problems.append(
                    RecordProblem(
                        location,
                        f"{item.nct_id}: differs from the record at {prior.location} (same format and last-update "
                        "date); that one is kept",
                    )
                )
                continue
            batch.append((location, item))
        counts, batch, failed = store_batch(store, batch, name)
        summary.problems += failed
        for nct, outcome in counts.by_nct.items():
            net[nct] = net_outcome(net.get(nct), outcome)
        summary.records += len(batch)
        for location, t in batch:
            prior = seen.get(t.nct_id)
            if prior is None or precedence(t) > prior.key:
                seen[t.nct_id] = _Seen(precedence(t), t.version, location)
        if advance is not None:
            advance(name)
    for outcome in net.values():
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    return summary


def load_paths(store: TrialStore, paths: Iterable[Path]) -> LoadSummary:
    files, problems = collect_files(paths)
    return load_files(store, files, problems)
