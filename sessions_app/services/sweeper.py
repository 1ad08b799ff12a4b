"""The sweeper: ends sessions whose heartbeats stopped, that ran past the maximum,
or that nobody joined, cancels invitations left unanswered, and announces planned-duration time-ups.

It reads only due entries of two Redis sorted sets (heartbeat times, timers),
so its cost follows the sessions it acts on, never all sessions. Every action
is a compare-and-set, so two sweepers at once apply each effect once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from conversation import clock, events, redis_keys
from conversation.documents import reloaded
from conversation.lookups import parse_object_id
from conversation.redis import client
from sessions_app.documents import (
    ACTIVE,
    COMPLETED,
    END_DROPPED,
    END_TIMEOUT,
    INVITATION_ACCEPTED,
    WAITING,
    ConversationSession,
)
from sessions_app.services import lifecycle, presence, scheduling
from sessions_app.signals import session_no_show


@dataclass
class SweepResult:
    dropped: int = 0
    timed_out: int = 0
    no_shows: int = 0
    disconnected: int = 0
    time_ups: int = 0
    rebuilt: int = 0
    bookings_rebuilt: int = 0
    invitations_expired: int = 0
    starts_completed: int = 0  # started sessions whose timers a failed Redis call had left unset


def _sessions(ids: set[str]) -> dict[str, ConversationSession]:
    oids = [oid for oid in (parse_object_id(i) for i in ids) if oid]
    return {str(s.id): s for s in ConversationSession.objects(id__in=oids)} if oids else {}


def presence_rebuild_if_lost(*, now: dt.datetime) -> int:
    """If Redis lost its data (restart without persistence), rebuild every live session's
    presence and timers from MongoDB. A marker key tells; the scan runs only when it is gone."""
    redis = client()
    marker = redis_keys.session_presence_marker()
    if redis.set(marker, "1", nx=True, ex=redis_keys.SESSION_INDEX_TTL_SECONDS) is None:
        pipe = redis.pipeline(transaction=False)
        # The indexes' TTLs are kept here, once a sweep: the heartbeat index's rather than by every heartbeat,
        # the timers' because an accepted invitation's join timer may wait longer than the TTL (30 days ahead)
        # while no other timer is written.
        for key in (
            marker,
            redis_keys.session_bookings_marker(),
            redis_keys.session_heartbeats(),
            redis_keys.session_deadlines(),
        ):
            pipe.expire(key, redis_keys.SESSION_INDEX_TTL_SECONDS)
        pipe.execute()
        return 0
    rebuilt = 0
    for session in ConversationSession.objects(status__in=(WAITING, ACTIVE)).no_cache():
        if (
            session.scheduled_at
            and session.status == WAITING
            and not redis.exists(redis_keys.session_active(str(session.id)))
        ):
            presence.schedule_timer(str(session.id), presence.JOIN, presence.join_deadline(session))
            continue  # a scheduled session gets its presence at its first join
        presence.presence_restore(session, now)
        rebuilt += 1
    return rebuilt


def bookings_rebuild_if_missing(*, now: dt.datetime) -> int:
    """Writes the booking of every accepted invitation not yet ended when Redis may lack them: after a
    data loss, and once after the release that brought bookings in. A marker of its own tells (its TTL
    kept with the presence marker's); it is set once every booking is written, so a rebuild cut short by
    a store's failure runs again at the next sweep. A booking written back for a session a cancel ended
    meanwhile is healed where it stops someone (`scheduling.booking_state`)."""
    marker = redis_keys.session_bookings_marker()
    if client().exists(marker):
        return 0
    restored = 0
    for session in ConversationSession.objects(status=WAITING, invitation=INVITATION_ACCEPTED).no_cache():
        presence.booking_restore(session, now)
        restored += 1
    client().set(marker, "1", ex=redis_keys.SESSION_INDEX_TTL_SECONDS)
    return restored


def sessions_sweep(*, now: dt.datetime | None = None, batch: int = 1000) -> SweepResult:
    now = now or clock.now()
    ts = now.timestamp()
    redis = client()
    result = SweepResult()
    result.rebuilt = presence_rebuild_if_lost(now=now)
    result.invitations_expired = scheduling.invitations_expire(now=now, batch=batch)
    result.no_shows += scheduling.accepted_no_shows_end(now=now, batch=batch)
    stale = redis.zrangebyscore(
        redis_keys.session_heartbeats(), "-inf", ts - settings.SESSION_HEARTBEAT_TIMEOUT_SECONDS,
        start=0, num=batch, withscores=True,
    )  # fmt: skip
    due = redis.zrangebyscore(redis_keys.session_deadlines(), "-inf", ts, start=0, num=batch)
    entries = [(m.decode(), score) for m, score in stale]
    timers = [m.decode() for m in due]
    sessions = _sessions({e.split(":")[0] for e, _ in entries} | {t.split(":")[0] for t in timers})
    for entry in timers:
        _sweep_timer(entry, sessions.get(entry.split(":")[0]), now, result)
    for entry, last in entries:
        _sweep_silence(entry, last, sessions.get(entry.split(":")[0]), now, result)
    # Last: a rebuild that keeps failing (it runs again until it is done) must not stop the timers above.
    result.bookings_rebuilt = bookings_rebuild_if_missing(now=now)
    return result


def _sweep_timer(entry: str, session: ConversationSession | None, now: dt.datetime, result: SweepResult) -> None:
    """One due timer (`<sessionId>:join|max|time_up`): a no-show, the maximum duration, or the planned time-up."""
    redis = client()
    session_id, kind = entry.split(":", 1)
    if session is None:
        redis.zrem(redis_keys.session_deadlines(), entry)
        return
    if session.status not in (WAITING, ACTIVE):
        presence.presence_close(session)  # its timers included
        return
    if kind == presence.JOIN and session.status == WAITING:
        showed_up = _joined_users(session)  # read before the ending clears presence
        ended = lifecycle.session_end_no_show(session=session, now=now)
        if ended:
            result.no_shows += 1
            if not ended.scheduled_at:  # a scheduled session was not born of a queue
                session_no_show.send(sender=ConversationSession, session=ended, user_ids=showed_up, now=now)
    elif kind == presence.JOIN:  # active: its start's Redis step, which drops this timer, failed
        result.starts_completed += _complete_start(entry, session)
    elif kind == presence.MAX and session.status == ACTIVE:
        ended = lifecycle.session_end(
            session=session, status=COMPLETED, reason=END_TIMEOUT, expected=(ACTIVE,), now=now
        )
        result.timed_out += bool(ended)
    elif kind == presence.TIME_UP:
        # ZREM is the claim: of two sweepers, only the one that removed it announces.
        if redis.zrem(redis_keys.session_deadlines(), entry):
            events.push(events.session_group(session_id), "session.time_up", {"sessionId": session_id})
            result.time_ups += 1
    else:
        redis.zrem(redis_keys.session_deadlines(), entry)


def _complete_start(entry: str, session: ConversationSession) -> bool:
    """The Redis step of an active session's start (its flag and timers), which failed when it started."""
    if not client().zrem(redis_keys.session_deadlines(), entry):
        return False  # another sweeper claimed it
    session = reloaded(session)  # as stored now: it may have ended since this sweep read it
    if session.status != ACTIVE or not session.started_at:
        return False
    presence.presence_mark_active(session)  # idempotent: the timers follow from the stored startedAt
    return True


def _sweep_silence(
    entry: str, last: float, session: ConversationSession | None, now: dt.datetime, result: SweepResult
) -> None:
    """One participant silent past the heartbeat timeout (`<sessionId>:<slot>`): announce, or end past the grace."""
    redis = client()
    session_id, slot = entry.split(":", 1)
    if session is None:
        redis.zrem(redis_keys.session_heartbeats(), entry)
        return
    if session.status not in (WAITING, ACTIVE):  # ended, but its end could not clear its presence
        presence.presence_close(session)  # this entry included
        return
    if session.status == WAITING:
        return  # the join timer decides about sessions that never started
    grace = settings.SESSION_RECONNECT_GRACE_SECONDS + settings.SESSION_HEARTBEAT_TIMEOUT_SECONDS
    if now.timestamp() - last >= grace:
        ended = lifecycle.session_end(
            session=session, status=COMPLETED, reason=END_DROPPED, expected=(ACTIVE,), now=now
        )
        result.dropped += bool(ended)
    elif redis.sadd(redis_keys.session_disconnected(), entry):
        redis.expire(redis_keys.session_disconnected(), redis_keys.SESSION_INDEX_TTL_SECONDS)
        user_id = session.participant1_id if slot == "1" else session.participant2_id
        events.push(events.session_group(session_id), "partner.disconnected", {"userId": user_id})
        result.disconnected += 1


def _joined_users(session: ConversationSession) -> list[str]:
    pipe = client().pipeline(transaction=False)
    for slot in (1, 2):
        pipe.zscore(redis_keys.session_heartbeats(), f"{session.id}:{slot}")
    seen = pipe.execute()
    return [user for user, score in zip(session.participants, seen, strict=True) if score is not None]
