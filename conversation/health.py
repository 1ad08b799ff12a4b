"""Store health probes shared by `/health/ready` and the operations dashboard; the beat heartbeat."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings

from conversation import breaker, redis_keys
from conversation.redis import client
from conversation.s3 import s3

PROBES: dict[str, Callable[[], object]] = {
    "mongodb": breaker.probe_mongodb,
    "redis": breaker.probe_redis,
    "s3": lambda: s3().head_bucket(Bucket=settings.S3_BUCKET),
}
BEAT_MARK_TTL_SECONDS = 24 * 3600


def stores_failing(names: tuple[str, ...] = ("mongodb", "redis")) -> list[str]:
    """The stores among `names` that do not answer; an answer closes the store's breaker, so service
    resumes within one check. Any error counts: a store that answers garbage is as unavailable."""
    failing = []
    for name in names:
        try:
            PROBES[name]()
        except Exception:
            failing.append(name)
            continue
        if name in breaker.BREAKERS:
            breaker.store_answered(name)
    return failing


def beat_mark(now: dt.datetime) -> None:
    """Written by the periodic sweep each time a worker runs it: proof that beat schedules and a worker works."""
    client().set(redis_keys.beat_last(), repr(now.timestamp()), ex=BEAT_MARK_TTL_SECONDS)


def beat_last() -> dt.datetime | None:
    value = client().get(redis_keys.beat_last())
    return dt.datetime.fromtimestamp(float(value), dt.UTC) if value else None
