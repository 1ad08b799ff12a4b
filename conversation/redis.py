"""The process-wide Redis clients used by services: sync (django-redis' pool) and asyncio.

With REDIS_SENTINELS both find the primary through Sentinel and find it again after a failover.
redis-py pools check the pid and reset themselves after a fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from functools import cache

from django.conf import settings
from django_redis import get_redis_connection
from redis import Redis
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import NoBackoff
from redis.exceptions import LockError

log = logging.getLogger(__name__)

REPLICA_WAIT_MS = 1000

# Deletes a key only while it still holds the value we wrote (never someone else's claim).
_DELETE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Its twin: replaces the value we wrote, with a TTL, only while the key still holds it.
_SET_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end
return 0
"""


@cache
def client() -> Redis:
    # One client per process: django-redis builds a cache object per thread behind
    # get_redis_connection (a tenth of a pairing's CPU went there). The client and its pool are
    # thread-safe, and the pool reconnects after a fork.
    return get_redis_connection("default")


_async_clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}


def async_client() -> aioredis.Redis:
    """A client for the running event loop (asyncio connections cannot cross loops)."""
    loop = asyncio.get_running_loop()
    found = _async_clients.get(loop)
    if found is None:
        for old in [known for known in _async_clients if known.is_closed()]:
            del _async_clients[old]
        found = _async_clients[loop] = _new_async_client()
    return found


def _new_async_client() -> aioredis.Redis:
    # retry: a pooled connection Redis dropped (a restart) is handed out unchecked (redis-py 8 skips its
    # can_read check); retried once at once on a fresh one, as the channel layer and django-redis are. The
    # default policy's backoff held the first handshakes after Redis returned for 5 s, then failed.
    pool = {
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        "max_connections": 1000,
        "retry": AsyncRetry(NoBackoff(), 1),
    }
    if not settings.REDIS_SENTINELS:
        return aioredis.Redis.from_url(settings.REDIS_URL, **pool)
    sentinel = AsyncSentinel(settings.REDIS_SENTINELS, sentinel_kwargs=settings.REDIS_SENTINEL_KWARGS)
    # The pool asks the sentinels for the primary on every new connection, and drops its connections
    # when a READONLY reply shows the one it knew was demoted.
    return sentinel.master_for(
        settings.REDIS_SENTINEL_MASTER, db=settings.REDIS_DB, password=settings.REDIS_PASSWORD, **pool
    )


@cache
def _delete_if_equals_script():
    return client().register_script(_DELETE_IF_EQUALS)


@cache
def _set_if_equals_script():
    return client().register_script(_SET_IF_EQUALS)


def set_if_equals(key: str, expected: str, value: str, *, ttl_seconds: int) -> bool:
    """Sets `key` to `value` (expiring in `ttl_seconds`) while it holds `expected`; False if it holds anything else."""
    return bool(_set_if_equals_script()(keys=[key], args=[expected, value, ttl_seconds]))


@contextlib.contextmanager
def held(key: str, *, lease_seconds: float, wait_seconds: float, busy: Exception) -> Iterator[None]:
    """Runs the block under redis-py's lock on `key`, or raises `busy` when it is not free within
    `wait_seconds` (redis-py would raise LockError, a 500). A lease that ran out before the block ended
    has nothing left to release."""
    lock = client().lock(key, timeout=lease_seconds, blocking_timeout=wait_seconds)
    if not lock.acquire():
        raise busy
    try:
        yield
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def queue_script(pipe, script: str, *, keys: list, args: list) -> None:
    """Queues a Lua script's call on a pipeline, as EVAL.

    Not as a registered script (`register_script(...)(client=pipe)`): redis-py then sends SCRIPT EXISTS
    ahead of the pipeline, in a round trip of its own (every session's end paid one).
    """
    pipe.eval(script, len(keys), *keys, *args)


def delete_if_equals(key: str, value: str, pipe=None) -> None:
    """Deletes `key` while it holds `value`, at once or queued on `pipe`."""
    if pipe is None:
        _delete_if_equals_script()(keys=[key], args=[value])
    else:
        queue_script(pipe, _DELETE_IF_EQUALS, keys=[key], args=[value])


_ttl_set: dict[str, float] = {}


def index_ttl_due(key: str, *, every_seconds: float = 600.0) -> bool:
    """Whether this process should push forward the TTL of a shared, long-lived key now.

    Such keys (`sess:deadlines`, a queue's wait samples) need their TTL set again now and then, not
    on each write: at most once per `every_seconds` per process, so a recreated key gets one within that.
    """
    now = time.monotonic()
    if now - _ttl_set.get(key, -every_seconds) < every_seconds:
        return False
    _ttl_set[key] = now
    return True


def execute_replicated(pipe) -> list:
    """Executes `pipe`; under Sentinel, returns once a replica holds its writes too (the WAIT's reply left out).

    Redis replicates asynchronously and Sentinel promotes the replica furthest along, so a write a
    replica acknowledged survives a failover and one the primary alone held may not. For the rare
    writes that guard safety (a suspension, a block) the wait is worth it; past REPLICA_WAIT_MS it
    logs and goes on, since a replica being down must not stop staff.
    """
    if not settings.REDIS_SENTINELS:
        return pipe.execute()
    pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS)
    *results, acknowledged = pipe.execute()
    if acknowledged < 1:
        log.warning("no Redis replica acknowledged a safety write within %d ms: a failover now may lose it",
                    REPLICA_WAIT_MS)  # fmt: skip
    return results
