"""Per-user fixed-window rate limits kept in Redis (shared by every web process)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from conversation import clock, redis_keys
from conversation.errors import RateLimited
from conversation.redis import client


def rate_limit_hit(*, scope: str, user_id: str, limit: int, window_seconds: int = 60) -> dict[str, str]:
    """Counts one call; returns the RateLimit-* headers, or raises 429 (with them) past `limit` in the window."""
    now = int(clock.timestamp())
    window = now // window_seconds
    key = redis_keys.rate_limit(scope, user_id, window)
    pipe = client().pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_seconds + 1)
    count, _ = pipe.execute()
    reset = (window + 1) * window_seconds - now
    headers = {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(max(limit - count, 0)),
               "RateLimit-Reset": str(reset)}  # fmt: skip
    if count > limit:
        raise RateLimited(wait=reset, headers=headers)
    return headers


# For the schema: the headers rate-limited operations answer (shared/API.md, Errors).
RATE_LIMIT_HEADERS = [
    OpenApiParameter(name, int, OpenApiParameter.HEADER, response=[201, 429], description=text)
    for name, text in (
        ("RateLimit-Limit", "Calls allowed per window."),
        ("RateLimit-Remaining", "Calls left in this window."),
        ("RateLimit-Reset", "Seconds until the window resets."),
    )
]
