"""`mbcnav cohort EXPORT_DIR`: screen every patient of a FHIR Bulk Data export (tables in --out); the work is
mbcnav.cohort (engines local and spark)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mbcnav.commands.common import as_of_date, positive
from mbcnav.outcome import EXIT_CODES_HELP, EXIT_OK, EXIT_PARTIAL, OutputError, fail, user_error
from mbcnav.record.inputs import UnusableInput


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "cohort",
        help="population screening of a FHIR Bulk Data export: who has metastatic breast cancer, chart gaps, "
        "monitoring overdue, trial candidates (Parquet + CSV tables, summary.html)",
        epilog=EXIT_CODES_HELP,
    )
    c.add_argument(
        "export", type=Path, metavar="EXPORT_DIR", help="a Bulk Data export: one .ndjson or .ndjson.gz per type"
    )
    c.add_argument(
        "--engine",
        choices=["local", "spark"],
        default="local",
        help="local (this machine, bounded memory; the default) or spark (PySpark)",
    )
    c.add_argument(
        "--spark-master",
        metavar="URL",
        help="the Spark master for --engine spark (default: local[*]; e.g. spark://host:7077)",
    )
    c.add_argument(
        "--out", type=Path, default=Path("out/cohort"), metavar="DIR", help="output folder (default: out/cohort)"
    )
    c.add_argument(
        "--trials-db", metavar="URL", help="trial store to pre-screen metastatic patients against (top 5 per patient)"
    )
    c.add_argument(
        "--as-of",
        type=as_of_date,
        metavar="YYYY-MM-DD",
        help="screen the records as known on this date (default: today)",
    )
    c.add_argument("--limit", type=positive, metavar="N", help="screen only the first N patients (by id)")


def run(args: argparse.Namespace) -> int:
    from mbcnav.cohort.run import screen_export

    if args.spark_master and args.engine != "spark":
        return user_error("--spark-master needs --engine spark")
    if args.engine == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            return user_error("--engine spark needs PySpark: pip install 'mbcnav[spark]'")
    try:
        result = screen_export(
            args.export,
            args.out,
            engine=args.engine,
            as_of=args.as_of,
            trials_db=args.trials_db,
            limit=args.limit,
            master=args.spark_master or ("local[*]" if args.engine == "spark" else None),
        )
    except UnusableInput as err:
        return fail(err)
    except OSError as exc:  # the output folder cannot be written
        return fail(OutputError(str(args.out), exc.strerror or str(exc)))
    rows = result.counts.rows
    print(
        f"{rows.get('patients', 0)} patients screened in {result.seconds:.0f} s ({args.engine}); "
        f"{rows.get('chart_findings', 0)} chart findings, {rows.get('monitoring_due', 0)} monitoring items due, "
        f"{rows.get('trial_candidates', 0)} trial candidates, {rows.get('problems', 0)} problems"
    )
    print(f"tables and summary.html in {result.out}")
    if result.skipped:
        print(f"{result.skipped} line(s) or record(s) were not screened: see the problems table")
        return EXIT_PARTIAL
    return EXIT_OK


__all__ = ["add_parser", "run"]
