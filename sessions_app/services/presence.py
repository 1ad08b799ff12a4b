"""Redis side of a live session (the seed's presence hash, user map and timers) and of an accepted
invitation (its participants' bookings, `sess:booked`)."""

from __future__ import annotations

import datetime as dt
from functools import cache

from django.conf import settings
from redis.client import Pipeline

from conversation import redis_keys
from conversation.redis import client, delete_if_equals, index_ttl_due, set_if_equals
from sessions_app.documents import ACTIVE, ConversationSession
from sessions_app.redis_scripts import Beat, Held, Scripts

JOIN, MAX, TIME_UP = "join", "max", "time_up"
SCHEDULE_EARLY = dt.timedelta(minutes=5)
SCHEDULE_LATE = dt.timedelta(minutes=10)
BOOKING_SLACK_SECONDS = 60  # a booking outlives its session's join deadline by this, for the sweep to end it
LIVE_SLACK_SECONDS = 60  # a started session's presence outlives its maximum by this, for the sweep to end it


@cache
def scripts() -> Scripts:
    return Scripts(client())


def timer(session_id: str, kind: str) -> str:
    return f"{session_id}:{kind}"


def join_deadline(session: ConversationSession) -> dt.datetime:
    if session.scheduled_at:
        return session.scheduled_at + SCHEDULE_LATE
    return session.created_at + dt.timedelta(seconds=settings.SESSION_JOIN_TIMEOUT_SECONDS)


def schedule_timer(session_id: str, kind: str, at: dt.datetime, pipe: Pipeline | None = None) -> None:
    key = redis_keys.session_deadlines()
    target = pipe if pipe is not None else client().pipeline(transaction=False)
    target.zadd(key, {timer(session_id, kind): at.timestamp()})
    if index_ttl_due(key):
        target.expire(key, redis_keys.SESSION_INDEX_TTL_SECONDS)
    if pipe is None:
        target.execute()


def presence_open(session: ConversationSession, pipe: Pipeline | None = None, *, ttl: int | None = None) -> None:
    """Writes the seed's `session:active:{id}` hash and both `user:session:{userId}` keys, with the seed's TTL
    (an active session's rebuild gives `live_ttl`)."""
    own = pipe if pipe is not None else client().pipeline(transaction=True)
    sid = str(session.id)
    key = redis_keys.session_active(sid)
    fields = {"participant1Id": session.participant1_id, "participant2Id": session.participant2_id}
    own.hset(key, mapping={**fields, "status": session.status})
    # A join already there stays: the pairing publishes this hash after its MongoDB commits, and a
    # participant who read the match from MongoDB first (its own POST lost the pairing race to another
    # process) may have joined by heartbeat before, building the hash itself. Reset to 0, that join
    # was lost and the session did not start until that participant's next heartbeat.
    own.hsetnx(key, "lastHeartbeat1", "0")
    own.hsetnx(key, "lastHeartbeat2", "0")
    own.expire(key, ttl or redis_keys.SESSION_ACTIVE_TTL_SECONDS)
    for user_id in session.participants:
        own.set(redis_keys.user_session(user_id), sid, ex=ttl or redis_keys.USER_SESSION_TTL_SECONDS)
    if pipe is None:
        own.execute()


def presence_restore(session: ConversationSession, now: dt.datetime) -> None:
    """Rebuilds a live session's Redis state from MongoDB (after Redis lost it).

    Silence is counted from the rebuild, so a session whose participants never come back is
    dropped by the sweeper after the usual timeout and grace, and none is left without heartbeats.
    """
    sid = str(session.id)
    pipe = client().pipeline(transaction=True)
    presence_open(session, pipe, ttl=live_ttl() if session.status == ACTIVE else None)
    if session.status == ACTIVE:
        beat = repr(now.timestamp())
        pipe.hset(redis_keys.session_active(sid), mapping={"lastHeartbeat1": beat, "lastHeartbeat2": beat})
        pipe.zadd(redis_keys.session_heartbeats(), {f"{sid}:1": now.timestamp(), f"{sid}:2": now.timestamp()})
        pipe.expire(redis_keys.session_heartbeats(), redis_keys.SESSION_INDEX_TTL_SECONDS)
        _running_timers_arm(session, started=session.started_at or now, pipe=pipe, now=now)
    else:
        schedule_timer(sid, JOIN, join_deadline(session), pipe)
    pipe.execute()


def presence_mark_active(session: ConversationSession) -> None:
    """The start: the hash says active, the join timer gives way to the running ones, and the presence keys
    live as long as the session may run from now (`live_ttl`)."""
    sid = str(session.id)
    started = session.started_at
    ttl = live_ttl()
    pipe = client().pipeline(transaction=True)
    pipe.hset(redis_keys.session_active(sid), "status", ACTIVE)
    pipe.expire(redis_keys.session_active(sid), ttl)
    for user_id in session.participants:
        pipe.expire(redis_keys.user_session(user_id), ttl)
    pipe.zrem(redis_keys.session_deadlines(), timer(sid, JOIN))
    _running_timers_arm(session, started=started, pipe=pipe)
    pipe.execute()


def live_ttl() -> int:
    """The presence keys' TTL from a session's start. Written with the seed's 1800 s when the session opens
    (the match, a scheduled session's first join), they must outlive the session, the seed's reason for that
    number ("30 min max session"); but a scheduled session opens up to 15 minutes before it starts, and from
    the start it may run SESSION_MAX_DURATION_SECONDS (1800) more, then wait for the sweep to end it."""
    return max(redis_keys.SESSION_ACTIVE_TTL_SECONDS, settings.SESSION_MAX_DURATION_SECONDS) + LIVE_SLACK_SECONDS


def _running_timers_arm(
    session: ConversationSession, *, started: dt.datetime, pipe: Pipeline, now: dt.datetime | None = None
) -> None:
    """A running session's timers: its hard maximum, and its planned time up (unless past `now`)."""
    sid = str(session.id)
    schedule_timer(sid, MAX, started + dt.timedelta(seconds=settings.SESSION_MAX_DURATION_SECONDS), pipe)
    time_up = started + dt.timedelta(minutes=session.planned_duration_minutes or 10)
    if now is None or time_up > now:
        schedule_timer(sid, TIME_UP, time_up, pipe)


def presence_close(session: ConversationSession) -> None:
    """Removes everything live about the session (idempotent)."""
    sid = str(session.id)
    pipe = client().pipeline(transaction=False)
    pipe.delete(redis_keys.session_active(sid))
    pipe.zrem(redis_keys.session_heartbeats(), f"{sid}:1", f"{sid}:2")
    pipe.zrem(redis_keys.session_deadlines(), *(timer(sid, kind) for kind in (JOIN, MAX, TIME_UP)))
    pipe.srem(redis_keys.session_disconnected(), f"{sid}:1", f"{sid}:2")
    for user_id in session.participants:
        delete_if_equals(redis_keys.user_session(user_id), sid, pipe=pipe)
    if session.scheduled_at:  # an accepted invitation's bookings (instant sessions have none)
        _bookings_forget(session, pipe)
    pipe.execute()


def _booking_ttl(session: ConversationSession, now: dt.datetime) -> int:
    return max(1, int((join_deadline(session) - now).total_seconds()) + BOOKING_SLACK_SECONDS)


def booking_claim(session: ConversationSession, *, ttl_seconds: int) -> tuple[bool, Held | None]:
    """Books an invitation being accepted for both participants, for `ttl_seconds` (an acceptance's claim
    is short, lengthened once stored: `booking_confirm`): whether this call wrote it, and what one of them
    holds instead, another session live (`user:session`) or booked (`sess:booked`), nothing then written."""
    return scripts().book(session_id=str(session.id), participants=session.participants, ttl_seconds=ttl_seconds)


def booking_renew(session: ConversationSession, *, ttl_seconds: int) -> bool:
    """Sets both participants' booking of `session` to run out in `ttl_seconds`; False if either is no
    longer of this session (it ran out, or an ending removed it: nothing is written back)."""
    sid = str(session.id)
    return all(
        set_if_equals(redis_keys.session_booked(user_id), sid, sid, ttl_seconds=ttl_seconds)
        for user_id in session.participants
    )


def booking_confirm(session: ConversationSession, now: dt.datetime) -> None:
    """An acceptance stored: its booking lasts until the join deadline (unless an ending removed it since)."""
    booking_renew(session, ttl_seconds=_booking_ttl(session, now))


def booking_forget(user_id: str, session_id: str, pipe: Pipeline | None = None) -> None:
    """Deletes `user_id`'s booking while it is of `session_id`, at once or queued on `pipe`."""
    delete_if_equals(redis_keys.session_booked(user_id), session_id, pipe=pipe)


def booking_release(session: ConversationSession) -> None:
    """Gives back a claim whose acceptance did not happen (idempotent)."""
    pipe = client().pipeline(transaction=False)
    _bookings_forget(session, pipe)
    pipe.execute()


def _bookings_forget(session: ConversationSession, pipe: Pipeline) -> None:
    for user_id in session.participants:
        booking_forget(user_id, str(session.id), pipe)


def booking_restore(session: ConversationSession, now: dt.datetime) -> None:
    """Writes an accepted invitation's booking again from MongoDB (after Redis lost it)."""
    pipe = client().pipeline(transaction=False)
    for user_id in session.participants:
        pipe.set(redis_keys.session_booked(user_id), str(session.id), ex=_booking_ttl(session, now))
    pipe.execute()


def heartbeat(session: ConversationSession, slot: int, now: float) -> Beat | None:
    return scripts().heartbeat(session_id=str(session.id), slot=slot, now=now)


def live_session_id(user_id: str) -> str | None:
    value = client().get(redis_keys.user_session(user_id))
    return value.decode() if value else None


def live_forget(user_id: str, session_id: str) -> None:
    """Deletes `user_id`'s `user:session` while it is of `session_id`."""
    delete_if_equals(redis_keys.user_session(user_id), session_id)


def booked_session_id(user_id: str) -> str | None:
    value = client().get(redis_keys.session_booked(user_id))
    return value.decode() if value else None


def bookings_keys(user_ids: list[str]) -> list[str]:
    """The keys of the users' bookings, for a caller's MGET: their values are the booked ids, bytes or None."""
    return [redis_keys.session_booked(user_id) for user_id in user_ids]


def sessions_held_keys(user_id: str) -> tuple[str, str]:
    """The keys of the user's live session and booked one, for a caller's MGET: their values are the
    live id and the booked id, each bytes or None."""
    return redis_keys.user_session(user_id), redis_keys.session_booked(user_id)
