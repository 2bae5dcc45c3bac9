"""Load test: --clients concurrent clients (default 50) for --seconds (default 60) against the service on uvicorn
(127.0.0.1, one worker in its own process, a fresh registry holding the example patients), each client its own
clinician on its own connection, requesting a mix of routes: the patient list, assessment, options, response and
the FHIR record. Prints p50/p95/p99 latency overall and per route, throughput, and the errors by status; asserts
nothing (a bounded test: it stops after --seconds).

Run: `python benchmarks/bench_service_load.py [--clients 50] [--seconds 60] [--patients 14] [--db URL]`
(default: SQLite in a temporary folder; --db postgresql://… runs on PostgreSQL, in a schema of its own that is
dropped afterwards). The rate limit is off (it would answer 429 to a load test by design).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

from bench_service import (
    HEADER,
    Server,
    backend,
    example_records,
    import_over_http,
    load,
    pct,
    server,
    tokens,
    warm_users,
)

# (route label, path template) — {id} is one of the imported patients, a different one each request
MIX = [
    ("list", "/api/v1/patients?limit=20"),
    ("assessment", "/api/v1/patients/{id}/assessment"),
    ("options", "/api/v1/patients/{id}/options"),
    ("response", "/api/v1/patients/{id}/response"),
    ("fhir", "/api/v1/patients/{id}/fhir"),
]


def mix(ids: list[str]) -> list[tuple[str, str]]:
    """The request sequence: each route in turn, cycling through the patients."""
    paths = []
    for i in range(len(ids) * len(MIX)):
        route, template = MIX[i % len(MIX)]
        paths.append((route, template.format(id=ids[(i // len(MIX)) % len(ids)])))
    return paths


def warm_up(srv: Server, header: dict[str, str], paths: list[tuple[str, str]]) -> None:
    """One read of each route and patient first: the load measures a running service, not its warm-up."""
    with httpx.Client(base_url=srv.base, headers=header, timeout=120) as c:
        for _route, path in paths:
            c.get(path).raise_for_status()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    ap.add_argument("--seconds", type=float, default=60, help="duration (default 60)")
    ap.add_argument("--patients", type=int, default=14, help="patients imported first (default 14: examples/fhir)")
    ap.add_argument("--db", metavar="URL", help="a PostgreSQL database to run on instead of a temporary SQLite file")
    args = ap.parse_args()
    kind = "postgresql" if args.db else "sqlite"
    with (
        tempfile.TemporaryDirectory(prefix="mbcnav-load-") as tmp,
        backend(kind, Path(tmp), args.db) as url,
        server(url, Path(tmp)) as srv,
    ):
        headers = tokens(url, "load-clinician", args.clients)
        asyncio.run(warm_users(srv, headers))
        ids, imports = import_over_http(srv, headers[0], example_records(args.patients, f"load-{uuid.uuid4().hex[:6]}"))
        if imports.errors:
            print(f"bench_service_load: imports failed: {imports.errors}", file=sys.stderr)
            return 1
        warm_up(srv, headers[0], mix(ids))
        run = asyncio.run(load(srv, headers, mix(ids), args.seconds, f"all routes, {args.clients} clients"))
    print(
        f"service load test — {kind}, uvicorn 1 worker on 127.0.0.1, {args.clients} clients for {args.seconds:g} s, "
        f"{len(ids)} patients; {os.cpu_count()} CPUs shared by clients and server"
    )
    print(HEADER)
    print(run.row())
    for route, _template in MIX:
        part = run.part(route)
        part.label = f"  {route}"
        print(part.row())
    total = sum(run.statuses.values())
    print(f"  throughput: {total / run.seconds:.1f} requests/s over {run.seconds:.1f} s; {total} requests")
    print(f"  statuses: {', '.join(f'{s}: {n}' for s, n in sorted(run.statuses.items()))}")
    errors = sum(run.errors.values())
    print(f"  errors: {errors} ({', '.join(f'{s}: {n}' for s, n in run.errors.items()) or 'none'})")
    slowest, p999 = max(run.latencies, default=0) * 1000, pct(run.latencies, 99.9) * 1000
    print(f"  slowest request: {slowest:.0f} ms; p99.9 {p999:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
