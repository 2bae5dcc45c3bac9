"""Delivers the care team's alerts from the outbox at least once: to a webhook when one is configured, else to
the web page's work list (where they show from the moment they are stored)."""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

import httpx

from mbcnav.service.symptoms import SymptomStore

log = logging.getLogger("mbcnav.service")
WORKLIST = "work list"


class Dispatcher:
    """Polls the outbox; each message is marked delivered only after its sink accepted it (a 2xx answer), so a
    crash or restart in between delivers it again (at least once). Failures back off, up to 5 minutes."""

    def __init__(self, store: SymptomStore, webhook: str | None = None, interval: float = 2.0) -> None:
        self.store = store
        self.webhook = webhook
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Deliver what is due; returns how many were delivered."""
        done = 0
        for message in self.store.pending():
            if self.webhook is None:
                self.store.delivered(message["id"], WORKLIST)
                done += 1
                continue
            try:
                answer = httpx.post(self.webhook, json=message["payload"], timeout=5.0)
                ok = 200 <= answer.status_code < 300
                error = "" if ok else f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, type(exc).__name__
            if ok:
                self.store.delivered(message["id"], urlsplit(self.webhook).netloc or "webhook")
                done += 1
            else:
                self.store.failed(message["id"], error, int(message["attempts"]) + 1)
                log.warning("alert delivery failed (%s); will retry", error)  # no patient data
        return done

    def wake(self) -> None:
        """A new alert was stored: deliver now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # the database may be briefly unavailable: try again at the next poll
                log.warning("outbox poll failed: %s", type(exc).__name__)
            self._wake.wait(self.interval)
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mbcnav-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
