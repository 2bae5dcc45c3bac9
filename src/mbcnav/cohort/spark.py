"""The Spark engine: the same screening as a Spark job, for exports larger than one machine.

The NDJSON files are read as text (one RDD per file, numbered with zipWithIndex so a problem names its line), each
line is keyed to its patient by core.classify_line in the Python workers, the lines are grouped by patient with
groupByKey, each patient goes through core.screen_patient (mapPartitions), and the tables are written with Spark's
Parquet and CSV writers, sorted. Nothing comes back to the driver but counts (and the Medication resources, which
are reference data shared by every patient, broadcast back to the workers). The same code runs under spark-submit
(mbcnav/cohort/spark_job.py)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from mbcnav.cohort.core import (
    PATIENT_TABLES,
    SORT_KEYS,
    TABLES,
    Medications,
    Row,
    Source,
    TrialList,
    classify_line,
    screen_patient,
)
from mbcnav.cohort.local import RunCounts, export_files

_SPARK_TYPES = {"str": "StringType", "int": "LongType", "bool": "BooleanType", "float": "DoubleType"}
Keyed = tuple[str, str, str, int, str, str, str]  # kind, key, file, line, resource type, message, text


def spark_schema(name: str) -> Any:
    from pyspark.sql import types as T

    return T.StructType([T.StructField(c, getattr(T, _SPARK_TYPES[k])(), True) for c, k in TABLES[name]])


def session(master: str | None = None, *, app: str = "mbcnav-cohort", partitions: int | None = None) -> Any:
    """A SparkSession; with a local master the workers run this interpreter (and so see mbcnav)."""
    from pyspark.sql import SparkSession

    if master is None or master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app)
    if master:
        builder = builder.master(master)
    builder = (
        builder.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    if partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions)).config(
            "spark.default.parallelism", str(partitions)
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# ---- functions the workers run (module level: pickled by reference) -------------------------------------------------
def _key_line(name: str, pair: tuple[str, int]) -> Keyed:
    text, index = pair
    c = classify_line(text)
    keep = text if c.kind == "patient" or (c.kind == "shared" and c.key) else ""
    return (c.kind, c.key or "", name, index + 1, c.resource_type or "", c.message, keep)


def _screen_partition(
    groups: Iterable[tuple[str, Iterable[tuple[str, int, str]]]],
    *,
    as_of: date,
    today: date,
    trials: Any,
    medications: Any,
) -> Iterator[tuple[str, Any]]:
    tally: Counter[tuple[str, str]] = Counter()
    for pid, sources in groups:
        result = screen_patient(
            pid,
            list(sources),
            as_of=as_of,
            today=today,
            trials=trials.value if trials is not None else None,
            medications=medications.value,
        )
        for name, rows in result.rows.items():
            for row in rows:
                yield name, row
        tally += result.tally
    yield "__tally__", tally


def _add(a: Counter[tuple[str, str]], b: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    a.update(b)
    return a


def _line_problem(t: Keyed) -> Row:
    return (t[2], t[3], t[0], "", t[4] or None, t[5])


def _patient_source(t: Keyed) -> tuple[str, Source]:
    return t[1], (t[2], t[3], t[6])


def run_spark(
    export: str | Path,
    out: str | Path,
    *,
    as_of: date,
    today: date,
    trials: TrialList | None = None,
    limit: int | None = None,
    master: str | None = None,
    partitions: int | None = None,
    spark: Any = None,
) -> RunCounts:
    """Screen the export with Spark and write the tables into `out` (a folder that exists, on a file system every
    executor can write: local for local[N], shared for a cluster)."""
    from pyspark import StorageLevel

    own = spark is None
    spark = spark or session(master, partitions=partitions)
    sc = spark.sparkContext
    parts = partitions or max(2, sc.defaultParallelism)
    try:
        files = export_files(Path(export))
        counts = RunCounts(files=len(files))
        if not files:
            keyed = sc.emptyRDD()
        else:
            keyed = sc.union(
                [sc.textFile(str(f.absolute())).zipWithIndex().map(partial(_key_line, f.name)) for f in files]
            )
        keyed = keyed.persist(StorageLevel.MEMORY_AND_DISK)
        counts.line_kinds = Counter(dict(keyed.map(lambda t: t[0]).countByValue()))
        counts.lines = sum(n for kind, n in counts.line_kinds.items() if kind != "blank")
        # Reference data, not patient data: the Medications that requests may point to (a formulary).
        meds: Medications = dict(
            keyed.filter(lambda t: t[0] == "shared" and t[1] != "")
            .map(lambda t: (t[1], (t[2], t[3], t[6])))
            .reduceByKey(lambda a, b: min(a, b))
            .collect()
        )
        bc_meds = sc.broadcast(meds)
        bc_trials = sc.broadcast(list(trials)) if trials else None
        groups = keyed.filter(lambda t: t[0] == "patient").map(_patient_source).groupByKey(parts)
        if limit is not None:
            first = set(groups.keys().takeOrdered(limit))  # the first N patient ids, as the local engine takes them
            bc_first = sc.broadcast(first)
            groups = groups.filter(lambda kv: kv[0] in bc_first.value)
        screened = groups.mapPartitions(
            partial(_screen_partition, as_of=as_of, today=today, trials=bc_trials, medications=bc_meds)
        ).persist(StorageLevel.MEMORY_AND_DISK)
        counts.tally = screened.filter(lambda r: r[0] == "__tally__").map(lambda r: r[1]).fold(Counter(), _add)
        line_problems = keyed.filter(lambda t: t[0] in ("malformed", "orphan")).map(_line_problem)
        target = Path(out).absolute()
        for name in (*PATIENT_TABLES, "problems"):
            rows = screened.filter(lambda r, n=name: r[0] == n).map(lambda r: r[1])
            if name == "problems":
                rows = rows.union(line_problems)
            df = spark.createDataFrame(rows, spark_schema(name)).orderBy(*SORT_KEYS[name])
            df.write.mode("error").option("compression", "zstd").parquet(str(target / f"{name}.parquet"))
            written = spark.read.parquet(str(target / f"{name}.parquet"))
            written.write.mode("error").option("header", "true").csv(str(target / f"{name}.csv"))
            counts.rows[name] = written.count()
        for kind, n in counts.line_kinds.items():
            if kind in ("malformed", "orphan"):
                counts.tally["problem", kind] += n
        screened.unpersist()
        keyed.unpersist()
    finally:
        if own:
            spark.stop()
    return counts


__all__ = ["run_spark", "session", "spark_schema"]
