"""Benchmark: RECIST 1.1 response for 1,000 synthetic patients x 8 assessments (plots excluded).

Prints seconds for the engine alone and for assessment + response (lines of therapy included), and peak memory.
Run: `python benchmarks/bench_response.py [--patients N]`.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from datetime import date, timedelta

from mbcnav.assess import assess
from mbcnav.dates import PartialDate
from mbcnav.pathway import assess_with_response
from mbcnav.record.model import (
    Lesion,
    Metastasis,
    Patient,
    PrimaryCancer,
    Record,
    Source,
    TherapyExposure,
    TumorMeasurement,
)
from mbcnav.response import evaluate_response

TODAY = date(2026, 11, 26)


def synthetic(i: int, rng: random.Random) -> Record:
    src = Source(f"Synthetic/{i}", "bench")
    start = date(2022, 1, 1) + timedelta(days=rng.randint(0, 500))
    d0 = PartialDate.of(start - timedelta(days=10))
    lesions = (
        Lesion("L1", "liver", None, False, False, src),
        Lesion("L2", "lung", None, False, False, src),
        Lesion("N1", "mediastinal lymph node", None, True, False, src),
    )
    sizes = {"L1": rng.uniform(15, 60), "L2": rng.uniform(12, 40), "N1": rng.uniform(15, 30)}
    trend = rng.uniform(-0.15, 0.12)
    ms = []
    for k in range(8):
        day = start - timedelta(days=10) + timedelta(days=63 * k)
        for lid, base in sizes.items():
            size = max(0.0, round(base * (1 + trend * k + rng.uniform(-0.05, 0.05)), 1))
            ms.append(
                TumorMeasurement(lid, None, PartialDate.of(day), size, "short" if lid == "N1" else "long", "CT", src)
            )
    return Record(
        patient=Patient(f"bench-{i}", None, "female", "post", None, src),
        primaries=(PrimaryCancer(PartialDate.of(date(2019, 1, 1)), "left", None, None, "breast cancer", src),),
        metastases=(Metastasis("liver", "liver", d0, None, 3, None, "active", src),),
        therapies=(
            TherapyExposure("capecitabine", True, PartialDate.of(start), None, True, "metastatic", "bench", None, src),
        ),
        lesions=lesions,
        measurements=tuple(ms),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(20261126)
    records = [synthetic(i, rng) for i in range(args.patients)]
    lines = [assess(r, as_of=TODAY).lines for r in records]
    t0 = time.perf_counter()
    reports = [evaluate_response(r, ls) for r, ls in zip(records, lines, strict=True)]
    engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in records:
        assess_with_response(r, as_of=TODAY)
    full = time.perf_counter() - t0
    bors: dict[str, int] = {}
    for rep in reports:
        for line in rep.lines:
            bors[line.best_overall_response] = bors.get(line.best_overall_response, 0) + 1
    print(f"RECIST benchmark — {args.patients} patients x 8 assessments x 3 lesions")
    print(f"  engine only (given lines):          {engine:6.2f} s  ({engine / args.patients * 1000:.2f} ms/patient)")
    print(f"  assessment + response (integrated): {full:6.2f} s  ({full / args.patients * 1000:.2f} ms/patient)")
    print(f"  best overall responses: {dict(sorted(bors.items()))}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak resident memory: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
