"""Per-user fixed-window rate limits kept in Redis (shared by every web process)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import APIException

from conversation import clock, redis_keys
from conversation.errors import RateLimited
from conversation.redis import client


@dataclass
class RateLimitHit:
    """One call counted against a user's limit in a scope.

    `count()` sends it alone; a caller with a Redis round trip of its own to make puts it there instead
    (`count_on(pipe)`, then `settle` with its two replies), so the call costs no round trip more. Either
    way `headers` then holds the RateLimit-* headers, and a call past the limit raises 429.
    """

    scope: str
    user_id: str
    limit: int
    window_seconds: int = 60
    headers: dict[str, str] = field(default_factory=dict, init=False)
    _now: int | None = field(default=None, init=False)

    def count_on(self, pipe) -> None:
        """Two commands on `pipe`: INCR, and EXPIRE NX (Redis 7), which sets the window's TTL once, on
        its first hit, and never extends it. Their two replies are what `settle` takes."""
        self._now = int(clock.timestamp())
        key = redis_keys.rate_limit(self.scope, self.user_id, self._now // self.window_seconds)
        pipe.incr(key)
        pipe.expire(key, self.window_seconds + 1, nx=True)

    def settle(self, replies: list) -> dict[str, str]:
        """The headers for the window's count (the INCR's reply); RateLimited (with them) past the limit."""
        assert self._now is not None, "settle() answers a count_on()"
        count = replies[0]
        reset = (self._now // self.window_seconds + 1) * self.window_seconds - self._now
        self.headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(max(self.limit - count, 0)),
                        "RateLimit-Reset": str(reset)}  # fmt: skip
        if count > self.limit:
            raise RateLimited(wait=reset, headers=self.headers)
        return self.headers

    @contextlib.contextmanager
    def told_on_refusal(self) -> Iterator[None]:
        """A counted call refused afterwards (400, 409) still says where its window stands: the refusal
        carries the RateLimit-* headers (the error handler copies an exception's `headers`)."""
        try:
            yield
        except APIException as refused:
            refused.headers = {**self.headers, **(getattr(refused, "headers", None) or {})}
            raise

    def count(self) -> dict[str, str]:
        """Counts the call in a round trip of its own (no MULTI: both commands travel in one write)."""
        pipe = client().pipeline(transaction=False)
        self.count_on(pipe)
        return self.settle(pipe.execute())


# For the schema: the headers rate-limited operations answer (shared/API.md, Errors).
RATE_LIMIT_HEADERS = [
    OpenApiParameter(name, int, OpenApiParameter.HEADER, response=[201, 429], description=text)
    for name, text in (
        ("RateLimit-Limit", "Calls allowed per window."),
        ("RateLimit-Remaining", "Calls left in this window."),
        ("RateLimit-Reset", "Seconds until the window resets."),
    )
]
