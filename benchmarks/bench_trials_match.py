"""Trial matching quality and speed against the hand judgements in benchmarks/trials_judgements/.

Loads ../shared/data/trials into a fresh SQLite store, matches each judged example patient against every stored
study, and prints precision@10 and NDCG@10 (TREC Clinical Trials conventions: 2 eligible, 1 excluded, 0 not
relevant; unjudged = 0), criterion-level agreement with criteria.tsv, seconds per patient and peak memory.
Run: `python benchmarks/bench_trials_match.py [--strict]`.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from mbcnav.pathway import Evaluation
from mbcnav.record import read_path
from mbcnav.trials.load import load_paths
from mbcnav.trials.match import match_patient
from mbcnav.trials.matching_io import parsed_trials
from mbcnav.trials.store import TrialStore

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "trials"
JUDGED = ROOT / "benchmarks" / "trials_judgements"
TODAY = date(2026, 11, 26)


def ndcg_at(ranked: list[str], gains: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** gains.get(n, 0) - 1) / math.log2(i + 2) for i, n in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def judged_verdicts(path: Path, reports: Mapping[str, Any]) -> tuple[list[tuple[str, str]], int]:
    """(mbcnav's verdict, the judge's verdict) for each bullet of a judge's criteria.tsv that can be compared, and
    the number of judged rows: a bullet is compared when the study is in the patient's report and one of mbcnav's
    criteria of the same kind starts with it."""
    pairs: list[tuple[str, str]] = []
    rows = 0
    with path.open() as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 5 or row[0] == "patient" or row[0] not in reports:
                continue
            rows += 1
            patient, nct, kind, text, verdict = row[:5]
            match = next((m for m in reports[patient].matches if m.trial.nct_id == nct), None)
            if match is None:
                continue
            key = norm(text)[:40]
            ours = next(
                (
                    c
                    for c in match.criteria
                    if c.criterion.kind == kind and key and norm(c.criterion.text).startswith(key)
                ),
                None,
            )
            if ours is not None:
                pairs.append((ours.verdict, verdict))
    return pairs, rows


def criterion_agreement(path: Path, reports: Mapping[str, Any]) -> tuple[int, int, int]:
    """(agree, compared, rows) between a judge's criteria.tsv and mbcnav's criterion verdicts (judged_verdicts)."""
    pairs, rows = judged_verdicts(path, reports)
    return sum(1 for ours, judge in pairs if ours == judge), len(pairs), rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strict", action="store_true", help="use qrels_strict.tsv (stable patients not switched)")
    args = parser.parse_args()
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    files = [JUDGED / ("qrels_strict.tsv" if args.strict else "qrels.tsv"), JUDGED / "qrels_pool2.tsv"]
    files.append(JUDGED / "qrels_pool3.tsv")  # round 3: the trials-v2 ranker's unjudged top 10, judged blind
    for path in files:  # round 1 (judge's own pool) and round 2 (mbcnav's unjudged top 10, judged blind)
        if not path.exists():
            continue
        with path.open() as fh:
            for row in csv.reader(fh, delimiter="\t"):
                if row and not row[0].startswith("patient"):
                    grade = int(row[2])
                    if args.strict and "[stable-on-current-line]" in row[3] and grade == 2:
                        grade = 1
                    qrels[row[0]].setdefault(row[1], grade)
    with tempfile.TemporaryDirectory() as tmp:
        store = TrialStore(f"sqlite:///{tmp}/bench.db")
        t0 = time.perf_counter()
        load_paths(store, [SHARED])
        list(parsed_trials(store, include_all=False))  # parse every relevant study once (cached per version)
        prep = time.perf_counter() - t0
        p10s, ndcgs, seconds = [], [], []
        cp10s, cndcgs = [], []
        reports = {}
        for patient in sorted(qrels):
            case = ROOT / "examples" / "cases" / f"{patient}.yaml"
            ev = Evaluation(read_path(case, today=TODAY), as_of=TODAY)  # as the CLI: the options engine's answer
            exhausted = ev.standard_options_exhausted
            t1 = time.perf_counter()
            trials = parsed_trials(store, include_all=False)
            report = match_patient(
                ev.assessment, trials, top=10_000, include_ineligible=True, options_exhausted=exhausted
            )
            seconds.append(time.perf_counter() - t1)
            ranked = [m.trial.nct_id for m in report.matches]
            reports[patient] = report
            gains = qrels[patient]
            p10s.append(sum(1 for n in ranked[:10] if gains.get(n) == 2) / 10)
            ndcgs.append(ndcg_at(ranked, gains))
            # Condensed list (Sakai 2007): unjudged studies removed, since the pool was not built from this run.
            condensed = [n for n in ranked if n in gains]
            cp10s.append(sum(1 for n in condensed[:10] if gains.get(n) == 2) / 10)
            cndcgs.append(ndcg_at(condensed, gains))
            print(
                f"  {patient:40s} P@10 {p10s[-1]:.2f}  NDCG@10 {ndcgs[-1]:.3f}  {seconds[-1]:.2f} s "
                f"({report.searched} studies)"
            )
        agree, total, _ = criterion_agreement(JUDGED / "criteria.tsv", reports)
    print(
        f"mbcnav trial matching — {len(qrels)} judged patients, {sum(len(v) for v in qrels.values())} judged pairs"
        f"{' (strict judgements)' if args.strict else ''}"
    )
    print(f"  load + parse of the shared corpus: {prep:.1f} s")
    print(
        f"  mean precision@10: {sum(p10s) / len(p10s):.3f}   mean NDCG@10: {sum(ndcgs) / len(ndcgs):.3f}"
        "   (unjudged studies count as not relevant)"
    )
    print(
        f"  condensed (judged studies only): precision@10 {sum(cp10s) / len(cp10s):.3f}   "
        f"NDCG@10 {sum(cndcgs) / len(cndcgs):.3f}"
    )
    rate = agree / total if total else 0.0
    print(f"  criterion-level agreement: {agree}/{total} = {rate:.1%} (criteria matched by text)")
    print(
        f"  matching one patient against all studies: median {statistics.median(seconds):.2f} s, "
        f"mean {sum(seconds) / len(seconds):.2f} s, max {max(seconds):.2f} s "
        "(parses cached in the store, decoded once per process)"
    )
    print(f"  peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
