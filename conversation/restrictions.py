"""Access restrictions read on every request and every pairing: is this user suspended, whom did they block?

MongoDB holds suspensions and blocks. Redis mirrors the active suspensions (`restrict:suspended`, stamped
by a random version each process compares to its copy) and flags the users who have blocks; one MGET
reads both. A read's authentication trusts a copy confirmed within AUTH_CHECK_AGE (a request that may
change state checks exactly, one command); a matchmaking request checks its user exactly inside its own
first round trip (`check_keys`, `suspended_in`); a pairing reads MongoDB for blocks only when its user has
some.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from itertools import islice

from conversation import clock, redis_keys
from conversation.redis import async_client, client, execute_replicated, queue_script

log = logging.getLogger(__name__)

MIRROR_TTL_SECONDS = 24 * 3600  # past it the next reader rebuilds the mirror from MongoDB
REBUILD_CLAIM_MS = 5000
UNTIL_LIFTED = 0.0  # `until` of a suspension that lasts until staff lift it
REBUILDING = "rebuilding:"

# userId -> until (unix seconds, 0 for until lifted) of every active suspension, or of one user's (its
# argument), from the source of truth.
Loader = Callable[[str | None], dict[str, float]]
_loader: Loader | None = None
# The blocks of one user, and every user who has blocked someone, from the source of truth.
BlocksOf = Callable[[str], set[str]]
Blockers = Callable[[], Iterable[str]]
_blocks_of: BlocksOf | None = None
_blockers: Blockers | None = None
BLOCKER_FLAG_TTL_SECONDS = 2 * MIRROR_TTL_SECONDS  # outlives the epoch it was written in (see blocks_publish)
_SEEN_MAX = 10_000
# A suspension takes effect within a second everywhere (DESIGN.md): a read's authentication may answer
# from a copy whose version this process confirmed that long ago (conversation.auth); the process that
# made the change drops its copy at once (restriction_publish).
AUTH_CHECK_AGE = 0.5

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
def _commit_rebuild_script():
    return client().register_script(_COMMIT_REBUILD)


def register_loader(loader: Loader) -> None:
    """The app that owns suspensions tells the kernel how to read the active ones (AppConfig.ready)."""
    global _loader
    _loader = loader


def register_blocks_loader(*, blocks_of: BlocksOf, blockers: Blockers) -> None:
    """The app that owns blocks tells the kernel how to read one user's and who has any (AppConfig.ready)."""
    global _blocks_of, _blockers
    _blocks_of, _blockers = blocks_of, blockers


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


def _load(user_id: str | None = None) -> dict[str, float]:
    """Every active suspension, or `user_id`'s only."""
    return _loader(user_id) if _loader is not None else {}


def _rebuild(user_id: str) -> _Snapshot:
    """The mirror is gone (first start, Redis lost it, TTL): read MongoDB, and write it back if nobody changed it.

    One reader claims the rebuild; meanwhile the others read their own user's suspensions (an indexed read)
    rather than every suspension, so the requests arriving during a rebuild are not as many full reads.
    """
    redis = client()
    claim = REBUILDING + uuid.uuid4().hex
    claimed = redis.set(redis_keys.restrictions_version(), claim, nx=True, px=REBUILD_CLAIM_MS)
    if not claimed:
        return _Snapshot(None, _load(user_id), float("-inf"))  # answers for `user_id` only; kept nowhere
    until = _load()
    version = uuid.uuid4().hex
    args = [claim, version, MIRROR_TTL_SECONDS, *(item for pair in until.items() for item in pair)]
    committed = _commit_rebuild_script()(
        keys=[redis_keys.restrictions_hash(), redis_keys.restrictions_version()], args=args
    )
    return _Snapshot(version.encode() if committed else None, until, time.monotonic() if committed else float("-inf"))


def _refresh(version: bytes | None, read_mirror: Callable[[], tuple[bytes | None, dict]], user_id: str) -> _Snapshot:
    """The process's copy, current at `version`; without a mirror, a snapshot that answers for `user_id`."""
    global _snapshot
    copy = _snapshot  # read once: restriction_publish may replace it meanwhile
    if version is not None and version == copy.version:
        copy.checked_at = time.monotonic()
        return copy
    if version is None or version.startswith(REBUILDING.encode()):
        fresh = _rebuild(user_id)
    else:
        current, raw = read_mirror()
        fresh = _Snapshot(current, _decode(raw), time.monotonic()) if current else _rebuild(user_id)
    if fresh.version is not None:
        _snapshot = fresh
    return fresh


def _read_mirror() -> tuple[bytes | None, dict]:
    pipe = client().pipeline(transaction=True)
    pipe.get(redis_keys.restrictions_version())
    pipe.hgetall(redis_keys.restrictions_hash())
    current, raw = pipe.execute()
    return current, raw


@dataclass(frozen=True)
class _Blocks:
    """What the last check of one user read: the blocks epoch and the user's flag."""

    at: float  # monotonic
    epoch: bytes | None
    flag: bytes | None  # the user's blocker flag: a new token at each block they make (`blocks_publish`)

    @property
    def flagged(self) -> bool:
        return self.flag is not None


# userId -> its last check, reused by the pairing that follows the request's own check.
_seen: dict[str, _Blocks] = {}


def check_keys(user_id: str) -> tuple[str, str, str]:
    """The keys of `user_id`'s exact check (the suspensions' version, the blocks epoch, the user's blocker
    flag), for `_check`'s MGET or a caller's own; `suspended_in` answers from their values, in this order."""
    return redis_keys.restrictions_version(), redis_keys.blocks_epoch(), redis_keys.blocker_flag(user_id)


def _check(user_id: str) -> _Snapshot:
    """One MGET: the suspensions' version (the copy refreshed if it moved) and the user's blocks flag."""
    return _settle(user_id, client().mget(*check_keys(user_id)))


def _settle(user_id: str, reply: list) -> _Snapshot:
    version, epoch, flag = reply
    if len(_seen) >= _SEEN_MAX:  # entries matter for a second; user ids come from callers
        _seen.clear()
    _seen[user_id] = _Blocks(time.monotonic(), epoch, flag)
    return _refresh(version, _read_mirror, user_id)


def suspended_in(values: list, *, user_id: str) -> bool:
    """`is_suspended(user_id)` from the values of `check_keys`; a pairing within the next second reuses the
    check, as it does `is_suspended`'s."""
    return _settle(user_id, values).suspended(user_id)


def is_suspended(user_id: str, *, max_age: float = 0.0) -> bool:
    """True while `user_id` has an active suspension.

    `max_age` > 0 trusts a copy checked that many seconds ago (authentication, AUTH_CHECK_AGE; pairing,
    right after the request's own check), so the answer then costs no Redis command at all.
    """
    return suspension_checked(user_id, max_age=max_age)[0]


def suspension_checked(user_id: str, *, max_age: float = 0.0) -> tuple[bool, bytes | None]:
    """`is_suspended`, and the suspensions' version its answer came from: `version_key()` read later to the
    same value, not None, means no suspension was made or lifted since (each writes a new version; one made
    while the mirror is missing or rebuilt writes none)."""
    snapshot = _snapshot
    if max_age <= 0 or time.monotonic() - snapshot.checked_at > max_age:
        snapshot = _check(user_id)
    return snapshot.suspended(user_id), snapshot.version


def blocked_ids(user_id: str, *, max_age: float = 0.0) -> set[str]:
    """The users `user_id` blocked: no MongoDB read for a user without blocks, as most are.

    `max_age` > 0 trusts the flag read by this user's check that many seconds ago (the matchmaking request's
    own, `suspended_in`), so the answer costs no Redis command either.
    """
    return blocks_checked(user_id, max_age=max_age)[0]


def blocks_checked(user_id: str, *, max_age: float = 0.0) -> tuple[set[str], bytes | None]:
    """`blocked_ids`, and the user's blocker flag its answer came from: `blocker_flag_key(user_id)` read later
    to the same value means the user made no block since (each writes a new flag)."""
    seen = _seen.get(user_id)
    if seen is None or max_age <= 0 or time.monotonic() - seen.at > max_age:
        _check(user_id)
        seen = _seen[user_id]
    if seen.epoch is None or seen.epoch.startswith(REBUILDING.encode()):
        _rebuild_blocker_flags()
    elif not seen.flagged:
        return set(), seen.flag
    return (_blocks_of(user_id) if _blocks_of is not None else set()), seen.flag


def blocker_flag_key(user_id: str) -> str:
    """The key of `user_id`'s blocker flag (`blocks_checked`), for a caller that reads it in a round trip of
    its own."""
    return redis_keys.blocker_flag(user_id)


def blocks_publish(*, user_ids: Iterable[str]) -> None:
    """Flags users who just blocked someone: call it after writing MongoDB.

    The flag is only ever set (a lifted block leaves it: the user's pairings read MongoDB, which is
    right either way), so it races with nothing. It outlives the epoch it was written in, and every
    epoch starts with a rebuild that flags every blocker MongoDB held: while the epoch is present,
    no blocker lacks its flag. Its value is a new token each time, so a pairing that read it before a
    block tells, reading it again once its session is stored, that it must look again (`blocks_checked`).
    """
    pipe = client().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.set(redis_keys.blocker_flag(user_id), uuid.uuid4().hex, ex=BLOCKER_FLAG_TTL_SECONDS)
    execute_replicated(pipe)  # a flag lost in a failover would let a blocker meet the user blocked


def _rebuild_blocker_flags() -> None:
    """No epoch (first start, Redis lost it, a day passed): flag every blocker, then open a new epoch.

    One reader claims the work; the others answer from MongoDB meanwhile. A block written during the
    rebuild flags its user itself, so the epoch may open whatever happened since the read.
    """
    redis = client()
    if not redis.set(redis_keys.blocks_epoch(), REBUILDING + uuid.uuid4().hex, nx=True, px=REBUILD_CLAIM_MS):
        return
    blockers = iter(_blockers() if _blockers is not None else ())
    while chunk := list(islice(blockers, 1000)):
        blocks_publish(user_ids=chunk)
    redis.set(redis_keys.blocks_epoch(), uuid.uuid4().hex, ex=MIRROR_TTL_SECONDS)


def forget() -> None:
    """Drops this process's copies (tests start each case from empty stores)."""
    global _snapshot
    _snapshot = _Snapshot()
    _seen.clear()


def version_key() -> str:
    """The key whose value `ais_suspended` compares with this process's copy (read by the caller)."""
    return redis_keys.restrictions_version()


async def ais_suspended(user_id: str, *, version: bytes | None) -> bool:
    """is_suspended for the event loop (socket handshakes), given the value of `version_key()` the
    caller read in its own round trip: nothing more when it is this process's copy; a changed version
    reads the mirror."""
    from asgiref.sync import sync_to_async

    redis = async_client()
    copy = _snapshot  # read once: restriction_publish may replace it meanwhile
    if version is not None and version == copy.version:
        copy.checked_at = time.monotonic()
        return copy.suspended(user_id)
    if version is not None and not version.startswith(REBUILDING.encode()):
        async with redis.pipeline(transaction=True) as pipe:
            current, raw = (
                await pipe.get(redis_keys.restrictions_version()).hgetall(redis_keys.restrictions_hash()).execute()
            )
        if current:
            return _refresh(version, lambda: (current, raw), user_id).suspended(user_id)
    # Rare (the mirror is being rebuilt): MongoDB through the loader, off the event loop.
    return (await sync_to_async(_refresh, thread_sensitive=False)(None, _read_mirror, user_id)).suspended(user_id)


def restriction_publish(*, user_id: str, until: float | None) -> None:
    """Tells every process at once: `until` (unix seconds, 0 = until lifted) suspends, None lifts.

    Call it after writing MongoDB, so that a rebuild racing with it either reads the change or is aborted.
    """
    op, value = ("del", "") if until is None else ("set", repr(float(until)))
    pipe = client().pipeline(transaction=False)
    queue_script(
        pipe,
        _CHANGE,
        keys=[redis_keys.restrictions_hash(), redis_keys.restrictions_version()],
        args=[op, user_id, value, uuid.uuid4().hex, MIRROR_TTL_SECONDS],
    )
    global _snapshot
    try:
        (changed,) = execute_replicated(pipe)  # a change lost in a failover would leave the mirror wrong for a day
    finally:
        # This process's next check reads the mirror again: a fresh copy, which a thread's confirmation of
        # the old version cannot match. (A thread that read the mirror before the change may still put
        # that copy back; reads then trust it for AUTH_CHECK_AGE at most, and an exact check replaces it.)
        _snapshot = _Snapshot()
    if not changed:
        log.info("restrictions mirror absent or rebuilding: the next reader rebuilds it from MongoDB")
