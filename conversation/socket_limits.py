"""Bounds on what one user can hold open: sockets per user (across processes) and frames per socket.

A user's sockets are a Redis sorted set of socket ids scored by the end of a short lease that each live
socket renews; a process that dies without saying goodbye leaves leases that simply run out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from redis import asyncio as aioredis
from redis.commands.core import AsyncScript

from conversation import redis_keys
from conversation.channel_layer import Membership
from conversation.redis import async_client

LEASE_SECONDS = 60
RENEW_EVERY_SECONDS = 20

# Prune, count and add in one step: two processes accepting the user's tenth and eleventh socket at once
# must not both see nine. Returns the outcome (1 or 0) and the value of KEYS[2], a key the handshake
# reads at the same moment (the suspension mirror's version): one round trip for both. With the socket
# claimed, it also joins the groups KEYS[3..] as channels-redis' group_add does (ARGV[6..8]: the time,
# the channel, the groups' lifetime), so that a socket holds group places only while it holds a slot.
_CLAIM = """
local also = redis.call('GET', KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return {0, also}
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
for i = 3, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[6], ARGV[7])
  redis.call('EXPIRE', KEYS[i], ARGV[8])
end
return {1, also}
"""


@lru_cache(maxsize=32)  # one client per event loop (conversation.redis.async_client)
def _claim_script(redis: aioredis.Redis) -> AsyncScript:
    """Registered once per client (its SHA1 computed once), not at every handshake."""
    return redis.register_script(_CLAIM)


async def socket_claim(*, user_id: str, socket_id: str, also_get: str, join: Membership) -> tuple[bool, bytes | None]:
    """Takes one of the user's WEBSOCKET_MAX_PER_USER slots (False when all are held), and reads the key
    `also_get` in the same round trip (a handshake's other read; the two keys need not be related). A
    claimed socket joins the groups of `join` in that round trip too (the channel layer's Redis is this one)."""
    now = time.time()
    script = _claim_script(async_client())
    args = [now, now + LEASE_SECONDS, socket_id, settings.WEBSOCKET_MAX_PER_USER, LEASE_SECONDS]
    args += [now, join.channel, join.expiry]
    keys = [redis_keys.user_sockets(user_id), also_get, *join.keys]
    claimed, value = await script(keys=keys, args=args)
    return bool(claimed), value


async def socket_renew(*, user_id: str, socket_id: str) -> None:
    key = redis_keys.user_sockets(user_id)
    pipe = async_client().pipeline(transaction=True)
    pipe.zadd(key, {socket_id: time.time() + LEASE_SECONDS})
    pipe.expire(key, LEASE_SECONDS)
    await pipe.execute()


async def socket_release(*, user_id: str | None, socket_id: str, leave: Membership) -> None:
    """Gives the user's slot back (none to give when `user_id` is None) and leaves the groups of `leave`,
    in one round trip."""
    pipe = async_client().pipeline(transaction=False)
    if user_id is not None:
        pipe.zrem(redis_keys.user_sockets(user_id), socket_id)
    for key in leave.keys:
        pipe.zrem(key, leave.channel)
    await pipe.execute()


@dataclass
class TokenBucket:
    """Frames a socket may send: `rate` a second, with a reserve of `rate * burst_seconds`.

    Per socket and in process memory, because the limit is per socket: no store round trip per frame.
    """

    rate: float
    burst_seconds: float
    tokens: float = field(init=False)
    updated: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        return self.rate * self.burst_seconds

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
