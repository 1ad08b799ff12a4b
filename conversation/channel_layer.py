"""The Redis channel layer, with a process's blocking read made safe to cancel (pushes are not lost),
and fewer round trips per socket and per push.

channels-redis reads every socket's messages of a process with one BZPOPMIN, run by whichever
socket's receive task holds the layer's lock, and backs the popped message up only once the reply is
read. A socket that closes cancels that task: when its BZPOPMIN had already popped a message for
another socket of the process, redis-py drops the reply with the connection, and the message is gone
(django/channels_redis#366); conversation/tests/test_channel_layer.py reproduces it. Lobby sockets
close as session sockets of the same process wait for `session.started`, so the window is a real one.
It also forgets a closed socket's channel: channels-redis buffers in process every message the
process reads, and one for a socket already gone stayed buffered for good (a soak grew each web
process by ~4 MB a minute).
Round trips: a socket joins all its groups in one pipeline (channels-redis spends two per group joined
and one per group left), or inside its slot claim, and leaves them with its slot (`membership`); a group
send takes one (channels-redis four, sending its script's text every time), and so does a send to
several groups (`group_send_many`): one script reads the groups' members and queues the message, writing
channels-redis' msgpack itself (two calls, the message built in Python, for a layer on several hosts,
with encryption or per-channel capacities); a read takes one, a BZPOPMIN with a ZPOPMIN of what else
waits (a push to a session's group and both users' groups is three messages in a process's queue), where
channels-redis makes four per message (restore script, BZPOPMIN, backup ZADD, backup ZPOPMIN): its backup
queue covers a read cancelled mid-flight, which the subclass never lets happen, so none is kept. The web
process, whose CPU is the load run's limit, makes fewer calls (docs/SCALING.md, Sockets and the channel
layer).
Sync code (requests, a socket's thread work, Celery tasks) sends with `group_send_many_blocking`, the
same scripts over a blocking connection, instead of handing each push to the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgpack
import redis
from channels_redis.core import RedisChannelLayer
from channels_redis.serializers import MsgPackSerializer
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

log = logging.getLogger(__name__)

# Each group's members once the expired ones are dropped: channels-redis' ZREMRANGEBYSCORE then ZRANGE,
# for several groups in one call.
_GROUP_MEMBERS = """
local members = {}
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[1])
  members[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
end
return members
"""

# channels-redis' group send script with its separate prune of expired messages folded in: per channel
# key, drop what expired, then add the message unless the channel is at capacity. ARGV: the messages,
# the capacities, the expiry cut-off, now, the key's lifetime. Returns how many were over capacity.
# Each message is scored a microsecond after the one before it: a queue given two in one call (two
# groups of one `group_send_many`) gets them in the order sent, not in the order of their bytes.
_GROUP_SEND = """
local count = #KEYS
local expired_before, now, expiry = ARGV[2 * count + 1], ARGV[2 * count + 2], ARGV[2 * count + 3]
local over_capacity = 0
for i = 1, count do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, expired_before)
  if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[count + i]) then
    redis.call('ZADD', KEYS[i], tonumber(now) + (i - 1) * 0.000001, ARGV[i])
    redis.call('EXPIRE', KEYS[i], expiry)
  else
    over_capacity = over_capacity + 1
  end
end
return over_capacity
"""

# `group_send_many` in one call, for a layer on one Redis host with plain msgpack messages: per send (its
# group in KEYS[i]), drop the group's expired members, then queue the message once per process queue its
# members' channels live in, as _GROUP_SEND does, unless the queue is at capacity. channels-redis builds
# each queue's message in Python (the message plus `__asgi_channel__`, that queue's channels); here the
# sender passes each message's bytes up to that field's value (ARGV[6 + i]: random prefix, map header
# counting the field, the message's entries, the field's name) and the script appends the msgpack array
# of channel names, the same bytes Python would write. ARGV[1..6]: member cut-off, message cut-off, now,
# key lifetime, capacity, key prefix. Returns how many queues were over capacity.
_GROUP_SEND_ONE_CALL = """
local member_cutoff, message_cutoff, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local expiry, capacity, prefix = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local function pack_length(n, fix, fix_max, tag16)
  if n <= fix_max then return string.char(fix + n) end
  return string.char(tag16, math.floor(n / 256), n % 256)
end
local function pack_str(text)
  local n = #text
  if n < 32 then return string.char(0xa0 + n) .. text end
  if n < 256 then return string.char(0xd9, n) .. text end
  return string.char(0xda, math.floor(n / 256), n % 256) .. text
end
local pruned, over_capacity, queued = {}, 0, 0
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, member_cutoff)
  local queues, channels = {}, {}
  for _, channel in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
    local bang = string.find(channel, '!', 1, true)
    local key = prefix .. (bang and string.sub(channel, 1, bang) or channel)
    if not channels[key] then
      channels[key] = {}
      queues[#queues + 1] = key
    end
    table.insert(channels[key], channel)
  end
  for _, key in ipairs(queues) do
    if not pruned[key] then
      redis.call('ZREMRANGEBYSCORE', key, 0, message_cutoff)
      pruned[key] = true
    end
    if redis.call('ZCOUNT', key, '-inf', '+inf') < capacity then
      local parts = {ARGV[6 + i], pack_length(#channels[key], 0x90, 15, 0xdc)}
      for _, channel in ipairs(channels[key]) do parts[#parts + 1] = pack_str(channel) end
      redis.call('ZADD', key, now + queued * 0.000001, table.concat(parts))
      redis.call('EXPIRE', key, expiry)
      queued = queued + 1
    else
      over_capacity = over_capacity + 1
    end
  end
end
return over_capacity
"""


def blocking_pool(host: dict) -> redis.ConnectionPool:
    """channels-redis' `create_pool` for blocking clients: the same host settings (an address or a
    Sentinel-watched primary), a pool redis-py resets after a fork; the asyncio retry becomes its blocking
    twin (one retry at once on a fresh connection)."""
    host = {**host, "retry": Retry(NoBackoff(), 1)} if "retry" in host else dict(host)
    if "address" in host:
        return redis.ConnectionPool.from_url(host.pop("address"), **host)
    if (master_name := host.pop("master_name", None)) is not None:
        sentinel = Sentinel(host.pop("sentinels"), sentinel_kwargs=host.pop("sentinel_kwargs", None))
        return SentinelConnectionPool(master_name, sentinel, **host)
    return redis.ConnectionPool(**host)


_CHANNEL_FIELD = msgpack.packb("__asgi_channel__")

# Messages one read of a process's queue takes at most (the first blocking, the rest waiting already).
READ_BATCH = 32


def _popped(first: tuple | None, rest: Iterable[tuple[bytes, float]] = ()) -> list[tuple[bytes, float]]:
    """(member, score) of what a read's BZPOPMIN (key, member, score; None on its timeout) and ZPOPMIN took."""
    return ([(first[1], first[2])] if first else []) + [(member, score) for member, score in rest]


class _Buffers(collections.defaultdict):
    """The layer's per-channel buffers: a message for a channel nobody receives on any more is dropped."""

    def __init__(self, factory, live: set[str]) -> None:
        super().__init__(factory)
        self.live = live

    def __missing__(self, channel: str):
        if channel in self.live:
            return super().__missing__(channel)
        return self.default_factory()  # not stored: its socket is gone


@dataclass(frozen=True)
class Membership:
    """A channel's place in some groups as the layer stores it (channels-redis' `group_add`: the channel in
    each group's sorted set, scored by the time it joined, the set living `expiry` seconds), for a caller
    that joins or leaves them inside a call of its own to the layer's Redis: the socket handshake's slot
    claim and its release (conversation/socket_limits.py), one round trip each instead of two."""

    keys: list[str]
    channel: str
    expiry: int


class CancelSafeRedisChannelLayer(RedisChannelLayer):
    """channels-redis' core layer; a read cancelled mid-flight puts its message back instead of dropping it,
    and a closed socket's channel is forgotten (`forget`) with what was buffered for it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._giving_back: set[asyncio.Task] = set()
        self._live: set[str] = set()
        self.receive_buffer = _Buffers(self.receive_buffer.default_factory, self._live)
        self._scripts: dict[str, AsyncScript] = {}
        self._taken: dict[str, collections.deque[bytes]] = {}  # queue key -> read, not yet handed over
        self._blocking_clients: dict[int, redis.Redis] = {}
        self._blocking_scripts: dict[tuple[int, str], Script] = {}
        self._blocking_lock = threading.Lock()
        # The one-call group send writes msgpack itself: one host, no encryption, one capacity for all.
        self._one_call = (
            self.ring_size == 1
            and isinstance(self._serializer, MsgPackSerializer)
            and self._serializer.crypter is None
            and self._serializer.random_prefix_length > 0
            and not self.channel_capacity
        )

    async def _script(self, index: int, text: str, keys: list, args: list):
        """Runs a script by its digest (EVALSHA; loaded once per Redis), on the layer's connection `index`."""
        connection = self.connection(index)
        script = self._scripts.get(text) or self._scripts.setdefault(text, AsyncScript(connection, text))
        return await script(keys=keys, args=args, client=connection)

    def membership(self, groups: list[str], channel: str) -> Membership:
        """`channel` in `groups`, for a call of the caller's own (`Membership`). The layer must live on one
        Redis, the one of REDIS_URL that the caller's client talks to (config/settings.py builds both)."""
        assert self.ring_size == 1, "a membership is written in one call: the layer must have one host"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        keys = [self._group_key(group) for group in self._by_host(groups).get(0, [])]
        return Membership(keys, channel, self.group_expiry)

    async def group_add_many(self, groups: list[str], channel: str) -> None:
        """`group_add` for each of `groups`, in one round trip per Redis host instead of two per group."""
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        for index, names in self._by_host(groups).items():
            async with self.connection(index).pipeline(transaction=False) as pipe:
                for group in names:
                    pipe.zadd(self._group_key(group), {channel: time.time()})
                    pipe.expire(self._group_key(group), self.group_expiry)
                await pipe.execute()

    def _by_host(self, groups: list[str]) -> dict[int, list[str]]:
        hosts: dict[int, list[str]] = collections.defaultdict(list)
        for group in dict.fromkeys(groups):  # each group once, in order
            assert self.require_valid_group_name(group), "Group name not valid"
            hosts[self.consistent_hash(group)].append(group)
        return hosts

    async def group_send(self, group, message) -> None:
        """channels-redis' group send (same commands, same capacity rule) in two round trips instead of four."""
        await self.group_send_many([(group, message)])

    async def group_send_many(self, sends: list[tuple[str, dict]]) -> None:
        """`group_send` of each (group, message), in order, whatever the number of groups: one script call
        (`_GROUP_SEND_ONE_CALL`), or where it cannot serve the layer, one call reading every group's
        members and one per Redis host queueing every message."""
        now = time.time()
        if self._one_call:
            keys, args = self._one_call_arguments(sends, now)
            self._note_over_capacity(await self._script(0, _GROUP_SEND_ONE_CALL, keys, args), sends)
            return
        members: dict[str, list[bytes]] = {}
        for index, groups, keys, args in self._member_reads(sends, now):
            members.update(zip(groups, await self._script(index, _GROUP_MEMBERS, keys, args), strict=True))
        for index, keys, args in self._queue_writes(sends, members, now):
            self._note_over_capacity(await self._script(index, _GROUP_SEND, keys, args), sends)

    def group_send_many_blocking(self, sends: list[tuple[str, dict]]) -> None:
        """`group_send_many` from a thread without an event loop (a request, a socket's sync work, a Celery
        task): the same scripts over a blocking connection. `async_to_sync` would hand the send to the
        event loop and wait for it there, two thread wake-ups and a task per push (docs/SCALING.md)."""
        now = time.time()
        if self._one_call:
            keys, args = self._one_call_arguments(sends, now)
            self._note_over_capacity(self._blocking_script(0, _GROUP_SEND_ONE_CALL, keys, args), sends)
            return
        members: dict[str, list[bytes]] = {}
        for index, groups, keys, args in self._member_reads(sends, now):
            members.update(zip(groups, self._blocking_script(index, _GROUP_MEMBERS, keys, args), strict=True))
        for index, keys, args in self._queue_writes(sends, members, now):
            self._note_over_capacity(self._blocking_script(index, _GROUP_SEND, keys, args), sends)

    def _one_call_arguments(self, sends: list[tuple[str, dict]], now: float) -> tuple[list, list]:
        """KEYS and ARGV of _GROUP_SEND_ONE_CALL: each send's group, and its message up to its channels."""
        keys = []
        for group, _ in sends:
            assert self.require_valid_group_name(group), "Group name not valid"
            keys.append(self._group_key(group))
        cutoffs = [int(now) - self.group_expiry, int(now) - int(self.expiry), now, self.expiry, self.capacity]
        heads = [self._head(message) for _, message in sends]
        return keys, [*cutoffs, self.prefix, *heads]

    def _head(self, message: dict) -> bytes:
        """The serialized message as channels-redis writes it for one queue, up to the value of its
        `__asgi_channel__` field: random prefix, map header (one entry more), entries, the field's name."""
        assert "__asgi_channel__" not in message
        serialized = self.serialize(message)  # channels-redis' own: random prefix, then msgpack
        cut = self._serializer.random_prefix_length
        prefix, packed = serialized[:cut], serialized[cut:]
        first = packed[0]
        if first & 0xF0 == 0x80:  # fixmap: up to 15 entries
            entries, body = first & 0x0F, packed[1:]
        elif first == 0xDE:  # map 16
            entries, body = int.from_bytes(packed[1:3], "big"), packed[3:]
        else:
            raise ValueError("a channel message has more than 65535 entries")
        count = entries + 1
        header = bytes([0x80 | count]) if count <= 15 else b"\xde" + count.to_bytes(2, "big")
        return prefix + header + body + _CHANNEL_FIELD

    def _member_reads(self, sends: list[tuple[str, dict]], now: float) -> Iterator[tuple[int, list, list, list]]:
        """Per Redis host: its groups, their keys and the expiry cut-off (the _GROUP_MEMBERS call)."""
        for index, groups in self._by_host([group for group, _ in sends]).items():
            yield index, groups, [self._group_key(group) for group in groups], [int(now) - self.group_expiry]

    def _queue_writes(
        self, sends: list[tuple[str, dict]], members: dict[str, list[bytes]], now: float
    ) -> Iterator[tuple[int, list, list]]:
        """Per Redis host: the channel queues to write and the _GROUP_SEND arguments, messages in send order."""
        queued: dict[int, tuple[list, list, list]] = collections.defaultdict(lambda: ([], [], []))
        for group, message in sends:
            channels = [member.decode("utf8") for member in members[group]]
            by_host, messages, capacities = self._map_channel_keys_to_connection(channels, message)
            for index, keys in by_host.items():
                queued[index][0].extend(keys)
                queued[index][1].extend(messages[key] for key in keys)
                queued[index][2].extend(capacities[key] for key in keys)
        for index, (keys, messages, capacities) in queued.items():
            yield index, keys, [*messages, *capacities, int(now) - int(self.expiry), now, self.expiry]

    @staticmethod
    def _note_over_capacity(over_capacity: int, sends: list[tuple[str, dict]]) -> None:
        if over_capacity:
            groups = ", ".join(group for group, _ in sends)
            log.info("%s queues over capacity in groups %s", over_capacity, groups)

    def _blocking_script(self, index: int, text: str, keys: list, args: list):
        """`_script` on a blocking client of host `index` (one per host and process, shared by threads)."""
        script = self._blocking_scripts.get((index, text))
        if script is None:
            script = self._blocking_client(index).register_script(text)
            script = self._blocking_scripts.setdefault((index, text), script)
        return script(keys=keys, args=args)

    def _blocking_client(self, index: int) -> redis.Redis:
        with self._blocking_lock:
            if index not in self._blocking_clients:
                self._blocking_clients[index] = redis.Redis(connection_pool=blocking_pool(self.hosts[index]))
            return self._blocking_clients[index]

    async def receive(self, channel):
        self._live.add(channel)
        return await super().receive(channel)

    async def flush(self) -> None:
        self._taken.clear()
        await super().flush()

    def forget(self, channel: str) -> None:
        """The socket behind `channel` has closed: drop its buffer, and whatever arrives for it later."""
        self._live.discard(channel)
        self.receive_buffer.pop(channel, None)

    async def _brpop_with_clean(self, index, channel, timeout):
        # What the last read took beyond its first message comes first, in queue order. Else one round
        # trip: a BZPOPMIN, which answers at once when a message waits, and on the process's own queue (a
        # channel name ending in "!", read by this process only) a ZPOPMIN of what else waits then (a busy
        # process finds several), which Redis runs right after it. The pops run to the end whatever
        # happens to the caller, so a reply is never dropped half read; what they popped for nobody goes
        # back to the front of the queue, where the process's next reader takes it.
        if taken := self._taken.get(channel):
            message = taken.popleft()
            if not taken:
                del self._taken[channel]
            return message
        more = READ_BATCH - 1 if channel.endswith("!") else 0
        pipe = self.connection(index).pipeline(transaction=False).bzpopmin(channel, timeout=timeout)
        pop = asyncio.ensure_future((pipe.zpopmin(channel, more) if more else pipe).execute())
        try:
            replies = await asyncio.shield(pop)
        except asyncio.CancelledError:
            pop.add_done_callback(lambda done: self._give_back_later(done, index, channel))
            raise
        popped = collections.deque(member for member, _ in _popped(*replies))
        if not popped:
            return None
        head = popped.popleft()
        if popped:
            self._taken[channel] = popped
        return head

    async def _clean_receive_backup(self, index, channel) -> None:
        """No backup to clean: channels-redis backs each popped message up until it is handed over, for
        a read cancelled before that; here the read is never cut short (`_brpop_with_clean`)."""

    def _give_back_later(self, pop: asyncio.Future, index: int, channel: str) -> None:
        if pop.cancelled() or pop.exception() is not None or not (popped := _popped(*pop.result())):
            return  # nothing was popped (a timeout, a store error): nothing to give back
        task = asyncio.ensure_future(self._give_back(index, channel, popped))
        self._giving_back.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._giving_back.discard)

    async def _give_back(self, index: int, channel: str, popped: list[tuple[bytes, float]]) -> None:
        try:
            await (
                self.connection(index)
                .pipeline(transaction=False)
                .zadd(channel, {member: float(score) for member, score in popped})
                .expire(channel, int(self.expiry))
                .execute()
            )
        except Exception:  # Redis gone: its sockets' reads fail too, they close 1013 and their clients resync
            log.warning("channel layer: a popped message could not be given back", exc_info=True)
