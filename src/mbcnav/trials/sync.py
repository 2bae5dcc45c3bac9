"""`trials sync`: fetch studies from the ClinicalTrials.gov API v2, page by page, incrementally by last update."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mbcnav.trials.load import store_batch
from mbcnav.trials.records import ISO_DATE, RecordProblem, Trial, parse_v2_study
from mbcnav.trials.store import StudyOutcome, TrialStore, net_outcome

API_BASE = "https://clinicaltrials.gov/api/v2"
PAGE_SIZE = 100
RETRIES = 5  # tries after the first, on 429, 5xx and transport errors
BACKOFF_S = 1.0  # 1, 2, 4, 8, 16 s (or the server's Retry-After, at most MAX_WAIT_S)
MAX_WAIT_S = 60.0


class SyncError(Exception):
    """ClinicalTrials.gov could not be reached or answered something unusable."""


@dataclass(slots=True)
class SyncSummary:
    since: str | None
    pages: int = 0
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    reached: str | None = None  # the latest last-update date stored; the next sync starts there
    processed_on: str | None = None
    problems: list[RecordProblem] = field(default_factory=list)
    error: str | None = None

    @property
    def skipped(self) -> int:
        """Records dropped: not readable, or not stored."""
        return sum(1 for p in self.problems if p.severity == "error")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return min(float(value), MAX_WAIT_S) if value.strip().isdigit() else None


def get_json(
    client: httpx.Client,
    path: str,
    params: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[str], None] | None = None,
) -> Any:
    """GET with retries: exponential backoff on 429, 5xx and network errors; other 4xx fail at once.

    `notify` hears each wait before it happens ("HTTP 503; retrying in 4 s (try 3 of 6)"), so a user sees why
    nothing seems to happen.
    """
    last = ""
    for attempt in range(RETRIES + 1):
        wait = BACKOFF_S * 2**attempt
        try:
            response = client.get(path, params=params)
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                wait = _retry_after(response) or wait
            elif response.status_code >= 400:
                raise SyncError(f"ClinicalTrials.gov answered HTTP {response.status_code}: {response.text[:200]}")
            else:
                try:
                    return response.json()
                except ValueError:
                    raise SyncError(f"ClinicalTrials.gov answered {path} with something that is not JSON") from None
        if attempt < RETRIES:
            if notify is not None:
                notify(f"ClinicalTrials.gov: {last}; retrying in {wait:g} s (try {attempt + 2} of {RETRIES + 1})")
            sleep(wait)
    raise SyncError(f"ClinicalTrials.gov did not answer {path} after {RETRIES + 1} tries ({last})")


def sync(
    store: TrialStore,
    client: httpx.Client,
    *,
    since: str | None = None,
    query_term: str | None = None,
    page_size: int = PAGE_SIZE,
    max_studies: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_page: Callable[[SyncSummary], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> SyncSummary:
    """Fetch the studies last updated on or after `since` (default: where the previous sync of this query stopped).

    Pages come sorted by LastUpdatePostDate ascending, each stored in one transaction, so an interrupted sync
    resumes from the latest date it stored. The client's base URL is the API root (API_BASE). `on_page` is called
    after each stored page; `notify` hears what the sync is waiting for (each request, each backoff wait).
    A record the store refuses is reported and skipped, never its page (as `trials load` does).
    """
    key = query_term or ""
    since = since or store.sync_state(key)
    summary = SyncSummary(since=since)
    net: dict[str, StudyOutcome] = {}
    try:
        if notify is not None:
            notify("asking ClinicalTrials.gov for its data version")
        version = get_json(client, "/version", sleep=sleep, notify=notify)
        stamp = str(version.get("dataTimestamp", ""))[:10] if isinstance(version, dict) else ""
        summary.processed_on = stamp if ISO_DATE.fullmatch(stamp) else None
        params = {"format": "json", "pageSize": str(page_size), "sort": "LastUpdatePostDate:asc"}
        if query_term:
            params["query.term"] = query_term
        if since:
            params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
        token: str | None = None
        while True:
            if notify is not None:
                notify(f"fetching page {summary.pages + 1}")
            doc = get_json(client, "/studies", {**params, **({"pageToken": token} if token else {})}, sleep, notify)
            studies = doc.get("studies") if isinstance(doc, dict) else None
            if not isinstance(studies, list):
                raise SyncError("ClinicalTrials.gov answered a page without `studies`")
            summary.pages += 1
            batch: list[tuple[str, Trial]] = []
            for i, study in enumerate(studies):
                where = f"page {summary.pages}:studies[{i}]"
                trial, problems = parse_v2_study(study, where)
                summary.problems += problems
                if trial is not None:
                    batch.append((where, dataclasses.replace(trial, processed_on=summary.processed_on)))
            counts, stored, failed = store_batch(store, batch, f"page {summary.pages}")
            summary.problems += failed
            for nct, outcome in counts.by_nct.items():
                net[nct] = net_outcome(net.get(nct), outcome)
            summary.records += len(stored)
            dates = [t.last_update for _, t in stored if t.last_update]
            summary.reached = max([summary.reached or "", *dates]) or None
            if on_page is not None:
                on_page(summary)
            token = doc.get("nextPageToken")
            if not token or (max_studies is not None and summary.records >= max_studies):
                break
    except SyncError as exc:
        summary.error = str(exc)
    for outcome in net.values():
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    if summary.pages:
        store.set_sync_state(key, max(summary.reached or "", since or "") or None)
    return summary


def client(timeout_s: float = 60.0) -> httpx.Client:
    from mbcnav import __version__

    return httpx.Client(
        base_url=API_BASE, timeout=timeout_s, follow_redirects=True, headers={"User-Agent": f"mbcnav/{__version__}"}
    )
