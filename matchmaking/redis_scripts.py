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
from string import Template

from redis import Redis

from conversation import redis_keys

SCAN_LIMIT = 64  # candidates read per queue

# KEYS: 1 = own queue, 2 = queue index set, 3 = the caller's recently-met set, 4 = the caller's booking
#       (`sess:booked`), 5.. = adjacent-level queues (relaxation).
# ARGV: 1 = member JSON (QueueMember.encode); 2 = the numbers, packed binary (NUMBERS: score,
#       stale_cutoff, relax_cutoff, met_cutoff, enqueue, relaxed): one argument to encode, unpacked in a
#       fraction of what parsing text costs; 3.. = excluded ids (never paired).
# Redis spends most of a call on what crosses between Lua and its commands, so the script keeps that
# small (docs/PERFORMANCE-LOG.md, "Pairing step"): command arguments are strings but ZADD's score (Redis 7.0
# turns a Lua number into text with printf's %.17g, costlier than the command on a small key);
# candidates are read as text, not decoded; the cool-down is one ZSCORE of a candidate that could
# still be the best; the stale prune and the adjacent scans run only when there is something to find.
_PAIR_OR_ENQUEUE = Template(r"""
local member = ARGV[1]
local score, stale, relax_cutoff, met_cutoff, enqueue, relaxed = struct.unpack('<ddddBB', ARGV[2])

-- A key TTL does not expire members: prune the stale ones of our own queue by score, when the
-- oldest member is stale.
local own = redis.call('ZRANGE', KEYS[1], '0', '$last', 'WITHSCORES')
if #own > 0 and tonumber(own[2]) < stale then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.17g', stale))
  own = redis.call('ZRANGE', KEYS[1], '0', '$last', 'WITHSCORES')
end
-- One level away is read only when our own queue holds no good partner and a queue there exists.
local adjacent = nil
if #own == 0 then adjacent = #KEYS > 4 and redis.call('EXISTS', unpack(KEYS, 5)) > 0 end

local best, best_score, best_key = nil, nil, nil
if #own > 0 or adjacent then
  -- The userId of QueueMember.encode()'s canonical JSON without decoding it all; cjson only for an
  -- id with escaped characters (or a member written some other way).
  local function user_id(raw)
    local stop = string.find(raw, '","learningProfileId":"', 12, true)
    if stop and string.find(raw, '{"userId":"', 1, true) == 1 then
      local id = string.sub(raw, 12, stop - 1)
      if not string.find(id, '\\', 1, true) then return id end
    end
    local ok, c = pcall(cjson.decode, raw)
    if ok and type(c) == 'table' then return c.userId end
    return nil
  end

  -- Our own fields. One encoder writes every member, so two members want the same topic (or
  -- duration) exactly when their JSON carries the same text for it.
  local me = user_id(member)
  local t = string.find(member, ',"preferredTopicId":', 1, true)
  local d = string.find(member, ',"preferredDuration":', t, true)
  local topic_text, duration_tail = string.sub(member, t, d), string.sub(member, d)
  if topic_text == ',"preferredTopicId":null,' or topic_text == ',"preferredTopicId":"",' then topic_text = nil end
  local ideal = topic_text and 0 or 10  -- nothing ranks better: stop scanning once it is found
  local never = nil  -- built only when there are excluded ids
  if #ARGV > 2 then
    never = {}
    for i = 3, #ARGV do never[ARGV[i]] = true end
  end

  local best_rank = nil
  -- Entries come oldest first, so only a candidate from a later queue can win a tie on its score.
  local function better(rank, score_text)
    return best_rank == nil or rank < best_rank or (rank == best_rank and tonumber(score_text) < tonumber(best_score))
  end
  local function consider(key, entries, other_level)
    for i = 1, #entries, 2 do
      local raw = entries[i]
      local id = user_id(raw)
      if id ~= nil and id ~= me and not (never and never[id]) then
        local rank = other_level and 100 or 0
        if not (topic_text and string.find(raw, topic_text, 1, true)) then rank = rank + 10 end
        if not string.find(raw, duration_tail, -#duration_tail, true) then rank = rank + 1 end
        -- A partner met within the cool-down ranks last; asked only of a candidate that could win.
        if better(rank, entries[i + 1]) then
          local met = redis.call('ZSCORE', KEYS[3], id)
          if met and tonumber(met) >= met_cutoff then rank = rank + 1000 end
          if better(rank, entries[i + 1]) then
            best, best_rank, best_score, best_key = raw, rank, entries[i + 1], key
            if rank == ideal then return true end
          end
        end
      end
    end
    return false
  end

  if not consider(KEYS[1], own, false) and (best == nil or best_rank >= 1000) and #KEYS > 4 then
    if adjacent == nil then adjacent = redis.call('EXISTS', unpack(KEYS, 5)) > 0 end
    -- Only members waiting past the relax delay, unless we waited that long.
    if adjacent then
      local low, high = string.format('%.17g', stale), relaxed == 1 and '+inf' or string.format('%.17g', relax_cutoff)
      for k = 5, #KEYS do
        local entries = redis.call('ZRANGEBYSCORE', KEYS[k], low, high, 'WITHSCORES', 'LIMIT', '0', '$limit')
        if consider(KEYS[k], entries, true) then break end
      end
    end
  end
end

if best then
  redis.call('ZREM', best_key, best)
  if enqueue == 0 then redis.call('ZREM', KEYS[1], member) end
  return {best, best_score, best_key}
end
if enqueue == 1 then
  -- An accepted invitation blocks matchmaking. One accepted after the request's own check (its acceptance's
  -- cancel ran before the request was stored) keeps it out of the queue: its session id goes back to the
  -- caller, which settles the request. A pairing reads both users' bookings at its commit instead.
  local booked = redis.call('GET', KEYS[4])
  if booked then return booked end
  redis.call('ZADD', KEYS[1], score, member)
  redis.call('EXPIRE', KEYS[1], '$ttl')
  -- The index needs the queue once: a queue with members is already in it. It has no TTL: it holds
  -- at most one key per language and level.
  if #own == 0 then redis.call('SADD', KEYS[2], KEYS[1]) end
end
return false
""").substitute(last=SCAN_LIMIT - 1, limit=SCAN_LIMIT, ttl=redis_keys.QUEUE_KEY_TTL_SECONDS)

# KEYS: 1 = queue, 2 = queue index.  ARGV: 1 member, 2 score, 3 key ttl.
# Puts back a popped member with its original score (it keeps its place).
_REQUEUE = """
redis.call('ZADD', KEYS[1], 'NX', tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""


NUMBERS = struct.Struct("<ddddBB")  # ARGV[2] of the pairing script


@dataclass(frozen=True)
class QueueMember:
    """The seed's queue member: JSON {userId, learningProfileId, preferredTopicId, preferredDuration}."""

    user_id: str
    learning_profile_id: str
    preferred_topic_id: str | None
    preferred_duration: int

    def encode(self) -> str:
        # One canonical encoding, so the same request always yields the same member; the pairing
        # script reads the fields as text in this order and spacing (matchmaking/tests/test_pairing_script.py).
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


@dataclass(frozen=True)
class Booked:
    """Nobody to pair with, and the caller's user holds a booking (`sess:booked`) of `session_id`: not queued."""

    session_id: str


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
        excluded: set[str],
        met_key: str,
        met_cutoff: float,
        booking_key: str,
        enqueue: bool = True,
        relaxed: bool = False,
    ) -> Popped | Booked | None:
        numbers = NUMBERS.pack(score, stale_cutoff, relax_cutoff, met_cutoff, enqueue, relaxed)
        keys = [queue_key, redis_keys.queue_index(), met_key, booking_key, *adjacent_keys]
        result = self.pair_or_enqueue_script(keys=keys, args=[member.encode(), numbers, *sorted(excluded)])
        if isinstance(result, bytes | str):  # a booking's value (its session id)
            return Booked(session_id=result.decode() if isinstance(result, bytes) else result)
        if not result:
            return None
        raw, score_text, key = (part.decode() if isinstance(part, bytes) else part for part in result)
        return Popped(member=QueueMember.decode(raw), raw=raw, score=float(score_text), queue_key=key)

    def requeue(self, *, queue_key: str, raw: str, score: float, key_ttl: int) -> None:
        self.requeue_script(keys=[queue_key, redis_keys.queue_index()], args=[raw, repr(score), key_ttl])
