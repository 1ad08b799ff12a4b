"""Prometheus metrics kept in Redis, so every web and worker process adds to one set.

Counters and histogram buckets are fields of one hash, added up in process and flushed in one
pipeline per second; gauges (queue depth) are read from the live Redis structures at scrape time.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from conversation import redis_keys
from conversation.redis import client

log = logging.getLogger(__name__)

METRICS_KEY = redis_keys.metrics()
METRICS_TTL_SECONDS = 90 * 24 * 3600
FLUSH_SECONDS = 1.0

HISTOGRAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "matchmaking_time_to_match_seconds": (
        "Time from request creation to match.",
        (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    ),
    "matchmaking_pairing_step_seconds": (
        "Latency of one atomic pairing step (Redis script).",
        (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
    ),
}
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "matchmaking_requests_total": ("Matchmaking requests by outcome.", ("outcome",)),
    "sessions_ended_total": ("Sessions ended by status and reason.", ("status", "reason")),
}

_gauge_sources: list[Callable[[], Iterable[GaugeMetricFamily]]] = []


def _field(name: str, *labels: str) -> str:
    return "|".join((name, *labels))


class _Buffer:
    """What this process counted since its last flush, written by a daemon thread once a second.

    Writing each event as it happens cost a dozen HINCRBY/EXPIRE per pairing; summed here it is a
    few commands a second whatever the traffic. The buffer holds one number per field (a fixed set
    of names and labels), so it stays small while Redis is down and is written once it is back.
    A process killed with SIGKILL loses at most its last second of counts; a clean exit flushes.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ints: Counter[str] = Counter()
        self.floats: Counter[str] = Counter()
        self.pid = 0
        self.ttl_set_at = 0.0

    def add(self, field: str, value: float, *, integer: bool) -> None:
        with self.lock:
            (self.ints if integer else self.floats)[field] += value
            if self.pid != os.getpid():  # first use in this process (or a forked Celery child)
                self.pid = os.getpid()
                self.ttl_set_at = 0.0
                threading.Thread(target=self._run, name="metrics-flush", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:
                log.warning("metrics flush failed; kept for the next one", exc_info=True)

    def flush(self) -> None:
        with self.lock:
            ints, floats = self.ints, self.floats
            self.ints, self.floats = Counter(), Counter()
        if not ints and not floats:
            return
        pipe = client().pipeline(transaction=False)
        for field, value in ints.items():
            pipe.hincrby(METRICS_KEY, field, int(value))
        for field, value in floats.items():
            pipe.hincrbyfloat(METRICS_KEY, field, value)
        refresh_ttl = not self.ttl_set_at or time.monotonic() - self.ttl_set_at > 3600
        if refresh_ttl:  # the hash lives 90 days past the last write; once an hour is plenty
            pipe.expire(METRICS_KEY, METRICS_TTL_SECONDS)
        try:
            pipe.execute()
        except Exception:
            with self.lock:
                self.ints.update(ints)
                self.floats.update(floats)
            raise
        if refresh_ttl:
            self.ttl_set_at = time.monotonic()


_buffer = _Buffer()
flush = _buffer.flush
atexit.register(lambda: _buffer.flush() if _buffer.pid == os.getpid() else None)


def count(name: str, *labels: str) -> None:
    _buffer.add(_field(name, *labels), 1, integer=True)


def observe(name: str, value: float) -> None:
    _help, buckets = HISTOGRAMS[name]
    index = bisect.bisect_left(buckets, value)
    bucket = str(buckets[index]) if index < len(buckets) else "+Inf"
    _buffer.add(_field(name, "bucket", bucket), 1, integer=True)
    _buffer.add(_field(name, "sum"), value, integer=False)


def register_gauges(source: Callable[[], Iterable[GaugeMetricFamily]]) -> None:
    """An app adds gauges computed at scrape time (e.g. queue depth)."""
    if source not in _gauge_sources:
        _gauge_sources.append(source)


class RedisCollector:
    def collect(self):
        raw = {k.decode(): v.decode() for k, v in client().hgetall(METRICS_KEY).items()}
        for name, (help_text, label_names) in COUNTERS.items():
            family = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=label_names)
            for field, value in raw.items():
                parts = field.split("|")
                if parts[0] == name and len(parts) == len(label_names) + 1:
                    family.add_metric(parts[1:], float(value))
            yield family
        for name, (help_text, buckets) in HISTOGRAMS.items():
            cumulative, points = 0.0, []
            for bound in (*[str(b) for b in buckets], "+Inf"):
                cumulative += float(raw.get(_field(name, "bucket", bound), 0))
                points.append((bound, cumulative))
            family = HistogramMetricFamily(name, help_text)
            family.add_metric([], points, sum_value=float(raw.get(_field(name, "sum"), 0)))
            yield family
        for source in _gauge_sources:
            yield from source()
