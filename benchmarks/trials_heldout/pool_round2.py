"""Round-2 pool for the trials-v2 ranker: the studies in mbcnav's top K (default 10) for each judged patient that no
earlier round judged, shuffled with a fixed seed, for blind judging (benchmarks/trials_heldout/pool2.tsv for the
held-out patients, benchmarks/trials_judgements/pool3.tsv for the tuning patients). Judgements go to
qrels_pool2.tsv / qrels_pool3.tsv next to them. Run: `python benchmarks/trials_heldout/pool_round2.py [--top K]
[--write]` (without --write it prints the counts only, so a re-run never overwrites a judged pool)."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.trials.load import load_paths
from mbcnav.trials.match import match_patient
from mbcnav.trials.matching_io import parsed_trials
from mbcnav.trials.store import TrialStore

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import bench_trials_heldout as bench  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    t = bench.TUNING
    sets = {
        "tuning": (
            bench.read_qrels([t / "qrels.tsv", t / "qrels_pool2.tsv", t / "qrels_pool3.tsv"], False),
            bench.ROOT / "examples" / "cases",
            t / "pool3.tsv",
        ),
        "held-out": (
            bench.read_qrels([bench.HELDOUT / "qrels.tsv", bench.HELDOUT / "qrels_pool2.tsv"], False),
            bench.HELDOUT / "patients",
            bench.HELDOUT / "pool2.tsv",
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = TrialStore(f"sqlite:///{tmp}/pool.db")
        load_paths(store, [bench.SHARED])
        for name, (qrels, folder, out) in sets.items():
            pairs: list[tuple[str, str]] = []
            for patient in sorted(qrels):
                a, _ = assess_with_response(read_path(folder / f"{patient}.yaml", today=bench.TODAY), as_of=bench.TODAY)
                report = match_patient(
                    a, parsed_trials(store, include_all=False), top=args.top, include_ineligible=True
                )
                pairs += [(patient, m.trial.nct_id) for m in report.matches if m.trial.nct_id not in qrels[patient]]
            random.Random(7).shuffle(pairs)
            print(f"{name}: {len(pairs)} unjudged pairs over {len({n for _, n in pairs})} studies")
            if args.write and pairs:
                out.write_text("patient\tnct_id\n" + "".join(f"{p}\t{n}\n" for p, n in pairs))


if __name__ == "__main__":
    main()
