"""Access restrictions read on every request and every pairing: is this user suspended right now?

MongoDB holds the suspensions (moderation.documents.Suspension); Redis holds a mirror of the active
ones (`restrict:suspended`, userId -> until) stamped by a random version. Each process keeps a copy
and checks the version with one GET, so a request costs one Redis command and no MongoDB read.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from conversation import clock, redis_keys
from conversation.redis import async_client, client

log = logging.getLogger(__name__)

MIRROR_TTL_SECONDS = 24 * 3600  # past it the next reader rebuilds the mirror from MongoDB
REBUILD_CLAIM_MS = 5000
UNTIL_LIFTED = 0.0  # `until` of a suspension that lasts until staff lift it
REBUILDING = "rebuilding:"

# userId -> until (unix seconds, 0 for until lifted) of every active suspension, from the source of truth.
Loader = Callable[[], dict[str, float]]
_loader: Loader | None = None

# A change made while a rebuild is under way may be missing from what the rebuilder read: dropping
# the version aborts that rebuild (its commit checks its claim), and the next reader starts afresh.
_CHANGE = """
local version = redis.call('GET', KEYS[2])
if not version or string.sub(version, 1, 11) == 'rebuilding:' then
  redis.call('DEL', KEYS[2])
  return 0
end
if ARGV[1] == 'set' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) else redis.call('HDEL', KEYS[1], ARGV[2]) end
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# Writes a rebuilt mirror only while our claim stands (no change happened since we read MongoDB).
_COMMIT_REBUILD = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


@cache
def _change_script():
    return client().register_script(_CHANGE)


@cache
def _commit_rebuild_script():
    return client().register_script(_COMMIT_REBUILD)


def register_loader(loader: Loader) -> None:
    """The app that owns suspensions tells the kernel how to read the active ones (AppConfig.ready)."""
    global _loader
    _loader = loader


@dataclass
class _Snapshot:
    version: bytes | None = None
    until: dict[str, float] = field(default_factory=dict)
    checked_at: float = float("-inf")  # monotonic time of the last version check

    def suspended(self, user_id: str) -> bool:
        until = self.until.get(user_id)
        return until is not None and (until == UNTIL_LIFTED or until > clock.timestamp())


_snapshot = _Snapshot()


def _decode(raw: dict) -> dict[str, float]:
    return {key.decode(): float(value) for key, value in raw.items()}


def _load() -> dict[str, float]:
    return _loader() if _loader is not None else {}


def _rebuild() -> _Snapshot:
    """The mirror is gone (first start, Redis lost it, TTL): read MongoDB, and write it back if nobody changed it."""
    redis = client()
    claim = REBUILDING + uuid.uuid4().hex
    claimed = redis.set(redis_keys.restrictions_version(), claim, nx=True, px=REBUILD_CLAIM_MS)
    until = _load()
    if not claimed:
        return _Snapshot(None, until, float("-inf"))  # someone else rebuilds: answer from MongoDB, keep nothing
    version = uuid.uuid4().hex
    args = [claim, version, MIRROR_TTL_SECONDS, *(item for pair in until.items() for item in pair)]
    committed = _commit_rebuild_script()(
        keys=[redis_keys.restrictions_hash(), redis_keys.restrictions_version()], args=args
    )
    return _Snapshot(version.encode() if committed else None, until, time.monotonic() if committed else float("-inf"))


def _refresh(version: bytes | None, read_mirror: Callable[[], tuple[bytes | None, dict]]) -> _Snapshot:
    global _snapshot
    if version is not None and version == _snapshot.version:
        _snapshot.checked_at = time.monotonic()
        return _snapshot
    if version is None or version.startswith(REBUILDING.encode()):
        fresh = _rebuild()
    else:
        current, raw = read_mirror()
        fresh = _Snapshot(current, _decode(raw), time.monotonic()) if current else _rebuild()
    if fresh.version is not None:
        _snapshot = fresh
    return fresh


def _read_mirror() -> tuple[bytes | None, dict]:
    pipe = client().pipeline(transaction=True)
    pipe.get(redis_keys.restrictions_version())
    pipe.hgetall(redis_keys.restrictions_hash())
    current, raw = pipe.execute()
    return current, raw


def is_suspended(user_id: str, *, max_age: float = 0.0) -> bool:
    """True while `user_id` has an active suspension.

    `max_age` > 0 trusts a copy checked that many seconds ago (pairing, right after the request's own
    check), so the answer costs no Redis command at all.
    """
    snapshot = _snapshot
    if max_age <= 0 or time.monotonic() - snapshot.checked_at > max_age:
        snapshot = _refresh(client().get(redis_keys.restrictions_version()), _read_mirror)
    return snapshot.suspended(user_id)


async def ais_suspended(user_id: str) -> bool:
    """is_suspended for the event loop (socket handshakes): one GET; a changed version reads the mirror."""
    from asgiref.sync import sync_to_async

    redis = async_client()
    version = await redis.get(redis_keys.restrictions_version())
    if version is not None and version == _snapshot.version:
        _snapshot.checked_at = time.monotonic()
        return _snapshot.suspended(user_id)
    if version is not None and not version.startswith(REBUILDING.encode()):
        async with redis.pipeline(transaction=True) as pipe:
            current, raw = (
                await pipe.get(redis_keys.restrictions_version()).hgetall(redis_keys.restrictions_hash()).execute()
            )
        if current:
            return _refresh(version, lambda: (current, raw)).suspended(user_id)
    # Rare (the mirror is being rebuilt): MongoDB through the loader, off the event loop.
    return (await sync_to_async(_refresh, thread_sensitive=False)(None, _read_mirror)).suspended(user_id)


def restriction_publish(*, user_id: str, until: float | None) -> None:
    """Tells every process at once: `until` (unix seconds, 0 = until lifted) suspends, None lifts.

    Call it after writing MongoDB, so that a rebuild racing with it either reads the change or is aborted.
    """
    op, value = ("del", "") if until is None else ("set", repr(float(until)))
    changed = _change_script()(
        keys=[redis_keys.restrictions_hash(), redis_keys.restrictions_version()],
        args=[op, user_id, value, uuid.uuid4().hex, MIRROR_TTL_SECONDS],
    )
    if not changed:
        log.info("restrictions mirror absent or rebuilding: the next reader rebuilds it from MongoDB")
