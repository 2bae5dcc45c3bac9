"""Write a synthetic FHIR Bulk Data export: `python benchmarks/synth_cohort.py N OUT_DIR [--seed S] [--gzip]`.

N patients varied from the example patients (mbcnav.cohort.synthetic): several subtypes, sites and lines, missing
and contradictory facts, other cancers and patients without cancer, a few malformed lines and orphan resources.
The same seed gives the same export."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mbcnav.cohort.synthetic import write_export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of patients")
    parser.add_argument("out", type=Path, help="the export folder (created)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gzip", action="store_true", help="write .ndjson.gz files")
    args = parser.parse_args()
    t0 = time.perf_counter()
    stats = write_export(args.n, args.out, seed=args.seed, compress=args.gzip)
    print(
        f"{stats.patients} patients ({stats.breast} breast cancer, {stats.other_cancer} other cancer, "
        f"{stats.no_cancer} no cancer), {stats.lines} lines in {len(stats.files)} files "
        f"({stats.malformed} malformed, {stats.orphans} orphans) -> {args.out} in {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
