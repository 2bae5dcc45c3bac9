"""Benchmark: the service on uvicorn (127.0.0.1, a free port, one worker in its own process, a fresh registry).

Measures the import of one patient (POST /api/v1/patients of the example records, each as a new patient: p50/p95
over --imports imports, and the registry's own share, `Registry.import_document` without HTTP or evaluation),
then GET /api/v1/patients/{id}/options — first read of each patient (evaluated) and repeated reads (the evaluation
cache) — with 1 and 50 concurrent clients for --seconds each. Prints figures; asserts nothing.

Run: `python benchmarks/bench_service.py [--seconds 10] [--imports 30] [--postgres URL]` (SQLite in a temporary
folder always; with --postgres also PostgreSQL, in a schema of its own that is dropped afterwards).
Each client is its own clinician (its own token subject) on its own connection; the rate limit is off.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mbcnav.service.audit import audit_event
from mbcnav.service.auth import issue_token
from mbcnav.service.records import document
from mbcnav.service.registry import Registry, resolve_url
from mbcnav.trials.store import display_url

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "fhir").glob("*.json"))

# The server: the app as `mbcnav serve` builds it, without the rate limit and without warming the trial store.
SERVER = """
import sys, uvicorn
from mbcnav.service.app import create_app
from mbcnav.service.settings import Settings
url, trials, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = create_app(Settings(db_url=url, trials_db_url=trials, rate_per_second=0, warm_trials=False))
uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning", server_header=False)
"""


# ---- databases and the server ------------------------------------------------------------------------------------
@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A schema of its own on the PostgreSQL database at `base_url`, dropped afterwards (the URL selects it)."""
    from sqlalchemy import create_engine, make_url

    base = make_url(resolve_url(base_url))
    schema = f"mbcnav_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def backend(name: str, folder: Path, postgres: str | None = None) -> Iterator[str]:
    if name == "sqlite":
        yield f"sqlite:///{folder / 'registry.db'}"
    else:
        assert postgres is not None
        with postgres_schema(postgres) as url:
            yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    base: str
    pid: int

    def cpu(self) -> float:
        """CPU seconds the server process has used so far (Linux /proc; NaN elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@contextmanager
def server(url: str, folder: Path) -> Iterator[Server]:
    """uvicorn serving the app on a free port of 127.0.0.1 (its own process)."""
    port = free_port()
    trials = f"sqlite:///{folder / 'trials.db'}"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, url, trials, str(port)], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- records and tokens ------------------------------------------------------------------------------------------
def example_records(n: int, tag: str) -> list[dict[str, Any]]:
    """`n` records cycling through examples/fhir, each a new patient (its Patient id made unique)."""
    records = []
    originals = [json.loads(p.read_text()) for p in EXAMPLES]
    for i in range(n):
        bundle = copy.deepcopy(originals[i % len(originals)])
        for entry in bundle.get("entry", []):
            if entry["resource"].get("resourceType") == "Patient":
                entry["resource"]["id"] = f"{tag}-{i}"
                entry["resource"].pop("identifier", None)
        records.append(bundle)
    return records


def tokens(url: str, prefix: str, n: int) -> list[dict[str, str]]:
    with Registry(url) as registry:
        secret = registry.token_secret()
    return [
        {"Authorization": f"Bearer {issue_token(secret, sub=f'{prefix}-{k}', role='clinician', hours=2)}"}
        for k in range(n)
    ]


# ---- measuring ---------------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Run:
    """Latencies (seconds) and statuses of one measurement."""

    label: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    by_route: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    server_cpu: float = float("nan")  # CPU seconds the server used during the run
    client_cpu: float = float("nan")  # CPU seconds this process (the clients) used during the run

    def add(self, route: str, status: int, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.by_route.setdefault(route, []).append((status, latency))

    def part(self, route: str) -> Run:
        """The requests of one route (same duration)."""
        part = Run(route, self.seconds)
        for status, latency in self.by_route.get(route, []):
            part.add(route, status, latency)
        return part

    @property
    def errors(self) -> dict[int, int]:
        return {s: n for s, n in sorted(self.statuses.items()) if s >= 400}

    def row(self) -> str:
        lat = self.latencies
        rps = len(lat) / self.seconds if self.seconds else float("nan")
        errors = ", ".join(f"{s}: {n}" for s, n in self.errors.items()) or "none"
        per_request = self.server_cpu / len(lat) * 1000 if lat else float("nan")
        cpu = "-" if per_request != per_request else f"{per_request:.1f}"  # NaN: not measured
        busy = "-"
        if self.seconds and self.server_cpu == self.server_cpu and self.client_cpu == self.client_cpu:
            busy = f"{self.server_cpu / self.seconds:.0%}/{self.client_cpu / self.seconds:.0%}"
        return (
            f"  {self.label:<34} {len(lat):>8} {pct(lat, 50) * 1000:>8.1f} {pct(lat, 95) * 1000:>8.1f} "
            f"{pct(lat, 99) * 1000:>8.1f} {rps:>8.1f} {cpu:>9} {busy:>10}   {errors}"
        )


HEADER = (
    f"  {'':<34} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} {'srv CPU':>9} "
    f"{'CPU busy':>10}   errors\n"
    f"  {'':<34} {'':>8} {'':>8} {'':>8} {'':>8} {'':>8} {'ms/req':>9} {'srv/client':>10}"
)


async def load(
    srv: Server,
    headers: list[dict[str, str]],
    paths: list[tuple[str, str]],
    seconds: float,
    label: str,
) -> Run:
    """len(headers) clients, each on its own connection, requesting `paths` (route label, URL path) round-robin
    for `seconds`; every client starts at a different place in the list."""
    run = Run(label)
    stop = time.perf_counter() + seconds

    async def client(k: int, h: dict[str, str]) -> None:
        async with httpx.AsyncClient(base_url=srv.base, headers=h, timeout=60) as c:
            i = k
            while time.perf_counter() < stop:
                route, path = paths[i % len(paths)]
                i += 1
                t0 = time.perf_counter()
                try:
                    r = await c.get(path)
                    await r.aread()
                    status = r.status_code
                except httpx.HTTPError:
                    status = 599  # no answer (connection refused, reset, timeout)
                run.add(route, status, time.perf_counter() - t0)

    t0, cpu0, own0 = time.perf_counter(), srv.cpu(), time.process_time()
    await asyncio.gather(*(client(k, h) for k, h in enumerate(headers)))
    run.seconds, run.server_cpu = time.perf_counter() - t0, srv.cpu() - cpu0
    run.client_cpu = time.process_time() - own0
    return run


async def warm_users(srv: Server, headers: list[dict[str, str]]) -> None:
    """Each client's first request, one after the other (the registry notes a new user on her first request)."""
    async with httpx.AsyncClient(base_url=srv.base, timeout=60) as c:
        for h in headers:
            (await c.get("/api/v1/patients", params={"limit": 1}, headers=h)).raise_for_status()


def import_over_http(srv: Server, header: dict[str, str], records: list[dict[str, Any]]) -> tuple[list[str], Run]:
    run = Run("POST /patients (import, HTTP)")
    ids = []
    t_all, cpu0 = time.perf_counter(), srv.cpu()
    with httpx.Client(base_url=srv.base, headers=header, timeout=120) as c:
        for bundle in records:
            body = json.dumps(bundle).encode()
            t0 = time.perf_counter()
            r = c.post("/api/v1/patients", content=body, headers={"Content-Type": "application/fhir+json"})
            run.add("import", r.status_code, time.perf_counter() - t0)
            if r.status_code == 201:
                ids.append(r.json()["id"])
    run.seconds, run.server_cpu = time.perf_counter() - t_all, srv.cpu() - cpu0
    return ids, run


def import_registry_only(url: str, records: list[dict[str, Any]]) -> Run:
    """The registry's share of an import: one transaction (merge lookup, version, identifiers, audit)."""
    run = Run("Registry.import_document only")
    docs = [document(b, "fhir") for b in records]
    with Registry(url) as registry:
        t_all = time.perf_counter()
        for doc in docs:
            event = audit_event(action="C", outcome="0", subject="bench", role="clinician", route="/api/v1/patients")
            t0 = time.perf_counter()
            registry.import_document(doc, subject="bench", summary={}, audit=event)
            run.add("import", 201, time.perf_counter() - t0)
        run.seconds = time.perf_counter() - t_all
    return run


def cold_reads(srv: Server, header: dict[str, str], ids: list[str], route: str) -> Run:
    run = Run(f"GET {route} first read (1 client)")
    t_all, cpu0 = time.perf_counter(), srv.cpu()
    with httpx.Client(base_url=srv.base, headers=header, timeout=120) as c:
        for pid in ids:
            t0 = time.perf_counter()
            r = c.get(f"/api/v1/patients/{pid}/{route}")
            run.add(route, r.status_code, time.perf_counter() - t0)
    run.seconds, run.server_cpu = time.perf_counter() - t_all, srv.cpu() - cpu0
    return run


def bench(name: str, url: str, folder: Path, args: argparse.Namespace) -> None:
    print(f"\n{name}: {display_url(url).split('?')[0] if name == 'postgresql' else 'SQLite (temporary file)'}")
    records = example_records(args.imports, f"bench-{uuid.uuid4().hex[:6]}")
    size = statistics.mean(len(json.dumps(b)) for b in records) / 1024
    runs = [import_registry_only(url, example_records(args.imports, f"reg-{uuid.uuid4().hex[:6]}"))]
    with server(url, folder) as srv:
        headers = tokens(url, "bench-clinician", max(args.clients))
        asyncio.run(warm_users(srv, headers))
        _ids, first = import_over_http(srv, headers[0], example_records(1, f"warm-{uuid.uuid4().hex[:6]}"))
        first.label = "POST /patients, first after start"
        ids, http_run = import_over_http(srv, headers[0], records)
        runs[:0] = [first, http_run]
        runs.append(cold_reads(srv, headers[0], ids, "options"))
        paths = [("options", f"/api/v1/patients/{pid}/options") for pid in ids]
        for n in args.clients:
            runs.append(asyncio.run(load(srv, headers[:n], paths, args.seconds, f"GET options, {n} client(s)")))
    print(f"  {len(records)} imports of examples/fhir records (mean {size:.0f} KiB), {args.seconds:g} s per load")
    print(HEADER)
    for run in runs:
        print(run.row())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10, help="duration of each GET measurement (default 10)")
    ap.add_argument("--imports", type=int, default=30, help="patients imported (default 30)")
    ap.add_argument("--clients", default="1,50", help="concurrent clients, comma-separated (default 1,50)")
    ap.add_argument("--postgres", metavar="URL", help="also run against this PostgreSQL database")
    args = ap.parse_args()
    args.clients = [int(c) for c in str(args.clients).split(",") if c.strip()]
    print(f"service benchmark — uvicorn, 1 worker, 127.0.0.1; {os.cpu_count()} CPUs (client and server share them)")
    with tempfile.TemporaryDirectory(prefix="mbcnav-bench-") as tmp:
        names = ["sqlite"] + (["postgresql"] if args.postgres else [])
        for name in names:
            folder = Path(tmp) / name
            folder.mkdir()
            with backend(name, folder, args.postgres) as url:
                bench(name, url, folder, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
