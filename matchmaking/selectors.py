"""Reads of matchmaking: a user's requests and the live queue overview."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from mongoengine.queryset import QuerySet
from prometheus_client.core import GaugeMetricFamily

from conversation import clock, redis_keys
from conversation.redis import client
from conversation.vocab import LEVELS, language_codes
from matchmaking.documents import PENDING, PENDING_INDEX, MatchmakingRequest


def request_latest(*, user_id: str) -> MatchmakingRequest | None:
    return MatchmakingRequest.objects(user_id=user_id).order_by("-created_at").first()


def requests_pending(*, limit: int, **filters: object) -> QuerySet:
    """Pending requests (MongoEngine filters on user_id / expires_at / created_at), read through the partial unique
    index that holds only those: the periodic tasks' reads cost what is waiting, never the history."""
    return MatchmakingRequest.objects(status=PENDING, **filters).hint(PENDING_INDEX).limit(limit)


def requests_created_since(*, status: str, since: dt.datetime) -> QuerySet:
    """Requests of one status created since `since`, on the seed's (language, level, status, createdAt) index:
    every language and level named, so the index bounds are exact."""
    return MatchmakingRequest.objects(
        target_language_code__in=language_codes(), user_level__in=LEVELS, status=status, created_at__gte=since
    )


def queues_overview(*, now: float | None = None) -> list[dict]:
    """Non-empty queues with their live (unexpired) members, from the queue index set."""
    now = now or clock.timestamp()
    redis = client()
    keys = sorted(k.decode() for k in redis.smembers(redis_keys.queue_index()))
    if not keys:
        return []
    fresh = now - settings.MATCHMAKING_REQUEST_TTL_SECONDS
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.zcount(key, fresh, "+inf")
        pipe.zrangebyscore(key, fresh, "+inf", start=0, num=1, withscores=True)
    replies = pipe.execute()
    overview = []
    for index, key in enumerate(keys):
        waiting, oldest = replies[2 * index], replies[2 * index + 1]
        if not waiting:
            continue
        _prefix, language, level = key.split(":", 2)
        overview.append(
            {
                "targetLanguageCode": language,
                "level": level,
                "waiting": waiting,
                "oldestWaitSeconds": round(max(0.0, now - oldest[0][1]), 3) if oldest else 0.0,
            }
        )
    return overview


def queue_gauges():
    depth = GaugeMetricFamily("matchmaking_queue_depth", "Learners waiting per queue.", labels=["language", "level"])
    oldest = GaugeMetricFamily(
        "matchmaking_oldest_wait_seconds", "Longest current wait per queue.", labels=["language", "level"]
    )
    for row in queues_overview():
        depth.add_metric([row["targetLanguageCode"], row["level"]], row["waiting"])
        oldest.add_metric([row["targetLanguageCode"], row["level"]], row["oldestWaitSeconds"])
    yield depth
    yield oldest
