"""Benchmark population screening: time and peak memory per engine and size, and the per-patient cost.

    python benchmarks/bench_cohort.py --sizes 1000 10000 --engines local spark
    python benchmarks/bench_cohort.py --sizes 100000 --engines local
    python benchmarks/bench_cohort.py --per-patient          # read + assess one ~40-resource record vs json.loads

Exports are made once per size and seed (benchmarks/out/cohort-export-N-sS) and reused. Each run is a child process
(`mbcnav cohort`); its peak memory is the largest sum of the resident sizes of the whole process tree (the JVM and
Python workers for Spark, the worker processes for local), sampled every 0.2 s. Timing never gates a test."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
AS_OF = date(2026, 11, 26)


def _tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as fh:
                rss[int(entry)] = int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += children.get(p, [])
    return total


def _run(cmd: list[str]) -> tuple[float, int, int]:
    """(seconds, peak tree RSS in bytes, exit code) of a command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _out, err = proc.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        print(err[-3000:], file=sys.stderr)
    return seconds, peak, proc.returncode


def _export(n: int, seed: int) -> Path:
    folder = OUT / f"cohort-export-{n}-s{seed}"
    if not (folder / ".complete").exists():
        from mbcnav.cohort.synthetic import write_export

        t0 = time.perf_counter()
        stats = write_export(n, folder, seed=seed)
        (folder / ".complete").write_text(json.dumps({"lines": stats.lines}))
        print(f"  export of {n} patients: {stats.lines} lines, {time.perf_counter() - t0:.0f} s to write")
    return folder


def _size(folder: Path) -> str:
    return f"{sum(p.stat().st_size for p in folder.glob('*.ndjson*')) / 1e9:.2f} GB"


def bench_engines(args: argparse.Namespace) -> None:
    mbcnav = str(Path(sys.executable).with_name("mbcnav"))
    rows = []
    for n in args.sizes:
        export = _export(n, args.seed)
        for engine in args.engines:
            out = OUT / f"cohort-{engine}-{n}"
            cmd = [mbcnav, "cohort", str(export), "--out", str(out), "--as-of", AS_OF.isoformat(), "--engine", engine]
            if engine == "spark":
                cmd += ["--spark-master", args.master]
            seconds, peak, code = _run(cmd)
            run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
            patients = run.get("rows", {}).get("patients", 0)
            rows.append((n, engine, seconds, peak, code, patients, _size(export)))
            print(
                f"  {engine:5} {n:>7} patients ({_size(export)}): {seconds:7.1f} s, "
                f"{seconds / max(1, n) * 1000:6.2f} ms/patient, peak {peak / 2**20:6.0f} MiB, exit {code}, "
                f"{patients} patient rows",
                flush=True,
            )
    print("\n| patients | export | engine | time (s) | ms / patient | peak memory (MiB) |")
    print("|---:|---:|---|---:|---:|---:|")
    for n, engine, seconds, peak, _code, _patients, size in rows:
        label = engine if engine == "local" else f"spark {args.master}"
        print(f"| {n:,} | {size} | {label} | {seconds:.1f} | {seconds / n * 1000:.2f} | {peak / 2**20:.0f} |")


def bench_per_patient(args: argparse.Namespace) -> None:
    """One record of ~40 resources read and assessed, each patient seen once (as in a cohort), vs json.loads."""
    import mbcnav.record.fhir as fhir
    from mbcnav.chart.problems import check_problem_list
    from mbcnav.cohort.synthetic import EXAMPLES, _templates, patient_resources
    from mbcnav.monitoring.plan import build_plan
    from mbcnav.pathway import evaluate
    from mbcnav.record.inputs import Located

    if args.no_memo:  # the reader as it was: every resource validated in full
        fhir._validate_resource = lambda cls, res: cls.model_validate(res)
    templates = [t for t in _templates(EXAMPLES) if 36 <= len(t) <= 44]
    texts = []
    i = 0
    while len(texts) < args.records:
        kind, resources = patient_resources(args.seed, i, templates)
        i += 1
        if kind == "breast":
            texts.append(json.dumps({"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}))
    sizes = [len(json.loads(t)["entry"]) for t in texts]

    def parse(t: str) -> list[Located]:
        return [Located(e["resource"], f"x:entry[{k}]") for k, e in enumerate(json.loads(t)["entry"])]

    def timed(fn, items):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        return (time.perf_counter() - t0) / len(items) * 1000

    warm, rest = texts[:50], texts[50:]
    for t in warm:
        evaluate(fhir.record_from_resources(parse(t), today=AS_OF, as_of=AS_OF), as_of=AS_OF)
    third = len(rest) // 3
    a, b, c = rest[:third], rest[third : 2 * third], rest[2 * third :]
    floor = timed(json.loads, rest)
    read = timed(lambda t: fhir.record_from_resources(parse(t), today=AS_OF, as_of=AS_OF), a)
    assess = timed(
        lambda t: evaluate(
            fhir.record_from_resources(parse(t), today=AS_OF, as_of=AS_OF), as_of=AS_OF
        ).assessment_json(),
        b,
    )

    def whole(t: str) -> None:
        located = parse(t)
        ev = evaluate(fhir.record_from_resources(located, today=AS_OF, as_of=AS_OF), as_of=AS_OF)
        ev.assessment_json()
        check_problem_list(located, ev.assessment)
        build_plan(ev)

    pipeline = timed(whole, c)
    label = "full validation (as before)" if args.no_memo else "validation remembered"
    print(f"per patient, {min(sizes)}-{max(sizes)} resources (mean {sum(sizes) / len(sizes):.0f}), {label}:")
    print(f"  json.loads (the floor)                 {floor:6.2f} ms")
    print(f"  read (FHIR -> Record)                  {read:6.2f} ms  {read / floor:5.1f}x")
    print(f"  read + assess                          {assess:6.2f} ms  {assess / floor:5.1f}x")
    print(f"  read + assess + chart + monitoring     {pipeline:6.2f} ms  {pipeline / floor:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="patients per export")
    parser.add_argument("--engines", nargs="+", choices=["local", "spark"], default=["local", "spark"])
    parser.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-patient", action="store_true", help="only the per-patient cost")
    parser.add_argument("--no-memo", action="store_true", help="with --per-patient: validate every resource in full")
    parser.add_argument("--records", type=int, default=650, help="records for --per-patient")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.per_patient:
        bench_per_patient(args)
        return
    print(f"mbcnav cohort benchmark — {os.cpu_count()} CPUs, as of {AS_OF}")
    bench_engines(args)


if __name__ == "__main__":
    main()
