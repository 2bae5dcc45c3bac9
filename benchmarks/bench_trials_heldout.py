"""Trial matching on tuning vs held-out patients, mbcnav vs a BM25 baseline.

Tuning set: the judged example patients of benchmarks/trials_judgements/ (qrels.tsv + qrels_pool2.tsv +
qrels_pool3.tsv, criteria.tsv; case files in examples/cases/). Held-out set: the guideline-written patients of
benchmarks/trials_heldout/ (qrels.tsv + qrels_pool2.tsv, criteria.tsv; case files in
benchmarks/trials_heldout/patients/), pooled from mbcnav's and BM25's top 20 and judged blind, then (pool2 / pool3,
trials_heldout/pool_round2.py) the trials-v2 ranker's unjudged top 10, judged blind. Fresh set: ten more
guideline-written patients (benchmarks/trials_fresh/, written, pooled and judged blind after the trials-v2 parser
work, so no error class was ever read from them; see its README). Fresh2: ten more, written, pooled and judged
blind after parser 2.6 (benchmarks/trials_fresh2/; pooled from mbcnav's top 25 and BM25's top 20, criterion
verdicts on studies no earlier criteria.tsv covered). Fresh3: ten more, after parser 2.8, the same way
(benchmarks/trials_fresh3/). Fresh4: ten more, pooled at parser 2.9 (benchmarks/trials_fresh4/). Fresh5: ten
more, pooled at parser 2.10 (benchmarks/trials_fresh5/). Fresh6: ten more, pooled at parser 2.11
(benchmarks/trials_fresh6/). Fresh7: ten more, pooled at parser 2.12 (benchmarks/trials_fresh7/). Fresh8: ten more,
pooled at parser 2.14 (benchmarks/trials_fresh8/). Fresh9: ten more, pooled at parser 2.15 (benchmarks/trials_fresh9/).
Fresh10: ten more, pooled at parser 2.16 (benchmarks/trials_fresh10/). Fresh11: ten more, pooled at parser 2.18.1
(benchmarks/trials_fresh11/). Fresh12: ten more, pooled at parser 2.19.0 (benchmarks/trials_fresh12/). Fresh13: ten
more, pooled at parser 2.22.0 (benchmarks/trials_fresh13/). For each set
and system this prints precision@10 and NDCG@10 (TREC Clinical Trials gains 2/1/0, unjudged studies count 0), the
condensed variants (unjudged studies removed, Sakai 2007), judged@10 (share of the top 10 that was judged) and, for
mbcnav, criterion-level agreement with criteria.tsv (criteria matched by text, as in bench_trials_match.py; BM25 gives
no criterion verdicts), with the agreement where mbcnav decided (met / not met) and where the judge did.

mbcnav ranks every stored open study with the same call as bench_trials_match.py (match_patient with
include_ineligible=True, i.e. `mbcnav trials match --all`). BM25 is benchmarks/trials_heldout/bm25_baseline.py
(`bm25s`, a query built from the case file).
Run: `python benchmarks/bench_trials_heldout.py [--strict] [--sets tuning,held-out,fresh,...,fresh8]`.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from mbcnav.pathway import Evaluation
from mbcnav.record import read_path
from mbcnav.trials.load import load_paths
from mbcnav.trials.match import match_patient
from mbcnav.trials.matching_io import parsed_trials
from mbcnav.trials.store import TrialStore

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "trials"
TUNING = ROOT / "benchmarks" / "trials_judgements"
HELDOUT = ROOT / "benchmarks" / "trials_heldout"
# held-out set -> folder: fresh after the trials-v2 parser work, fresh2 after parser 2.6, fresh3 2.8, fresh4 2.9,
# fresh5 2.10, fresh6 2.11, fresh7 2.12, fresh8 2.14, fresh9 2.15, fresh10 2.16, fresh11 2.18.1, fresh12 2.19.0,
# fresh13 2.22.0 (parser pooled and scored at)
FRESH_SETS = {
    name: ROOT / "benchmarks" / f"trials_{name}"
    for name in (
        "fresh",
        "fresh2",
        "fresh3",
        "fresh4",
        "fresh5",
        "fresh6",
        "fresh7",
        "fresh8",
        "fresh9",
        "fresh10",
        "fresh11",
        "fresh12",
        "fresh13",
    )
}
TODAY = date(2026, 11, 26)
K = 10

sys.path.insert(0, str(HELDOUT))
from bm25_baseline import BM25Baseline, query_for_case  # noqa: E402

from bench_trials_match import criterion_agreement, judged_verdicts, ndcg_at  # noqa: E402 (the tuning set's metrics)


def decided_agreement(path: Path, reports: dict[str, Any]) -> tuple[int, int, int, int]:
    """(agree, compared) over the judged bullets where mbcnav said met / not met, then where the judge did: how often
    a decision of mbcnav is right, and how much of the judge's decisions mbcnav reproduces."""
    pairs, _ = judged_verdicts(path, reports)
    ours = [(m, j) for m, j in pairs if m != "unknown"]
    judge = [(m, j) for m, j in pairs if j != "unknown"]
    return sum(m == j for m, j in ours), len(ours), sum(m == j for m, j in judge), len(judge)


def read_qrels(files: list[Path], strict: bool) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for path in files:
        if not path.exists():
            continue
        with path.open() as fh:
            for row in csv.reader(fh, delimiter="\t"):
                if not row or row[0] == "patient":
                    continue
                grade = int(row[2])
                if strict and grade == 2 and "[stable-on-current-line]" in row[3]:
                    grade = 1
                qrels[row[0]].setdefault(row[1], grade)
    return qrels


@dataclass
class Scores:
    p10: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)
    cp10: list[float] = field(default_factory=list)
    cndcg: list[float] = field(default_factory=list)
    judged: list[float] = field(default_factory=list)

    def add(self, ranked: list[str], gains: dict[str, int]) -> None:
        self.p10.append(sum(1 for n in ranked[:K] if gains.get(n) == 2) / K)
        self.ndcg.append(ndcg_at(ranked, gains))
        condensed = [n for n in ranked if n in gains]
        self.cp10.append(sum(1 for n in condensed[:K] if gains.get(n) == 2) / K)
        self.cndcg.append(ndcg_at(condensed, gains))
        self.judged.append(sum(1 for n in ranked[:K] if n in gains) / K)

    @staticmethod
    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="lower [stable-on-current-line] 2s to 1 (every set)")
    parser.add_argument(
        "--sets",
        default=",".join(["tuning", "held-out", *FRESH_SETS]),
        help="comma-separated sets to score",
    )
    args = parser.parse_args()
    sets = {
        "tuning": (
            read_qrels([TUNING / "qrels.tsv", TUNING / "qrels_pool2.tsv", TUNING / "qrels_pool3.tsv"], args.strict),
            ROOT / "examples" / "cases",
            TUNING / "criteria.tsv",
        ),
        "held-out": (
            read_qrels([HELDOUT / "qrels.tsv", HELDOUT / "qrels_pool2.tsv"], args.strict),
            HELDOUT / "patients",
            HELDOUT / "criteria.tsv",
        ),
    }
    # the later held-out sets, each written, pooled and judged blind after the parser version named (their READMEs)
    for name, folder in FRESH_SETS.items():
        sets[name] = (read_qrels([folder / "qrels.tsv"], args.strict), folder / "patients", folder / "criteria.tsv")
    wanted = set(args.sets.split(","))
    sets = {name: spec for name, spec in sets.items() if spec[0] and name in wanted}
    bm25 = BM25Baseline()
    results: dict[tuple[str, str], Scores] = {}
    agreement: dict[str, tuple[int, int, int]] = {}
    decided: dict[str, tuple[int, int, int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = TrialStore(f"sqlite:///{tmp}/bench.db")
        t0 = time.perf_counter()
        load_paths(store, [SHARED])
        list(parsed_trials(store, include_all=False))
        print(f"load + parse of the shared corpus: {time.perf_counter() - t0:.1f} s")
        for name, (qrels, folder, criteria) in sets.items():
            ours, base = Scores(), Scores()
            reports = {}
            print(f"\n{name} patients ({len(qrels)}, {sum(len(v) for v in qrels.values())} judged pairs)")
            print(f"  {'patient':36s} {'mbcnav P@10 NDCG@10':>21s}   {'BM25 P@10 NDCG@10':>19s}")
            for patient in sorted(qrels):
                case = folder / f"{patient}.yaml"
                ev = Evaluation(read_path(case, today=TODAY), as_of=TODAY)  # as the CLI: the options engine's answer
                report = match_patient(
                    ev.assessment,
                    parsed_trials(store, include_all=False),
                    top=10_000,
                    include_ineligible=True,
                    options_exhausted=ev.standard_options_exhausted,
                )
                reports[patient] = report
                ranked = [m.trial.nct_id for m in report.matches]
                query = query_for_case(yaml.safe_load(case.read_text()))  # from the case file, not mbcnav
                gains = qrels[patient]
                ours.add(ranked, gains)
                base.add(bm25.rank(query, k=100), gains)
                print(
                    f"  {patient:36s} {ours.p10[-1]:10.2f} {ours.ndcg[-1]:8.3f}   "
                    f"{base.p10[-1]:9.2f} {base.ndcg[-1]:8.3f}"
                )
            results[(name, "mbcnav")] = ours
            results[(name, "BM25")] = base
            if criteria.exists():
                agreement[name] = criterion_agreement(criteria, reports)
                decided[name] = decided_agreement(criteria, reports)
    print(f"\nSummary{' (strict judgements)' if args.strict else ''} - unjudged studies count as not relevant;")
    print("condensed = unjudged studies removed from the ranking before scoring.")
    print(
        f"{'set':9s} {'system':7s} {'P@10':>6s} {'NDCG@10':>8s} {'cP@10':>6s} {'cNDCG@10':>9s} "
        f"{'judged@10':>9s}  criterion agreement"
    )
    for (name, system), s in results.items():
        if system == "mbcnav" and name in agreement:
            agree, total, rows = agreement[name]
            crit = f"{agree}/{total} = {agree / total:.1%} ({rows} judged bullets)" if total else "n/a"
        else:
            crit = "n/a (no criterion verdicts)"
        if system == "mbcnav" and name in decided:
            a_ours, n_ours, a_judge, n_judge = decided[name]
            crit += (
                f"; where mbcnav decided {a_ours}/{n_ours} = {a_ours / max(1, n_ours):.1%}, "
                f"where the judge decided {a_judge}/{n_judge} = {a_judge / max(1, n_judge):.1%}"
            )
        m = Scores.mean
        print(
            f"{name:9s} {system:7s} {m(s.p10):6.3f} {m(s.ndcg):8.3f} {m(s.cp10):6.3f} {m(s.cndcg):9.3f} "
            f"{m(s.judged):9.2f}  {crit}"
        )


if __name__ == "__main__":
    main()
