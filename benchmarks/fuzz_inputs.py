"""Bounded fuzz run over every input mbcnav reads (issue 16): FHIR bundles, YAML case files, trial records and
eligibility texts, mutated with a fixed seed and run through the functions the commands use.

- FHIR bundles (examples/fhir/*.json) and case files (examples/cases/*.yaml): written to a file, then
  `read_path` + `assess_with_response` + `recommend(...).as_json` (what `mbcnav assess` / `options` do), and both
  results written as strict JSON. A clean error is `UnusableInput`.
- Trial records (tests/data/trials/ and ../shared/data/trials/ when present, read-only): written to a file and
  read with `mbcnav.trials.records.iter_file` (what `trials load` does). A clean error is a `RecordProblem`.
- Eligibility texts (from those records): `mbcnav.trials.criteria.parse_criteria`, time-boxed.

Each case runs in a worker process with a time box (a case over it is a "hang"; the worker is replaced) and an
address-space limit, so a segmentation fault or a memory blow-up is counted as a crash instead of ending the run.
Any exception other than the clean errors is a crash. Prints cases / clean errors / crashes / hangs and the first
crash signatures (exception, innermost mbcnav frame, message) so they can be fixed.

Run: `python benchmarks/fuzz_inputs.py [--cases 10000] [--seed 16] [--workers 2] [--kinds fhir,case]`. Exit code
1 when there was a crash or a hang. Target: 0 crashes, 0 hangs; the default run is about 55 s of CPU, so under a
minute on an otherwise idle 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from datetime import date
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SHARED_TRIALS = ROOT.parent / "shared" / "data" / "trials"
TODAY = date(2026, 11, 26)
HUGE = "__HUGE_INT__"  # replaced by a 5,000-digit number in the serialised text (json cannot write one)
MIX = (("fhir", 0.27), ("case", 0.16), ("trial", 0.27), ("criteria", 0.30))
TIMEOUT = {"fhir": 10.0, "case": 10.0, "trial": 10.0, "criteria": 5.0}  # criteria: 47 s before the fix
MEMORY_LIMIT = 3 * 1024**3

# ---- hostile values -------------------------------------------------------------------------------------------
ODD_STRINGS = [
    "",
    " ",
    "\t\n ",
    "\u00a0",
    "\u3000",
    "\x00",
    "\u202e",
    "\ud800",
    "e\u0301",
    "🧬",
    "ｂｒｅａｓｔ",
    "٢٠٢٠-٠١-٠١",
    "2020-02-30",
    "2024-01-01T10:00:00+99:00",
    "9999-12-31",
    "1800-01-01",
    "0000",
    "NaN",
    "-Infinity",
    "1e999",
    "Patient/",
    "urn:uuid:",
    "HER2 3+",
    "ER positive 150%",
    "PD-L1 CPS 1000000",
    "CPS -1",
    "ECOG 9",
    "stage IV",
    "cM1",
    "metastasis to liver",
    "x" * 3000,
]
ODD_NUMBERS: list[Any] = [
    -1,
    0,
    -0.0,
    0.5,
    3,
    101,
    1000,
    1_000_000,
    -1_000_000,
    1e308,
    -1e308,
    5e-324,
    2**63,
    10**30,
    HUGE,
    True,
    False,
]
ODD_NODES: list[Any] = [None, [], {}, [None], {"": ""}, [[]], {"coding": " "}, {"coding": [{"display": " "}]}]
NUMERIC_KEYS = ("value", "valueInteger", "valueDecimal", "percent", "cps", "ecog", "karnofsky", "size_mm", "lesions")


def hostile(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.40:
        return rng.choice(ODD_STRINGS)
    if r < 0.75:
        return rng.choice(ODD_NUMBERS)
    if r < 0.90:
        return json.loads(json.dumps(rng.choice(ODD_NODES)))  # a fresh copy: later mutations must not change it
    return deep(rng, rng.choice([30, 200, 600]))


def deep(rng: random.Random, n: int) -> Any:
    node: Any = rng.choice(["x", 1, None])
    for _ in range(n):
        node = [node] if rng.random() < 0.5 else {"a": node}
    return node


# ---- tree mutation --------------------------------------------------------------------------------------------
def paths(doc: Any, limit: int = 4000) -> list[tuple[Any, Any]]:
    """(container, key) of every node, breadth first, at most `limit`."""
    out: list[tuple[Any, Any]] = []
    queue = [doc]
    while queue and len(out) < limit:
        node = queue.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            out.append((node, k))
            if isinstance(v, dict | list):
                queue.append(v)
    return out


def mutate_tree(doc: Any, rng: random.Random, n: int) -> Any:
    for _ in range(n):
        nodes = paths(doc)
        if not nodes:
            return doc
        if rng.random() < 0.35:  # aim at the places readers look at: codings, numbers, text
            aimed = [
                (c, k) for c, k in nodes if k in ("display", "text", "code", "system", "unit") or k in NUMERIC_KEYS
            ]
            nodes = aimed or nodes
        container, key = rng.choice(nodes)
        op = rng.random()
        if op < 0.55:
            container[key] = hostile(rng)
        elif op < 0.70:
            if isinstance(container, dict):
                del container[key]
            else:
                container.pop(key)
        elif op < 0.80:  # wrong type where a list or object is expected
            v = container[key]
            container[key] = rng.choice([7, "x", None]) if isinstance(v, list | dict) else [v]
        elif op < 0.90 and isinstance(container, list):
            container.insert(key, json.loads(json.dumps(container[key])))
        elif isinstance(container[key], int | float) and not isinstance(container[key], bool):
            container[key] = rng.choice([-1, -container[key], container[key] * 10**6, 10**9 + 1])
        else:
            container[key] = hostile(rng)
    return doc


def mutate_text(text: str, rng: random.Random) -> str:
    if not text:
        return text
    op = rng.random()
    i = rng.randrange(len(text))
    if op < 0.25:
        return text[:i]
    if op < 0.50:
        return text[:i] + chr(rng.choice([0, 9, 10, 34, 39, 44, 58, 91, 93, 123, 125, 0x2028, 0xFEFF])) + text[i + 1 :]
    if op < 0.70:
        return text[:i] + rng.choice(["9" * 5000, "-" * 300, "[" * 5000, "{" * 3000, "\\ud800", "1e99999"]) + text[i:]
    if op < 0.85:
        return text[:i] + text[i : i + rng.randint(1, 400)] * rng.randint(2, 20) + text[i:]
    return "\ufeff" + text if op < 0.9 else text.replace('"', "'", 3)


def dump_json(doc: Any) -> str:
    text = json.dumps(doc, ensure_ascii=False)
    return text.replace(json.dumps(HUGE), "9" * 5000)


# ---- corpora --------------------------------------------------------------------------------------------------
def load_corpora() -> dict[str, list[Any]]:
    fhir = [p.read_text("utf-8") for p in sorted((ROOT / "examples" / "fhir").glob("*.json"))]
    cases = [p.read_text("utf-8") for p in sorted((ROOT / "examples" / "cases").glob("*.yaml"))]
    studies: list[str] = []
    xml: list[str] = []
    for base in (ROOT / "tests" / "data" / "trials", SHARED_TRIALS):
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            if p.suffix == ".xml" and len(xml) < 200:
                xml.append(p.read_text("utf-8", errors="replace"))
            elif p.suffix == ".json" and p.stat().st_size < 2_000_000:
                try:
                    doc = json.loads(p.read_text("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    continue
                found = doc.get("studies") if isinstance(doc, dict) else None
                studies += [json.dumps(s) for s in (found if isinstance(found, list) else [doc]) if isinstance(s, dict)]
    criteria = []
    for s in studies:
        text = json.loads(s).get("protocolSection", {}).get("eligibilityModule", {}).get("eligibilityCriteria")
        if isinstance(text, str) and text.strip():
            criteria.append(text)
    case_data = [json.dumps(yaml.load(t, Loader=yaml.CSafeLoader), default=str) for t in cases]
    small = [s for s in studies if len(s) < 200_000]  # a 1.5 MB full record would dominate the time
    return {"fhir": fhir, "case": cases, "case_data": case_data, "study": small, "xml": xml, "criteria": criteria}


# ---- case generation (parent) ---------------------------------------------------------------------------------
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def fhir_case(corpora: dict[str, list[Any]], rng: random.Random) -> tuple[str, bytes]:
    doc = json.loads(rng.choice(corpora["fhir"]))
    entries = doc.get("entry", [])
    if rng.random() < 0.85 and len(entries) > 5:  # a smaller record: faster, and mutations are not drowned out
        keep = entries[:2] + rng.sample(entries[2:], rng.randint(1, 3))
        doc["entry"] = keep
    doc = mutate_tree(doc, rng, rng.randint(1, 4))
    text = dump_json(doc)
    suffix = ".json"
    r = rng.random()
    if r < 0.15:
        text = mutate_text(text, rng)
    elif r < 0.22:  # NDJSON of the entries
        suffix = ".ndjson"
        listed = doc.get("entry")
        entries = listed if isinstance(listed, list) else [doc]
        text = "\n".join(dump_json(e.get("resource") if isinstance(e, dict) else e) for e in entries)
        text = mutate_text(text, rng) if rng.random() < 0.3 else text
    return suffix, text.encode("utf-8", "surrogatepass")


class _Dumper(yaml.CSafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # write shared values out: aliases are a separate mutation
        return True


def case_case(corpora: dict[str, list[Any]], rng: random.Random) -> tuple[str, bytes]:
    which = rng.randrange(len(corpora["case"]))
    text = corpora["case"][which]
    r = rng.random()
    if r < 0.45:
        data = mutate_tree(json.loads(corpora["case_data"][which]), rng, rng.randint(1, 3))
        try:  # JSON is YAML (flow style): half the cases are written so, half in block style
            dumped = (
                dump_json(data)
                if rng.random() < 0.5
                else yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False)
            )
            text = dumped.replace(HUGE, "7" * 5000)
        except (UnicodeEncodeError, yaml.YAMLError, RecursionError):
            text = mutate_text(text, rng)
    elif r < 0.55:
        text = text + BOMB
    elif r < 0.62:
        n = rng.choice([40, 1000, 100_000])
        text = text + "extra: " + ("[" * n + "]" * n if rng.random() < 0.5 else "- " * n + "x") + "\n"
    elif r < 0.70:
        text = text.replace("percent: ", "percent: " + "1" * rng.choice([4300, 4301, 20000]), 1)
    elif r < 0.78:
        stamp = rng.choice(["2024-01-01 10:00:00+99:00", "2024-02-30", "2024-13-01", "0000-01-01", "2024-1-1 25:61"])
        text = text.replace('"', "", 2).replace("date: ", f"date: {stamp} #", 1)
    elif r < 0.84:
        tag = rng.choice(["&x ", "!!binary ", "!!python/object:os.system ", "<<: ", "? ", "!!set ", "!!omap "])
        if rng.random() < 0.6:  # an explicit scalar tag on a value it does not fit
            tag = rng.choice(["!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!null ", "!!str "])
            tag += rng.choice(['""', '"x"', "1e5", ".nan", "-.inf", "0x", "2024-01-01T99:00:00", "maybe", "[1]"])
            text = re.sub(r"(percent|cps|ecog|date|status): [^,}\n]+", rf"\1: {tag}", text, count=1)
        else:
            i = rng.randrange(len(text))
            text = text[:i] + tag + text[i:]
    else:
        text = mutate_text(text, rng)
    return ".yaml", text.encode("utf-8", "surrogatepass")


def trial_case(corpora: dict[str, list[Any]], rng: random.Random) -> tuple[str, bytes]:
    if corpora["xml"] and rng.random() < 0.2:
        return ".xml", mutate_text(rng.choice(corpora["xml"]), rng).encode("utf-8", "surrogatepass")
    doc = mutate_tree(json.loads(rng.choice(corpora["study"])), rng, rng.randint(1, 4))
    text = dump_json(doc)
    if rng.random() < 0.15:
        text = mutate_text(text, rng)
    if rng.random() < 0.1:
        return ".ndjson", text.replace("\n", " ").encode("utf-8", "surrogatepass")
    return ".json", text.encode("utf-8", "surrogatepass")


def criteria_case(corpora: dict[str, list[Any]], rng: random.Random) -> tuple[str, bytes]:
    text = rng.choice(corpora["criteria"])
    if rng.random() < 0.9:  # one or a few criteria rather than the whole text: quicker, mutations count more
        lines = text.splitlines()
        i = rng.randrange(len(lines))
        text = "\n".join(lines[i : i + rng.randint(1, 4)])
    for _ in range(rng.randint(1, 3)):
        text = mutate_text(text, rng)
    if rng.random() < 0.1:
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice(["-", "=", "*", ".", " "]) * rng.randint(20, 400) + text[i:]
    return "", text[:20_000].encode("utf-8", "surrogatepass")


MAKERS = {"fhir": fhir_case, "case": case_case, "trial": trial_case, "criteria": criteria_case}


# ---- worker ---------------------------------------------------------------------------------------------------
def signature(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "mbcnav" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].name}" if frames else "?"
    return f"{type(exc).__name__} at {where}: {str(exc)[:100]!r}"


def run_one(kind: str, suffix: str, payload: bytes, workdir: Path) -> tuple[str, str]:
    """('ok' | 'clean' | 'crash', detail)."""
    from mbcnav.options import recommend
    from mbcnav.pathway import assess_with_response
    from mbcnav.record.reader import UnusableInput, read_path
    from mbcnav.trials.criteria import parse_criteria
    from mbcnav.trials.records import RecordProblem, iter_file

    try:
        if kind == "criteria":
            parse_criteria(payload.decode("utf-8", "surrogatepass"))
            return "ok", ""
        path = workdir / f"input{suffix}"
        path.write_bytes(payload)
        if kind == "trial":
            outcomes = [x for _, x in iter_file(path, path.name)]
            return ("clean", "") if any(isinstance(x, RecordProblem) for x in outcomes) else ("ok", "")
        try:
            record = read_path(path, today=TODAY)
        except UnusableInput as err:
            if not err.message.strip():
                return "crash", "UnusableInput without a message"
            return "clean", ""
        assessment, _ = assess_with_response(record, as_of=TODAY)
        json.dumps(assessment.to_json(), ensure_ascii=False, allow_nan=False).encode("utf-8")
        json.dumps(recommend(assessment).as_json(assessment), ensure_ascii=False, allow_nan=False).encode("utf-8")
        return "ok", ""
    except Exception as exc:  # every other exception is what this run looks for
        return "crash", f"{kind}: {signature(exc)}"


def worker(conn: Connection) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    sys.setrecursionlimit(3000)
    with tempfile.TemporaryDirectory(prefix="mbcnav-fuzz-") as tmp:
        run_one("criteria", "", b"Inclusion Criteria:\n* adults", Path(tmp))  # import and warm caches
        example = sorted((ROOT / "examples" / "fhir").glob("*.json"))[0]
        run_one("fhir", ".json", example.read_bytes(), Path(tmp))
        conn.send("ready")
        while True:
            try:
                job = conn.recv()
            except EOFError:
                return
            if job is None:
                return
            kind, suffix, payload = job
            c0 = time.process_time()
            result, detail = run_one(kind, suffix, payload, Path(tmp))
            conn.send((result, detail, time.process_time() - c0))


class Worker:
    def __init__(self) -> None:
        self.conn, child = Pipe()
        self.proc = Process(target=worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.conn.recv()  # "ready"
        self.job: tuple[int, str, float] | None = None  # case number, kind, deadline
        self.head = ""  # the beginning of the input, to name a hang

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


# ---- main -----------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--show", type=int, default=12, help="crash signatures to print")
    parser.add_argument("--kinds", default="fhir,case,trial,criteria", help="which inputs (comma-separated)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rng = random.Random(args.seed)
    corpora = load_corpora()
    chosen = set(args.kinds.split(","))
    kinds = [k for k, _ in MIX if k in chosen]
    weights = [w for k, w in MIX if k in chosen]
    generating = 0.0

    def jobs() -> Iterator[tuple[int, str, str, bytes]]:
        """Cases made on demand (while the workers run), always in the same order for a seed."""
        nonlocal generating
        for n in range(args.cases):
            g0 = time.process_time()
            kind = rng.choices(kinds, weights)[0]
            suffix, payload = MAKERS[kind](corpora, rng)
            generating += time.process_time() - g0
            yield n, kind, suffix, payload

    outcome: Counter[str] = Counter()
    by_kind: Counter[tuple[str, str]] = Counter()
    crashes: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    hangs: list[str] = []
    workers = [Worker() for _ in range(max(1, args.workers))]
    todo = jobs()
    pending = next(todo, None)

    cpu_by_kind: Counter[str] = Counter()

    def record(n: int, kind: str, result: str, detail: str) -> None:
        outcome[result] += 1
        by_kind[(kind, result)] += 1
        if detail and result == "crash":
            crashes[detail] += 1
            first_seen.setdefault(detail, n)
        elif detail:
            hangs.append(detail)

    while pending is not None or any(w.job for w in workers):
        for w in workers:
            if w.job is None and pending is not None:
                n, kind, suffix, payload = pending
                w.conn.send((kind, suffix, payload))
                w.job = (n, kind, time.monotonic() + TIMEOUT[kind])
                w.head = payload[:80].decode("utf-8", "replace")
                pending = next(todo, None)
        busy = [w for w in workers if w.job]
        nearest = min(w.job[2] for w in busy if w.job) - time.monotonic()
        ready = wait([w.conn for w in busy], timeout=max(0.0, nearest))
        for i, w in enumerate(workers):
            if w.job is None:
                continue
            n, kind, deadline = w.job
            if w.conn in ready:
                try:
                    result, detail, spent = w.conn.recv()
                    cpu_by_kind[kind] += spent
                except (EOFError, OSError):
                    w.proc.join(2)
                    result, detail = "crash", f"{kind}: worker died (exit {w.proc.exitcode}; a signal is negative)"
                    w.stop()
                    workers[i] = Worker()
                else:
                    w.job = None
                record(n, kind, result, detail)
            elif time.monotonic() >= deadline:
                record(n, kind, "hang", f"{kind}: case {n} over {TIMEOUT[kind]:g} s, input begins {w.head!r}")
                w.stop()
                workers[i] = Worker()
    for w in workers:
        w.conn.send(None)
        w.stop()

    total = time.perf_counter() - t0
    print(f"mbcnav input fuzz — seed {args.seed}, {args.workers} worker(s), {total:.1f} s", end="")
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(f"; CPU {cpu:.1f} s, of which {generating:.1f} s making cases (wall time depends on the machine's load)")
    n_cases = sum(outcome.values())
    print(f"  cases {n_cases} / clean errors {outcome['clean']} / crashes {outcome['crash']} / hangs {outcome['hang']}")
    for kind in kinds:
        row = {r: by_kind[(kind, r)] for r in ("ok", "clean", "crash", "hang")}
        per_case = 1000 * cpu_by_kind[kind] / max(1, sum(row.values()))
        print(f"  {kind:9} " + "  ".join(f"{r} {c}" for r, c in row.items()) + f"  ({per_case:.1f} ms CPU/case)")
    if crashes:
        print(f"  first crash signatures ({len(crashes)} distinct):")
        for detail, count in sorted(crashes.items(), key=lambda kv: first_seen[kv[0]])[: args.show]:
            print(f"    {count:5} x {detail} (first: case {first_seen[detail]})")
    for detail in hangs[: args.show]:
        print(f"  hang: {detail}")
    return 1 if outcome["crash"] or outcome["hang"] else 0


if __name__ == "__main__":
    sys.setrecursionlimit(5000)  # deep values are built and serialised here (600 levels)
    sys.exit(main())
