"""The registry under failure and contention, on SQLite and (with MBCNAV_TEST_DATABASE_URL) PostgreSQL:

- `kill -9` of a process in the middle of its imports leaves a consistent store holding every committed import;
- concurrent imports of one patient (threads, processes, HTTP requests) all land as versions 1..N, each merged
  onto the one before, each with its create AuditEvent."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import text

from mbcnav.service.records import read_bundle
from mbcnav.service.registry import Registry

from .service_helpers import (
    BACKENDS,
    ROOT,
    auth,
    import_bundle,
    make_app,
    patient_bundle,
    registry_url,
    resource_ids,
)

# A child process that imports `count` records, one version each of `patients` patients, and prints one line after
# each committed import. With `--wait` it starts importing only when it reads a line on stdin.
CHILD = """
import sys
from mbcnav.service.registry import Registry
from tests.service_helpers import import_bundle, patient_bundle

url, patient, extra, count, patients, wait = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), \\
    int(sys.argv[5]), sys.argv[6] == "--wait"
registry = Registry(url)
print("ready", flush=True)
if wait:
    sys.stdin.readline()
for i in range(count):
    done = import_bundle(registry, patient_bundle(f"{patient}-{i % patients}", f"{extra}-{i}"), subject=extra)
    print(f"imported {done.id} {done.version}", flush=True)
registry.close()
"""


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with registry_url(request.param, tmp_path) as u:
        yield u


def child(
    url: str, patient: str, extra: str, count: int, patients: int = 1, *, wait: bool = False
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = [sys.executable, "-c", CHILD, url, patient, extra, str(count), str(patients), "--wait" if wait else "-"]
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def read_line(stream: IO[str], timeout: float = 60) -> str:
    """One line of a child's output (a child that hangs fails the test instead of blocking it)."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        raise AssertionError(f"no output from the child in {timeout} s")
    return box[0]


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    """Wait for a child, then the rest of its output (read through the same buffered streams as `read_line`:
    `communicate` would read the pipes underneath and miss lines already buffered)."""
    proc.wait(timeout)
    assert proc.stdout is not None and proc.stderr is not None
    return proc.stdout.read(), proc.stderr.read()


def versions_of(registry: Registry) -> dict[str, int]:
    rows, _total = registry.patients(limit=200)
    return {r.id: r.latest_version for r in rows}


def creates(registry: Registry, pid: str) -> list[int]:
    """The versions named by the patient's successful create AuditEvents, sorted."""
    events, _total = registry.audit_events(patient_id=pid, limit=1000)
    return sorted(
        int(e["entity"][0]["detail"][0]["valueString"]) for e in events if e["action"] == "C" and e["outcome"] == "0"
    )


def assert_merged_versions(registry: Registry, pid: str, extras: set[str]) -> None:
    """Versions 1..N, each holding the one before plus one import's Observation, the last holding them all, and
    one create AuditEvent per version."""
    latest = versions_of(registry)[pid]
    assert latest == len(extras)
    assert [v["version"] for v in registry.versions(pid)] == list(range(1, latest + 1))
    previous: set[str] = set()
    for version in range(1, latest + 1):
        stored = registry.bundle(pid, version)
        assert stored is not None
        held = resource_ids(stored[1], "Observation")
        assert previous < held and len(held) == version, f"version {version} does not extend the one before"
        previous = held
    assert previous == extras
    assert creates(registry, pid) == list(range(1, latest + 1))
    assert registry.check() == []


# ---- kill -9 during imports ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_during_imports_leaves_a_consistent_store(url: str, seed: int) -> None:
    rng = random.Random(seed)
    Registry(url).close()  # the schema exists before the child starts: the kill lands in imports, not migrations
    proc = child(url, f"kill{seed}", f"obs{seed}", count=10_000, patients=3)
    assert proc.stdout is not None
    printed = 0
    try:
        assert read_line(proc.stdout).strip() == "ready", proc.stderr.read() if proc.stderr else ""
        target = rng.randint(2, 25)
        while printed < target:
            line = read_line(proc.stdout)
            assert line.startswith("imported"), line or (proc.stderr.read() if proc.stderr else "")
            printed += 1
        time.sleep(rng.uniform(0, 0.03))  # somewhere inside a later import: reading, merging, writing, committing
    finally:
        proc.send_signal(signal.SIGKILL)
        rest, _err = finish(proc)
    assert proc.returncode == -signal.SIGKILL
    printed += sum(1 for line in rest.splitlines() if line.startswith("imported"))

    with Registry(url) as registry:
        assert registry.check() == []
        stored = versions_of(registry)
        total = sum(stored.values())
        # the kill may come after an import's commit and before its line was printed
        assert total in (printed, printed + 1), f"{total} versions stored, {printed} imports reported"
        for pid, latest in stored.items():
            assert creates(registry, pid) == list(range(1, latest + 1))
            for version in range(1, latest + 1):
                found = registry.bundle(pid, version)
                assert found is not None and found[0] == version
                assert len(resource_ids(found[1], "Observation")) == version
                read_bundle(found[1])  # every stored version is a readable record
        if registry.dialect == "sqlite":
            with registry.read() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"


# ---- concurrent imports of one patient ----------------------------------------------------------------------------
def test_concurrent_imports_in_threads_keep_every_version(url: str) -> None:
    threads, each = 8, 3
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(each):
                import_bundle(registry, patient_bundle("same", f"t{n}-{i}"), subject=f"thread-{n}")
        except BaseException as exc:  # reported below, with the thread's own error
            errors.append(exc)

    with Registry(url) as registry:
        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        assert not errors, errors
        stored = versions_of(registry)
        assert len(stored) == 1, "the concurrent imports made more than one registry patient"
        assert_merged_versions(registry, next(iter(stored)), {f"t{n}-{i}" for n in range(threads) for i in range(each)})


def test_concurrent_imports_in_two_processes_keep_every_version(url: str) -> None:
    each = 15
    Registry(url).close()
    procs = [child(url, "shared", f"proc{n}", count=each, wait=True) for n in range(2)]
    try:
        for p in procs:
            assert p.stdout is not None
            assert read_line(p.stdout).strip() == "ready"
        for p in procs:  # both start importing at once
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [finish(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert sum(1 for line in out.splitlines() if line.startswith("imported")) == each
    with Registry(url) as registry:
        stored = versions_of(registry)
        assert len(stored) == 1
        assert_merged_versions(registry, next(iter(stored)), {f"proc{n}-{i}" for n in range(2) for i in range(each)})


# ---- the same through the HTTP API ---------------------------------------------------------------------------------
async def _post_all(app: Any, headers: dict[str, str], bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=120) as client:
        requests = [
            client.post(
                "/api/v1/patients",
                content=json.dumps(body),
                headers={**headers, "Content-Type": "application/fhir+json"},
            )
            for body in bodies
        ]
        return list(await asyncio.gather(*requests))


async def _get_all(app: Any, headers: list[dict[str, str]], path: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=120) as client:
        return list(await asyncio.gather(*(client.get(path, headers=h) for h in headers)))


def test_concurrent_http_imports_of_one_patient(url: str, tmp_path: Path) -> None:
    n = 12
    app, registry = make_app(url, tmp_path)
    with registry:
        headers = auth(registry, sub="http-clinician")
        asyncio.run(_get_all(app, [headers], "/api/v1/patients"))  # the user is known before the imports race
        responses = asyncio.run(_post_all(app, headers, [patient_bundle("http", f"h{i}") for i in range(n)]))
        assert [r.status_code for r in responses] == [201] * n, [r.text for r in responses if r.status_code != 201]
        ids = {r.json()["id"] for r in responses}
        assert len(ids) == 1
        assert sorted(r.json()["version"] for r in responses) == list(range(1, n + 1))
        assert [r.json()["created"] for r in responses].count(True) == 1
        assert_merged_versions(registry, ids.pop(), {f"h{i}" for i in range(n)})


def test_a_new_user_s_first_requests_at_once(url: str, tmp_path: Path) -> None:
    """Many requests of a user the registry has not seen yet, at the same moment (a page loading its parts): each
    notes the user, none fails."""
    app, registry = make_app(url, tmp_path)
    with registry:
        users = [auth(registry, sub=f"new-clinician-{k}") for k in range(3)]
        responses = asyncio.run(_get_all(app, [h for h in users for _ in range(8)], "/api/v1/patients"))
        assert [r.status_code for r in responses] == [200] * len(responses), {
            r.status_code: r.text for r in responses if r.status_code != 200
        }
        assert {u["subject"] for u in registry.users()} == {f"new-clinician-{k}" for k in range(3)}
