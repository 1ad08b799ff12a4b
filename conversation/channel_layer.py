"""The Redis channel layer, with a process's blocking read made safe to cancel (pushes are not lost).

channels-redis reads every socket's messages of a process with one BZPOPMIN, run by whichever
socket's receive task holds the layer's lock, and backs the popped message up only once the reply is
read. A socket that closes cancels that task: when its BZPOPMIN had already popped a message for
another socket of the process, redis-py drops the reply with the connection, and the message is gone
(django/channels_redis#366); conversation/tests/test_channel_layer.py reproduces it. Lobby sockets
close as session sockets of the same process wait for `session.started`, so the window is a real one.
It also forgets a closed socket's channel: channels-redis buffers in process every message the
process reads, and one for a socket already gone stayed buffered for good (a soak grew each web
process by ~4 MB a minute).
"""

from __future__ import annotations

import asyncio
import collections
import logging

from channels_redis.core import RedisChannelLayer

log = logging.getLogger(__name__)

# Puts one popped message back at its place in its queue (its original score), out of the backup queue.
_GIVE_BACK = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[1], score, ARGV[1])
end
"""


class _Buffers(collections.defaultdict):
    """The layer's per-channel buffers: a message for a channel nobody receives on any more is dropped."""

    def __init__(self, factory, live: set[str]) -> None:
        super().__init__(factory)
        self.live = live

    def __missing__(self, channel: str):
        if channel in self.live:
            return super().__missing__(channel)
        return self.default_factory()  # not stored: its socket is gone


class CancelSafeRedisChannelLayer(RedisChannelLayer):
    """channels-redis' core layer; a read cancelled mid-flight hands its message back instead of dropping it,
    and a closed socket's channel is forgotten (`forget`) with what was buffered for it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._giving_back: set[asyncio.Task] = set()
        self._live: set[str] = set()
        self.receive_buffer = _Buffers(self.receive_buffer.default_factory, self._live)

    async def receive(self, channel):
        self._live.add(channel)
        return await super().receive(channel)

    def forget(self, channel: str) -> None:
        """The socket behind `channel` has closed: drop its buffer, and whatever arrives for it later."""
        self._live.discard(channel)
        self.receive_buffer.pop(channel, None)

    async def _brpop_with_clean(self, index, channel, timeout):
        # The pop and its backup run to the end whatever happens to the caller, so a reply is never
        # dropped half read; a message it popped for nobody goes back to the front of the queue, where
        # the process's next reader (already blocked on it) takes it at once.
        pop = asyncio.ensure_future(super()._brpop_with_clean(index, channel, timeout))
        try:
            return await asyncio.shield(pop)
        except asyncio.CancelledError:
            pop.add_done_callback(lambda done: self._give_back_later(done, index, channel))
            raise

    def _give_back_later(self, pop: asyncio.Future, index: int, channel: str) -> None:
        if pop.cancelled() or pop.exception() is not None or pop.result() is None:
            return  # nothing was popped (a timeout, a store error): nothing to give back
        task = asyncio.ensure_future(self._give_back(index, channel, pop.result()))
        self._giving_back.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._giving_back.discard)

    async def _give_back(self, index: int, channel: str, member: bytes) -> None:
        try:
            await self.connection(index).eval(_GIVE_BACK, 2, channel, self._backup_channel_name(channel), member)
        except Exception:  # Redis gone: the message stays in the backup queue, which the next read restores
            log.warning("channel layer: a popped message could not be given back yet", exc_info=True)
