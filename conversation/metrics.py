"""Prometheus metrics kept in Redis, so every web and worker process adds to one set.

Counters and histogram buckets are HINCRBY fields of one hash; gauges (queue depth,
live sessions) are read from the live Redis structures when /metrics is scraped.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis.client import Pipeline

from conversation.redis import client

METRICS_KEY = "metrics:v1"
METRICS_TTL_SECONDS = 90 * 24 * 3600

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


def count(name: str, *labels: str, pipe: Pipeline | None = None) -> None:
    target = pipe if pipe is not None else client().pipeline(transaction=False)
    target.hincrby(METRICS_KEY, _field(name, *labels), 1)
    target.expire(METRICS_KEY, METRICS_TTL_SECONDS)
    if pipe is None:
        target.execute()


def observe(name: str, value: float, pipe: Pipeline | None = None) -> None:
    _help, buckets = HISTOGRAMS[name]
    target = pipe if pipe is not None else client().pipeline(transaction=False)
    index = bisect.bisect_left(buckets, value)
    bucket = str(buckets[index]) if index < len(buckets) else "+Inf"
    target.hincrby(METRICS_KEY, _field(name, "bucket", bucket), 1)
    target.hincrbyfloat(METRICS_KEY, _field(name, "sum"), value)
    target.expire(METRICS_KEY, METRICS_TTL_SECONDS)
    if pipe is None:
        target.execute()


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
