"""The Spark engine as a job for spark-submit (the master comes from spark-submit):

    PYSPARK_PYTHON=/opt/mbcnav/.venv/bin/python spark-submit --master spark://host:7077 \\
        /opt/mbcnav/src/mbcnav/cohort/spark_job.py /shared/export --out /shared/out/cohort --as-of 2026-11-26

Every node needs mbcnav installed in the Python that PYSPARK_PYTHON names (same path), and EXPORT_DIR and --out on
a file system every node sees. `mbcnav cohort --engine spark --spark-master URL` runs the same code from a client.
Exit codes as `mbcnav cohort`: 0 done, 1 done with lines or records not screened (problems table), 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from mbcnav.cohort.run import screen_export
    from mbcnav.record.inputs import UnusableInput

    p = argparse.ArgumentParser(prog="spark_job.py", description="mbcnav population screening on Spark")
    p.add_argument("export", type=Path, metavar="EXPORT_DIR")
    p.add_argument("--out", type=Path, default=Path("out/cohort"), metavar="DIR")
    p.add_argument("--as-of", type=date.fromisoformat, metavar="YYYY-MM-DD")
    p.add_argument("--trials-db", metavar="URL")
    p.add_argument("--limit", type=int, metavar="N")
    p.add_argument("--partitions", type=int, metavar="N", help="shuffle partitions (default: the cluster's cores)")
    args = p.parse_args(argv)
    try:
        result = screen_export(
            args.export,
            args.out,
            engine="spark",
            as_of=args.as_of,
            trials_db=args.trials_db,
            limit=args.limit,
            partitions=args.partitions,
        )
    except UnusableInput as err:
        print(f"mbcnav: {err.message}", file=sys.stderr)
        return 2
    print(f"{result.counts.rows.get('patients', 0)} patients screened in {result.seconds:.0f} s -> {result.out}")
    return 1 if result.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
