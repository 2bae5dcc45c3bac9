"""`trials sync` against recorded ClinicalTrials.gov API v2 answers (httpx.MockTransport): never the network."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mbcnav.cli import main
from mbcnav.trials import sync as sync_mod
from mbcnav.trials.store import TrialStore

from .test_trials_records import FIXTURES

API = FIXTURES / "api"
Handler = Callable[[httpx.Request], httpx.Response]


def recorded(name: str) -> httpx.Response:
    return httpx.Response(200, json=json.loads((API / name).read_text()))


class Replay:
    """The API: /version, then /studies page 1 and (with its pageToken) page 2; every request is kept."""

    def __init__(self, failures: list[httpx.Response | Exception] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.failures = list(failures or [])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/studies") and self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        if request.url.path.endswith("/version"):
            return recorded("version.json")
        assert request.url.path.endswith("/api/v2/studies")
        token = request.url.params.get("pageToken")
        return recorded("studies-page-2.json" if token == "NF0g5JGBlPMuwQY" else "studies-page-1.json")

    def studies_params(self) -> list[dict[str, str]]:
        return [dict(r.url.params) for r in self.requests if r.url.path.endswith("/studies")]


def client(handler: Handler) -> httpx.Client:
    return httpx.Client(base_url=sync_mod.API_BASE, transport=httpx.MockTransport(handler))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with TrialStore(f"sqlite:///{tmp_path / 'trials.db'}") as s:
        yield s


def test_sync_pages_and_stores(store: TrialStore) -> None:
    api, sleeps = Replay(), []
    summary = sync_mod.sync(store, client(api), query_term="breast cancer", sleep=sleeps.append)
    assert summary.error is None and sleeps == []
    assert (summary.pages, summary.records, summary.inserted) == (2, 3, 3)
    assert [str(p) for p in summary.problems] == ["page 2:studies[1]: missing nctId"]
    assert summary.processed_on == "2026-01-20"  # /version dataTimestamp: the date ClinicalTrials.gov processed it
    first, second = api.studies_params()
    assert first == {
        "format": "json",
        "pageSize": "100",
        "sort": "LastUpdatePostDate:asc",
        "query.term": "breast cancer",
    }
    assert second == {**first, "pageToken": "NF0g5JGBlPMuwQY"}
    t = store.get("NCT99000002")
    assert t is not None and t.processed_on == "2026-01-20" and t.expanded_access_nct == "NCT99000001"
    assert store.sync_state("breast cancer") == "2026-01-19" and summary.reached == "2026-01-19"


def test_sync_is_incremental(store: TrialStore) -> None:
    sync_mod.sync(store, client(Replay()), query_term="breast cancer", sleep=lambda s: None)
    api = Replay()
    again = sync_mod.sync(store, client(api), query_term="breast cancer", sleep=lambda s: None)
    assert again.since == "2026-01-19"
    assert api.studies_params()[0]["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-01-19,MAX]"
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    api = Replay()
    sync_mod.sync(store, client(api), since="2025-06-01", sleep=lambda s: None)  # an explicit date wins
    assert api.studies_params()[0]["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2025-06-01,MAX]"
    assert "query.term" not in api.studies_params()[0]


def test_retries_with_exponential_backoff(store: TrialStore) -> None:
    failures: list[httpx.Response | Exception] = [
        httpx.Response(429),
        httpx.Response(503, headers={"Retry-After": "7"}),
        httpx.ConnectError("connection reset"),
        httpx.Response(502),
    ]
    api, sleeps = Replay(failures), []
    summary = sync_mod.sync(store, client(api), query_term="x", sleep=sleeps.append)
    assert summary.error is None and summary.records == 3
    assert sleeps == [1.0, 7.0, 4.0, 8.0]  # 1 s doubling at each try; the server's Retry-After when it gives one


def test_gives_up_after_the_last_try_and_says_so(store: TrialStore) -> None:
    api, sleeps = Replay([httpx.Response(500)] * 10), []
    summary = sync_mod.sync(store, client(api), query_term="x", sleep=sleeps.append)
    assert summary.error == "ClinicalTrials.gov did not answer /studies after 6 tries (HTTP 500)"
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert summary.pages == 0 and store.count() == 0 and store.sync_state("x") is None


def test_a_client_error_is_not_retried(store: TrialStore) -> None:
    api, sleeps = Replay([httpx.Response(400, text="invalid filter.advanced")]), []
    summary = sync_mod.sync(store, client(api), query_term="x", sleep=sleeps.append)
    assert summary.error == "ClinicalTrials.gov answered HTTP 400: invalid filter.advanced" and sleeps == []


def test_an_interrupted_sync_keeps_what_it_stored(store: TrialStore) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("pageToken"):
            return httpx.Response(404, text="page token expired")
        return Replay()(request)

    summary = sync_mod.sync(store, client(handler), query_term="x", sleep=lambda s: None)
    assert summary.error is not None and summary.records == 2 and store.count() == 2
    assert store.sync_state("x") == "2026-01-15"  # pages are sorted by last update: the next sync starts there


def test_cli_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'trials.db'}"
    assert main(["trials", "sync", "--db", db]) == 2
    assert "say what to fetch" in capsys.readouterr().err
    monkeypatch.setattr(sync_mod, "client", lambda: client(Replay()))
    assert main(["trials", "sync", "--db", db, "--query-term", "breast cancer"]) == 1  # a record was dropped
    out, err = capsys.readouterr()
    assert "Fetched 2 page(s): 3 study record(s)" in out and "Studies: 3 inserted" in out
    assert "processed by ClinicalTrials.gov on 2026-01-20" in out
    assert "page 2:studies[1]: missing nctId" in out
    assert "mbcnav: 1 record(s) not stored (listed above)" in err
    assert "fetching page 2" in err and "page 2 stored: 3 studies so far" in err  # progress on stderr
    monkeypatch.setattr(sync_mod, "client", lambda: client(Replay([httpx.Response(500)] * 10)))
    monkeypatch.setattr(sync_mod, "BACKOFF_S", 0.0)
    assert main(["trials", "sync", "--db", db, "--since", "2026-01-01"]) == 2
    out, err = capsys.readouterr()
    assert "sync stopped: ClinicalTrials.gov did not answer /studies after 6 tries" in err
    assert "HTTP 500; retrying in 0 s (try 2 of 6)" in err  # each wait is shown while it happens
    assert "No problems." not in out  # never after a failure


def test_sync_tells_what_it_waits_for(store: TrialStore) -> None:
    heard: list[str] = []
    api = Replay([httpx.Response(503, headers={"Retry-After": "7"})])
    summary = sync_mod.sync(store, client(api), query_term="x", sleep=lambda s: None, notify=heard.append)
    assert summary.error is None
    assert heard == [
        "asking ClinicalTrials.gov for its data version",
        "fetching page 1",
        "ClinicalTrials.gov: HTTP 503; retrying in 7 s (try 2 of 6)",
        "fetching page 2",
    ]
