"""Per-process circuit breakers for MongoDB and Redis: one slow failure, then prompt 503s.

A down MongoDB costs each request a full server-selection timeout. After the first store
error the breaker opens: API requests are answered 503 with `Retry-After` at once, and one
background thread per store probes it (through the kernel's own clients, with a short
timeout) until it answers, which closes the breaker. `/health/ready` closes it too.
No library fits: pybreaker and friends count failures per call and reopen on a timer,
while here the probe, not a timer, decides, and the store clients stay the kernel's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import pymongo

log = logging.getLogger(__name__)

PROBE_INTERVAL_SECONDS = 0.25
PROBE_TIMEOUT_SECONDS = 0.5
RETRY_AFTER_SECONDS = 1


def probe_mongodb() -> None:
    from conversation import mongo

    # pymongo.timeout bounds server selection too, so a probe never waits MONGODB_TIMEOUT_MS.
    with pymongo.timeout(PROBE_TIMEOUT_SECONDS):
        mongo.db().command("ping")


def probe_redis() -> None:
    from conversation.redis import client

    client().ping()


class Breaker:
    """Open from a store error until a probe of the store succeeds."""

    def __init__(self, store: str, probe: Callable[[], None]) -> None:
        self.store = store
        self.probe = probe
        self._open = False
        self._lock = threading.Lock()
        self._prober: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    def trip(self) -> None:
        with self._lock:
            if not self._open:
                log.warning("%s breaker open: answering 503 until it answers a probe", self.store)
            self._open = True
            if self._prober is None or not self._prober.is_alive():
                self._prober = threading.Thread(target=self._probe_until_up, name=f"probe-{self.store}", daemon=True)
                self._prober.start()

    def close(self) -> None:
        if self._open:
            log.warning("%s breaker closed: the store answers again", self.store)
        self._open = False

    def _probe_until_up(self) -> None:
        while self._open:
            time.sleep(PROBE_INTERVAL_SECONDS)
            try:
                self.probe()
            except Exception:  # any failure means still down; the next probe decides again
                continue
            self.close()

    def reset(self) -> None:
        """After fork: the parent's state and thread are not ours."""
        self._open = False
        self._lock = threading.Lock()
        self._prober = None


BREAKERS: dict[str, Breaker] = {"mongodb": Breaker("mongodb", probe_mongodb), "redis": Breaker("redis", probe_redis)}


def store_failed(store: str) -> int:
    """Records a store error (S3 has no breaker: it serves only recordings); returns Retry-After seconds."""
    breaker = BREAKERS.get(store)
    if breaker is not None:
        breaker.trip()
    return RETRY_AFTER_SECONDS


def store_answered(store: str) -> None:
    BREAKERS[store].close()


def open_store() -> str | None:
    """The first store whose breaker is open, if any."""
    return next((name for name, breaker in BREAKERS.items() if breaker.is_open), None)


def _reset_after_fork() -> None:
    for breaker in BREAKERS.values():
        breaker.reset()


os.register_at_fork(after_in_child=_reset_after_fork)
