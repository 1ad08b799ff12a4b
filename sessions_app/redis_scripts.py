"""Lua scripts of live sessions (presence in the seed's `session:active:{id}` hash).

A heartbeat reads the previous heartbeat times and writes the new one in one
step: the first heartbeat of a participant is their join, and two participants
joining at the same moment must not both miss seeing the other (or both see it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from redis import Redis
from redis import asyncio as aioredis

from conversation import redis_keys
from conversation.redis_batch import ScriptBatch

# KEYS: 1 session:active:{id}, 2 heartbeats zset, 3 disconnected set.
# ARGV: 1 slot (1/2), 2 now, 3 session id.
# Returns false when the session is not live, else {status, previous own, partner last, was_disconnected}.
# Four commands: one read of the hash, the write, the sweeper's index, the disconnected flag (the
# index's TTL is refreshed by the sweeper, not per heartbeat).
_HEARTBEAT = """
local slot = ARGV[1]
local other = slot == '1' and '2' or '1'
local seen = redis.call('HMGET', KEYS[1], 'status', 'lastHeartbeat' .. slot, 'lastHeartbeat' .. other)
if not seen[1] then return false end
redis.call('HSET', KEYS[1], 'lastHeartbeat' .. slot, ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), ARGV[3] .. ':' .. slot)
local was = redis.call('SREM', KEYS[3], ARGV[3] .. ':' .. slot)
return {seen[1], seen[2] or '0', seen[3] or '0', tostring(was)}
"""


# KEYS: 1-2 user:session of participant1 and participant2, 3-4 sess:booked of the same two.
# ARGV: 1 session id, 2 TTL of the booking (seconds).
# Books the session for both participants, unless either holds another session, live or booked: then
# returns {slot, 'live' or 'booked', that session's id} and writes nothing (the invitee, slot 2, is
# looked at first: the caller hears of their own session). 'booked' once written; 'held' when both
# already hold this session (written by another call: nothing is written, its TTL left as it is).
_BOOK = """
for _, slot in ipairs({2, 1}) do
  local live = redis.call('GET', KEYS[slot])
  if live and live ~= ARGV[1] then return {slot, 'live', live} end
  local booked = redis.call('GET', KEYS[slot + 2])
  if booked and booked ~= ARGV[1] then return {slot, 'booked', booked} end
end
if redis.call('GET', KEYS[3]) == ARGV[1] and redis.call('GET', KEYS[4]) == ARGV[1] then return 'held' end
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[2])
return 'booked'
"""


@dataclass(frozen=True)
class Held:
    """What stopped a booking: the participant's slot, and the session it holds, live or booked."""

    slot: int
    booked: bool
    session_id: str


@dataclass(frozen=True)
class Beat:
    status: str
    previous: float
    partner_last: float
    was_disconnected: bool


def _keys(session_id: str) -> list[str]:
    return [redis_keys.session_active(session_id), redis_keys.session_heartbeats(), redis_keys.session_disconnected()]


def _beat(result) -> Beat | None:
    if not result:
        return None
    status, previous, partner, was = (p.decode() if isinstance(p, bytes) else p for p in result)
    return Beat(status=status, previous=float(previous), partner_last=float(partner), was_disconnected=was == "1")


class Scripts:
    def __init__(self, redis: Redis) -> None:
        self.heartbeat_script = redis.register_script(_HEARTBEAT)
        self.book_script = redis.register_script(_BOOK)

    def heartbeat(self, *, session_id: str, slot: int, now: float) -> Beat | None:
        return _beat(self.heartbeat_script(keys=_keys(session_id), args=[slot, repr(now), session_id]))

    def book(self, *, session_id: str, participants: list[str], ttl_seconds: int) -> tuple[bool, Held | None]:
        """Whether this call wrote both participants' booking of the session, and what one of them holds
        instead (None once both hold this session)."""
        keys = [*map(redis_keys.user_session, participants), *map(redis_keys.session_booked, participants)]
        outcome = self.book_script(keys=keys, args=[session_id, ttl_seconds])
        if isinstance(outcome, bytes):
            return outcome == b"booked", None
        slot, kind, other = outcome
        return False, Held(slot=int(slot), booked=kind == b"booked", session_id=other.decode())


@lru_cache(maxsize=32)
def _async_heartbeats(redis: aioredis.Redis) -> ScriptBatch:
    return ScriptBatch(redis, _HEARTBEAT)


async def aheartbeat(redis: aioredis.Redis, *, session_id: str, slot: int, now: float) -> Beat | None:
    """The same heartbeat from an event loop: the socket's hot path never leaves it.

    The sockets of a process that beat in the same loop turn share one round trip to Redis
    (`ScriptBatch`); each still runs its own script and gets its own result.
    """
    return _beat(await _async_heartbeats(redis)(keys=_keys(session_id), args=[slot, repr(now), session_id]))
