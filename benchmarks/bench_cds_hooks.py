"""Benchmark of the CDS Hooks patient-view service: p50/p95 latency with 1 and 50 concurrent clients on 127.0.0.1.

The service runs on uvicorn in its own process (one worker, a fresh SQLite registry in a temporary folder, the rate
limit off), as `mbcnav serve` builds it. Each request is a patient-view call for one of the example patients
with its full prefetch (Patient, Conditions, Observations, medicines, procedures, specimens), signed with an `ehr`
token of the embedded issuer; each call is audited, as in production. First each example patient is called once in
turn (a chart the service has not seen: the record is read and evaluated), then the concurrent phases run on charts
already seen (an EHR calls patient-view each time the chart is opened). Target: p95 < 150 ms. Prints, asserts
nothing.

Run: `python benchmarks/bench_cds_hooks.py [--requests 600] [--clients 1 50] [--workers 1]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "fhir"
_TYPES = {
    "conditions": "Condition",
    "observations": "Observation",
    "medicationRequests": "MedicationRequest",
    "medicationStatements": "MedicationStatement",
    "medicationAdministrations": "MedicationAdministration",
    "procedures": "Procedure",
    "specimens": "Specimen",
}


def app_factory() -> Any:
    """The app uvicorn serves (`--factory`): mbcnav's service with the CDS Hooks router."""
    from mbcnav.service.app import create_app
    from mbcnav.service.settings import Settings

    folder = Path(os.environ["MBCNAV_BENCH_DIR"])
    settings = Settings(
        db_url=f"sqlite:///{folder / 'registry.db'}",
        trials_db_url=f"sqlite:///{folder / 'trials.db'}",
        rate_per_second=0,
        warm_trials=False,
        today=date(2026, 11, 26),
    )
    return create_app(settings)  # the CDS Hooks router is part of the app


def request_for(path: Path) -> dict[str, Any]:
    resources = [e["resource"] for e in json.loads(path.read_text())["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    prefetch: dict[str, Any] = {"patient": patient}
    for key, rtype in _TYPES.items():
        hits = [r for r in resources if r["resourceType"] == rtype]
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in hits]}
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench", "patientId": patient["id"]},
        "prefetch": prefetch,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def phase(
    base: str, headers: dict[str, str], bodies: list[bytes], clients: int, total: int
) -> tuple[list[float], int, float]:
    """`total` requests spread over `clients` concurrent clients (each its own connection)."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def one_client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as c:
            for i in counter:
                start = time.perf_counter()
                r = await c.post("/cds-services/mbcnav-patient-view", content=bodies[i % len(bodies)])
                latencies.append((time.perf_counter() - start) * 1000)
                if r.status_code != 200 or not r.json().get("cards"):
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies, errors, time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=600, help="requests per concurrency level (default 600)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 50], help="concurrency levels (default 1 50)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    args = ap.parse_args()
    bodies = [json.dumps(request_for(p)).encode() for p in sorted(EXAMPLES.glob("*.json"))]
    with tempfile.TemporaryDirectory(prefix="mbcnav-cds-bench-") as tmp:
        from mbcnav.service.auth import issue_token
        from mbcnav.service.registry import Registry

        with Registry(f"sqlite:///{Path(tmp) / 'registry.db'}") as registry:
            token = issue_token(registry.token_secret(), sub="bench-ehr", role="ehr")
        port = free_port()
        env = {**os.environ, "MBCNAV_BENCH_DIR": tmp, "PYTHONPATH": str(Path(__file__).parent)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench_cds_hooks:app_factory",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--workers",
                str(args.workers),
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            cold: list[float] = []
            with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
                for body in bodies:  # each chart once: read + evaluate + cards
                    start = time.perf_counter()
                    c.post("/cds-services/mbcnav-patient-view", content=body).raise_for_status()
                    cold.append((time.perf_counter() - start) * 1000)
            print(
                f"patient-view, {len(bodies)} example charts, prefetch included, uvicorn {args.workers} worker(s) on "
                "127.0.0.1"
            )
            print(f"  first call per chart (cold): p50 {pct(cold, 50):6.1f} ms  p95 {pct(cold, 95):6.1f} ms")
            for clients in args.clients:
                lat, errors, seconds = asyncio.run(phase(base, headers, bodies, clients, args.requests))
                verdict = "meets" if pct(lat, 95) < 150 else "misses"
                print(
                    f"  {clients:>3} client(s): {len(lat)} requests, p50 {pct(lat, 50):6.1f} ms"
                    f"  p95 {pct(lat, 95):6.1f} ms  p99 {pct(lat, 99):6.1f} ms"
                    f"  {len(lat) / seconds:6.1f} req/s  errors {errors}"
                    f"  ({verdict} the p95 < 150 ms target)"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
