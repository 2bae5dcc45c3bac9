"""Benchmark: worst-case criteria parse times (issue 16, item 9) — hostile runs and the corpus's own sentences.

Prints, for each hostile pattern (a run of dashes after "early", "and/or" runs, whitespace runs, repeated drug
lists ...) the parse time of one criterion at 500 / 1,000 / 2,000 / 4,000 / 5,000 characters (the growth shows
whether a pattern is linear), then a fixed-seed fuzz over real sentences of ../shared/data/trials (or the test
fixtures) with dash runs, repeated items and long whitespace inserted: cases, worst and median time, and the
slowest whole study of the corpus at the load bound (MAX_CRITERIA_CHARS).
Run: `python benchmarks/bench_criteria_worst_case.py [--cases N] [--seed S]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from mbcnav.trials.criteria import MAX_CRITERION_CHARS, parse_criteria
from mbcnav.trials.records import MAX_CRITERIA_CHARS, Trial, iter_records

ROOT = Path(__file__).resolve().parents[1]
SHARED_TRIALS = ROOT.parent / "shared" / "data" / "trials"
FIXTURES = ROOT / "tests" / "data" / "trials"

HOSTILE: dict[str, Callable[[int], str]] = {
    "early + dashes (was 47 s at 200)": lambda n: "Patients with early " + "-" * (n - 20),
    "early + dashes + breast": lambda n: "early " + "-" * (n - 20) + " breast cancer",
    "women and/or ... (was exponential)": lambda n: "Women " + "and/or " * (n // 7) + "x",
    "HER2 positive / / / (was exponential)": lambda n: "HER2 positive" + " / " * (n // 3) + "x",
    "ER + whitespace (was cubic)": lambda n: "ER " + " " * (n - 12) + "positive",
    "repeated drug list": lambda n: "Prior tamoxifen, letrozole, fulvestrant, palbociclib, " * (n // 53),
    "repeated HER2 items": lambda n: "HER2-positive, " * (n // 15),
    "stage I, II, ...": lambda n: "stage " + "I, II, " * (n // 7) + "breast cancer",
}
SIZES = (500, 1000, 2000, 4000, MAX_CRITERION_CHARS)


def timed(text: str) -> float:
    began = time.perf_counter()
    parse_criteria(text)
    return time.perf_counter() - began


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()

    timed("Inclusion Criteria:\n\n* HER2-positive breast cancer")  # warm up: the drug catalogue loads once
    print("hostile criteria — parse seconds at " + " / ".join(f"{n:,}" for n in SIZES) + " characters")
    for name, make in HOSTILE.items():
        row = [timed("Exclusion Criteria:\n\n* " + make(n)[:n]) for n in SIZES]
        print(f"  {name:40s} " + "  ".join(f"{t:6.3f}" for t in row))

    source = SHARED_TRIALS if SHARED_TRIALS.is_dir() else FIXTURES
    texts = {t.nct_id: t.eligibility_text for _, t in iter_records(source) if isinstance(t, Trial)}
    sentences = sorted(
        {s.strip(" *-") for text in texts.values() for s in text.splitlines() if 20 < len(s.strip()) < 300}
    )
    rnd = random.Random(args.seed)
    noise = ["-", " ", "- ", "/ ", "and/or ", "or ", ", ", "\n", "(", ".", "1, ", "_", "=", "*"]
    times: list[float] = []
    worst = (0.0, "")
    for _ in range(args.cases):
        s = rnd.choice(sentences)
        cut = rnd.randint(0, len(s))
        criterion = s[:cut] + " " + rnd.choice(noise) * rnd.randint(10, 400) + " " + s[cut:]
        criterion += " " + (rnd.choice(sentences)[:40] + ", ") * rnd.randint(1, 40)
        t = timed("Inclusion Criteria:\n\n* " + criterion[:2000])
        times.append(t)
        worst = max(worst, (t, criterion[:60]))
    print(
        f"fuzz over {len(sentences):,} corpus sentences ({source.name}), seed {args.seed}: {args.cases:,} criteria of "
        f"up to 2,000 characters — median {statistics.median(times) * 1000:.1f} ms, worst {worst[0] * 1000:.1f} ms "
        f"({worst[1]!r}...)"
    )

    slowest = max(texts, key=lambda n: timed(texts[n]))
    whole = texts[slowest]
    padded = ((whole + "\n") * (MAX_CRITERIA_CHARS // max(1, len(whole) + 1) + 1))[:MAX_CRITERIA_CHARS]
    print(
        f"slowest corpus study {slowest} ({len(whole):,} characters): {timed(whole):.3f} s; repeated to the load bound "
        f"({len(padded):,} of {MAX_CRITERIA_CHARS:,} characters): {timed(padded):.3f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
