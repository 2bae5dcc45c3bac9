"""Benchmark: load all of ../shared/data/trials into a fresh SQLite trial store, then reload it (a no-op).

Prints seconds for reading alone, the first load, the reload and a search, and the peak resident memory.
Run: `python benchmarks/bench_trials_load.py [--path DIR] [--db URL]` (default: a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from mbcnav.trials.load import load_paths
from mbcnav.trials.records import Trial, iter_records
from mbcnav.trials.store import TrialStore

SHARED_TRIALS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "trials"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--path", type=Path, default=SHARED_TRIALS)
    ap.add_argument("--db", help="a store URL to load into instead of a fresh SQLite file (it should be empty)")
    args = ap.parse_args()
    if not args.path.is_dir():
        print(f"bench_trials_load: {args.path} is not here", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    n = sum(1 for _, r in iter_records(args.path) if isinstance(r, Trial))
    read_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'trials.db'}"
        with TrialStore(url) as store:
            t0 = time.perf_counter()
            first = load_paths(store, [args.path])
            load_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = load_paths(store, [args.path])
            reload_s = time.perf_counter() - t0
            studies = store.count()
            t0 = time.perf_counter()
            for q in ("metastatic breast cancer", "trastuzumab deruxtecan", "HER2-low", "brain metastases", "ESR1"):
                store.search(q, limit=20)
            search_ms = (time.perf_counter() - t0) / 5 * 1000
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"trials load benchmark — {args.path}")
    print(f"  records read (parse only):       {n} in {read_s:6.2f} s")
    print(
        f"  first load into a fresh store:   {load_s:6.2f} s  — {first.files} files, {first.records} records, "
        f"{first.inserted} inserted, {len(first.problems)} problems"
    )
    print(
        f"  reload (no-op):                  {reload_s:6.2f} s  — {again.inserted} inserted, {again.updated} updated, "
        f"{again.unchanged} unchanged"
    )
    print(f"  studies in the store:            {studies}")
    print(f"  full-text search (20 results):   {search_ms:6.1f} ms per query")
    print(f"  peak resident memory:            {rss_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
