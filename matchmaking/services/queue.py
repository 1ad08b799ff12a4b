"""The seed's Redis queue `matchmaking:{lang}:{level}`, the atomic pairing step, and the recent time-to-match
samples behind a new request's estimated wait."""

from __future__ import annotations

import statistics
import time
from functools import cache

from django.conf import settings

from conversation import clock, metrics, redis_keys
from conversation.redis import client, index_ttl_due
from conversation.timed_cache import TimedCache
from conversation.vocab import adjacent_levels
from matchmaking.documents import MatchmakingRequest
from matchmaking.redis_scripts import Booked, Popped, QueueMember, Scripts

WAIT_SAMPLES = 50
WAIT_MEDIAN_CACHE_SECONDS = 10.0  # how long a queue's median time to match is reused in a process
# (language, level) -> the queue's median time to match; queues come from validated input.
_medians: TimedCache[tuple[str, str], int | None] = TimedCache(seconds=WAIT_MEDIAN_CACHE_SECONDS, max_entries=1000)


@cache
def scripts() -> Scripts:
    return Scripts(client())


def member_of(request: MatchmakingRequest) -> QueueMember:
    return QueueMember(
        user_id=request.user_id,
        learning_profile_id=request.learning_profile_id,
        preferred_topic_id=request.preferred_topic_id,
        preferred_duration=request.preferred_duration,
    )


def queue_key_of(request: MatchmakingRequest) -> str:
    return redis_keys.matchmaking_queue(request.target_language_code, request.user_level)


def pair_step(
    *,
    request: MatchmakingRequest,
    score: float,
    now: float,
    excluded: set[str],
    enqueue: bool = True,
) -> Popped | Booked | None:
    """One atomic Redis step: pop the best partner, or enqueue the request and return None; where it would
    enqueue it, a booking of its user is returned instead (`Booked`), nothing written.

    Partners met within the rematch cool-down rank last (the script reads the caller's
    `mm:met:*` set); `excluded` are never paired.
    """
    ttl = settings.MATCHMAKING_REQUEST_TTL_SECONDS
    relax_cutoff = now - settings.MATCHMAKING_RELAX_AFTER_SECONDS
    adjacent = [
        redis_keys.matchmaking_queue(request.target_language_code, level)
        for level in adjacent_levels(request.user_level)
    ]
    started = time.perf_counter()
    popped = scripts().pair_or_enqueue(
        queue_key=queue_key_of(request),
        adjacent_keys=adjacent,
        member=member_of(request),
        score=score,
        stale_cutoff=now - ttl,
        relax_cutoff=relax_cutoff,
        excluded=excluded,
        met_key=redis_keys.recently_met(request.user_id),
        met_cutoff=now - settings.MATCHMAKING_REMATCH_COOLDOWN_SECONDS,
        booking_key=redis_keys.session_booked(request.user_id),
        enqueue=enqueue,
        relaxed=score <= relax_cutoff,
    )
    metrics.observe("matchmaking_pairing_step_seconds", time.perf_counter() - started)
    return popped


def requeue(popped: Popped) -> None:
    """Puts back a popped member whose commit failed, with its original score."""
    scripts().requeue(
        queue_key=popped.queue_key, raw=popped.raw, score=popped.score, key_ttl=redis_keys.QUEUE_KEY_TTL_SECONDS
    )


def enqueue(request: MatchmakingRequest, score: float) -> None:
    scripts().requeue(
        queue_key=queue_key_of(request), raw=member_of(request).encode(), score=score,
        key_ttl=redis_keys.QUEUE_KEY_TTL_SECONDS,
    )  # fmt: skip


def head_score(request: MatchmakingRequest, now: float) -> float:
    """A score ahead of everyone waiting in the request's queue (never older than the TTL allows)."""
    oldest = client().zrange(queue_key_of(request), 0, 0, withscores=True)
    floor = now - settings.MATCHMAKING_REQUEST_TTL_SECONDS + 1
    return max(floor, min(now, oldest[0][1] if oldest else now) - 0.001)


def dequeue(request: MatchmakingRequest) -> None:
    client().zrem(queue_key_of(request), member_of(request).encode())


def record_waits(*, language: str, level: str, samples: list[float], pipe) -> None:
    key = redis_keys.match_waits(language, level)
    pipe.lpush(key, *(f"{seconds:.3f}" for seconds in samples))
    pipe.ltrim(key, 0, WAIT_SAMPLES - 1)
    if index_ttl_due(key, every_seconds=60):  # samples are forgotten an hour after the queue's last match
        pipe.expire(key, 3600)


def wait_medians_forget() -> None:
    """Drops the process's medians (tests: a median read in one must not answer in the next)."""
    _medians.clear()


def waiting_read(pipe, *, language: str, level: str) -> None:
    """Queues on `pipe` the read `estimated_wait` starts from: how many wait in the queue now."""
    queue_key = redis_keys.matchmaking_queue(language, level)
    pipe.zcount(queue_key, clock.timestamp() - settings.MATCHMAKING_REQUEST_TTL_SECONDS, "+inf")


def estimated_wait(waiting: int, *, language: str, level: str) -> int | None:
    """0 when someone is waiting now (`waiting`, the reply of `waiting_read`), else the median of the
    queue's recent times to match, None without any.

    The median moves slowly (the last WAIT_SAMPLES matches), so a process reads it at most once every
    WAIT_MEDIAN_CACHE_SECONDS per queue; until a queue has samples every arrival looks again.
    """
    if waiting:
        return 0
    return _medians.get((language, level), lambda: _median_wait(language, level), keep=lambda m: m is not None)


def _median_wait(language: str, level: str) -> int | None:
    samples = client().lrange(redis_keys.match_waits(language, level), 0, WAIT_SAMPLES - 1)
    return round(statistics.median(float(s) for s in samples)) if samples else None
