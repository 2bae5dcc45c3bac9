"""Benchmark: read + assessment (with RECIST) + treatment options, per patient, over every bundled example.

Prints ms/patient (median, p95). Target: under 30 ms median per patient. Run: `python benchmarks/bench_options.py`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from pathlib import Path

from mbcnav.options import recommend
from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 26)


def one(path: Path) -> float:
    t0 = time.perf_counter()
    a, _ = assess_with_response(read_path(path, today=TODAY), as_of=TODAY)
    recommend(a).as_json(a)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    paths = sorted((ROOT / "examples" / "fhir").glob("*.json")) + sorted(
        (ROOT / "tests" / "vignettes").glob("[0-9]*.yaml")
    )
    for p in paths:
        one(p)
    samples = sorted(one(p) for _ in range(args.rounds) for p in paths)
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    print(f"mbcnav options benchmark — {len(paths)} patients x {args.rounds} rounds (read + assess + RECIST + options)")
    print(f"  median {statistics.median(samples):6.2f} ms  p95 {p95:6.2f} ms  per patient")


if __name__ == "__main__":
    main()
