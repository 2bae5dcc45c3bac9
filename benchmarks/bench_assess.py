"""Benchmark: read + assess every bundled example many times; prints ms/patient (median, p95) and peak memory.

Run: `make bench` (or `python benchmarks/bench_assess.py --rounds 50`). Timing never gates a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from datetime import date
from pathlib import Path

from mbcnav.assess import assess
from mbcnav.record import read_path

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 26)


def _one(path: Path) -> float:
    t0 = time.perf_counter()
    assess(read_path(path, today=TODAY), as_of=TODAY).to_json()
    return (time.perf_counter() - t0) * 1000


def _stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):6.2f} ms  p95 {p95:6.2f} ms  (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    fhir = sorted((ROOT / "examples" / "fhir").glob("*.json"))
    cases = sorted((ROOT / "examples" / "cases").glob("[0-9]*.yaml"))
    for p in fhir + cases:  # warm caches (catalogue, schemas, model classes)
        _one(p)
    samples: dict[Path, list[float]] = {p: [] for p in fhir + cases}
    for _ in range(args.rounds):
        for p in fhir + cases:
            samples[p].append(_one(p))
    print(f"mbcnav assess benchmark — {len(fhir)} FHIR bundles + {len(cases)} case files, {args.rounds} rounds")
    print(f"  FHIR bundles (read + validate + assess):  {_stats([s for p in fhir for s in samples[p]])}")
    print(f"  case files (YAML -> FHIR -> assess):       {_stats([s for p in cases for s in samples[p]])}")
    sizes = {p: len(json.loads(p.read_text())["entry"]) for p in fhir}
    print(f"  bundle sizes: {min(sizes.values())}-{max(sizes.values())} resources")
    forty = [p for p in fhir if 30 <= sizes[p] <= 50]
    if forty:
        print(f"  30-50-resource bundles ({len(forty)} files):     {_stats([s for p in forty for s in samples[p]])}")
    tracemalloc.start()
    for p in fhir + cases:
        _one(p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  peak traced memory over one pass:          {peak / 1024 / 1024:.1f} MiB")
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak resident memory of the process:       {rss:.0f} MiB")


if __name__ == "__main__":
    main()
