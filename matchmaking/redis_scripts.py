"""Lua scripts of matchmaking, each behind a typed wrapper.

Picking a partner and enqueueing oneself must be one atomic step: with two
separate calls, two learners arriving together could each see an empty queue,
both enqueue, and wait side by side forever. Redis runs a script alone, so any
number of web processes see one serial order of arrivals.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from redis import Redis

from conversation import redis_keys

# KEYS: 1 = own queue, 2 = queue index set, 3 = the caller's recently-met set, 4.. = adjacent-level
#       queues (relaxation).
# ARGV: 1 = member JSON; 2 = the numbers, packed binary (struct "<ddddiiiiii": score, stale_cutoff,
#       relax_cutoff, met_cutoff, key_ttl, scan_limit, enqueue, relaxed, n_excluded, duration): one
#       argument to encode, and unpacked in a fraction of what parsing text costs the server;
#       3 = user id; 4 = preferred topic id or ''; 5.. = excluded ids (never paired).
# Every command counts (Redis runs each call inside a script as a command): the stale prune and
# the recently-met read happen only when there is something to prune or to rank.
_PAIR_OR_ENQUEUE = """
local member, me, topic = ARGV[1], ARGV[3], ARGV[4]
local score, stale, relax_cutoff, met_cutoff, ttl, limit, enqueue, relaxed, n_excluded, duration =
  struct.unpack('<ddddiiiiii', ARGV[2])
enqueue, relaxed = enqueue == 1, relaxed == 1
local never = {}
for i = 5, 4 + n_excluded do never[ARGV[i]] = true end
local soft = nil
-- Nothing ranks better than this: stop scanning as soon as it is found.
local ideal = topic == '' and 10 or 0

local best, best_rank, best_score, best_key = nil, nil, nil, nil
local function consider(key, entries, other_level)
  for i = 1, #entries, 2 do
    local raw, s = entries[i], tonumber(entries[i + 1])
    local ok, c = pcall(cjson.decode, raw)
    if ok and type(c) == 'table' and c.userId ~= me and not never[c.userId] then
      if soft == nil then
        soft = {}
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], met_cutoff, '+inf')) do soft[id] = true end
      end
      local rank = 0
      if soft[c.userId] then rank = rank + 1000 end
      if other_level then rank = rank + 100 end
      if topic == '' or c.preferredTopicId ~= topic then rank = rank + 10 end
      if tonumber(c.preferredDuration) ~= duration then rank = rank + 1 end
      if best_rank == nil or rank < best_rank or (rank == best_rank and s < best_score) then
        best, best_rank, best_score, best_key = raw, rank, s, key
        if rank == ideal then return true end
      end
    end
  end
  return false
end

-- A key TTL does not expire members: prune the stale ones of our own queue by score, when the
-- oldest member is stale.
local own = redis.call('ZRANGE', KEYS[1], 0, limit - 1, 'WITHSCORES')
if #own > 0 and tonumber(own[2]) < stale then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. stale)
  own = redis.call('ZRANGE', KEYS[1], 0, limit - 1, 'WITHSCORES')
end
local done = consider(KEYS[1], own, false)
if not done and (best == nil or best_rank >= 1000) then
  for k = 4, #KEYS do
    -- One level away: only members waiting past the relax delay, unless we waited that long.
    local upper = relaxed and '+inf' or relax_cutoff
    local entries = redis.call('ZRANGEBYSCORE', KEYS[k], stale, upper, 'WITHSCORES', 'LIMIT', 0, limit)
    if consider(KEYS[k], entries, true) then break end
  end
end

if best then
  redis.call('ZREM', best_key, best)
  if not enqueue then redis.call('ZREM', KEYS[1], member) end
  return {best, tostring(best_score), best_key}
end
if enqueue then
  redis.call('ZADD', KEYS[1], score, member)
  redis.call('EXPIRE', KEYS[1], ttl)
  -- The index needs the queue once: a queue with members is already in it. It has no TTL: it holds
  -- at most one key per language and level.
  if #own == 0 then redis.call('SADD', KEYS[2], KEYS[1]) end
end
return false
"""

# KEYS: 1 = queue, 2 = queue index.  ARGV: 1 member, 2 score, 3 key ttl.
# Puts back a popped member with its original score (it keeps its place).
_REQUEUE = """
redis.call('ZADD', KEYS[1], 'NX', tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""


NUMBERS = struct.Struct("<ddddiiiiii")  # ARGV[2] of the pairing script


@dataclass(frozen=True)
class QueueMember:
    """The seed's queue member: JSON {userId, learningProfileId, preferredTopicId, preferredDuration}."""

    user_id: str
    learning_profile_id: str
    preferred_topic_id: str | None
    preferred_duration: int

    def encode(self) -> str:
        # One canonical encoding, so the same request always yields the same member.
        return json.dumps(
            {
                "userId": self.user_id,
                "learningProfileId": self.learning_profile_id,
                "preferredTopicId": self.preferred_topic_id,
                "preferredDuration": self.preferred_duration,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: str | bytes) -> QueueMember:
        data = json.loads(raw)
        return cls(
            user_id=data["userId"],
            learning_profile_id=data["learningProfileId"],
            preferred_topic_id=data.get("preferredTopicId"),
            preferred_duration=int(data["preferredDuration"]),
        )


@dataclass(frozen=True)
class Popped:
    member: QueueMember
    raw: str
    score: float
    queue_key: str


class Scripts:
    """Registered once per Redis client; redis-py caches the SHA and uses EVALSHA."""

    def __init__(self, redis: Redis) -> None:
        self.pair_or_enqueue_script = redis.register_script(_PAIR_OR_ENQUEUE)
        self.requeue_script = redis.register_script(_REQUEUE)

    def pair_or_enqueue(
        self,
        *,
        queue_key: str,
        adjacent_keys: list[str],
        member: QueueMember,
        score: float,
        stale_cutoff: float,
        relax_cutoff: float,
        key_ttl: int,
        excluded: set[str],
        met_key: str,
        met_cutoff: float,
        enqueue: bool = True,
        relaxed: bool = False,
        scan_limit: int = 64,
    ) -> Popped | None:
        numbers = NUMBERS.pack(
            score, stale_cutoff, relax_cutoff, met_cutoff, key_ttl, scan_limit, enqueue, relaxed, len(excluded),
            member.preferred_duration,
        )  # fmt: skip
        args = [member.encode(), numbers, member.user_id, member.preferred_topic_id or "", *sorted(excluded)]
        keys = [queue_key, redis_keys.queue_index(), met_key, *adjacent_keys]
        result = self.pair_or_enqueue_script(keys=keys, args=args)
        if not result:
            return None
        raw, score_text, key = (part.decode() if isinstance(part, bytes) else part for part in result)
        return Popped(member=QueueMember.decode(raw), raw=raw, score=float(score_text), queue_key=key)

    def requeue(self, *, queue_key: str, raw: str, score: float, key_ttl: int) -> None:
        self.requeue_script(keys=[queue_key, redis_keys.queue_index()], args=[raw, repr(score), key_ttl])
