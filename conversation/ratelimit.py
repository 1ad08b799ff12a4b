"""Per-user fixed-window rate limits kept in Redis (shared by every web process)."""

from __future__ import annotations

from rest_framework.exceptions import Throttled

from conversation import clock, redis_keys
from conversation.redis import client


def rate_limit_hit(*, scope: str, user_id: str, limit: int, window_seconds: int = 60) -> None:
    """Counts one call; raises 429 past `limit` calls in the current window."""
    now = int(clock.timestamp())
    window = now // window_seconds
    key = redis_keys.rate_limit(scope, user_id, window)
    # One round trip, two commands: EXPIRE NX (Redis 7) sets the window's TTL once, on the first
    # hit, and never extends it; no MULTI, as both commands travel in one write on one connection.
    pipe = client().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window_seconds + 1, nx=True)
    count, _ = pipe.execute()
    if count > limit:
        raise Throttled(wait=(window + 1) * window_seconds - now)
