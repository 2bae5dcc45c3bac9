"""Build the judging pool for the held-out patients (reproducible).

For each case file in benchmarks/trials_heldout/patients/:
  * mbcnav: the top 20 of `mbcnav trials match FILE --format json --all --as-of 2026-11-26 --top 20` over a fresh
    SQLite store loaded from /work/shared/data/trials (`mbcnav trials load ... --db sqlite:///<tmp>/trials.db`);
  * BM25: the top 20 of the `bm25s` baseline (bm25_baseline.py) for a query built from the case file alone.
The union is written in a seeded random order to pool.tsv (patient, nct_id) so that the judge cannot tell which
system proposed a study; the sources (and ranks) go to pool_sources.tsv, which the judge does not open until the
judgements are final. bm25_queries.tsv keeps each BM25 query.

Run: `.venv/bin/python benchmarks/trials_heldout/pool.py` (about a minute; prints counts only).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from bm25_baseline import rank_cases  # noqa: E402

MBCNAV = ROOT / ".venv" / "bin" / "mbcnav"
TRIALS = Path("/work/shared/data/trials")
AS_OF = "2026-11-26"
TOP = 20
SEED = 20261126


def mbcnav_top(case: Path, db: str, top: int = TOP) -> list[str]:
    cmd = [str(MBCNAV), "trials", "match", str(case), "--db", db, "--format", "json", "--all", "--as-of", AS_OF]
    proc = subprocess.run([*cmd, "--top", str(top)], capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"mbcnav trials match failed for {case.name} (exit {proc.returncode}): {proc.stderr[-500:]}")
    return [m["nct_id"] for m in json.loads(proc.stdout)["matches"]][:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=Path, default=HERE / "patients")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--mbcnav-top", type=int, default=TOP, help="depth of mbcnav's ranking pooled (default 20)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the pool's random order")
    args = parser.parse_args()
    cases = sorted(args.patients.glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/trials.db"
        load = subprocess.run([str(MBCNAV), "trials", "load", str(TRIALS), "--db", db], capture_output=True, text=True)
        if load.returncode not in (0, 1):
            raise SystemExit(f"mbcnav trials load failed: {load.stderr[-500:]}")
        ours = {case.stem: mbcnav_top(case, db, args.mbcnav_top) for case in cases}
    bm25 = rank_cases(cases, k=TOP)
    rows, sources = [], []
    for case in cases:
        p = case.stem
        m_rank = {n: i + 1 for i, n in enumerate(ours[p])}
        b_rank = {n: i + 1 for i, n in enumerate(bm25[p][1])}
        for nct in sorted(set(m_rank) | set(b_rank)):
            src = "+".join(s for s, r in (("mbcnav", m_rank), ("bm25", b_rank)) if nct in r)
            rows.append((p, nct))
            sources.append((p, nct, src, m_rank.get(nct, ""), b_rank.get(nct, "")))
        print(f"{p:36s} mbcnav {len(m_rank):2d}  bm25 {len(b_rank):2d}  pool {len(set(m_rank) | set(b_rank)):2d}")
    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    with (args.out / "pool.tsv").open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["patient", "nct_id"])
        w.writerows(rows[i] for i in order)
    with (args.out / "pool_sources.tsv").open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["patient", "nct_id", "sources", "mbcnav_rank", "bm25_rank"])
        w.writerows(sources)
    with (args.out / "bm25_queries.tsv").open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["patient", "query"])
        w.writerows((p, q) for p, (q, _) in bm25.items())
    print(
        f"{len(rows)} pairs, {len({n for _, n in rows})} distinct studies -> pool.tsv (random order), "
        "pool_sources.tsv (sources; not for the judge)"
    )


if __name__ == "__main__":
    main()
