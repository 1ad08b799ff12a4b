"""Session state machine: open, join by heartbeat, start, and every ending (a report's or a suspension's
too: `session_end_reported`; the reports and blocks themselves are `safety.py`). Also what the state
decides for callers: whether a session may be joined now (`join_refusal`), and which sessions hold a user
(`sessions_holding`, `live_session_stands`, which deletes a `user:session` key of an ended session).

Each transition is a compare-and-set on `status` in MongoDB; only the winner
cleans Redis up and tells the participants, so two racing endings produce one
outcome and one `session.ended`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from bson import ObjectId
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from mongoengine import Q
from mongoengine.queryset import QuerySet
from redis.client import Pipeline

from conversation import clock, events, metrics
from conversation.documents import Where, insert, reloaded
from conversation.errors import STORE_ERRORS, Conflict
from conversation.lookups import parse_object_id
from sessions_app.documents import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    END_COMPLETED,
    END_REPORTED,
    END_TIMEOUT,
    INVITATION_PENDING,
    LIVE_STATUSES,
    WAITING,
    ConversationSession,
    RecordingConsent,
)
from sessions_app.payloads import session_json
from sessions_app.redis_scripts import Beat
from sessions_app.services import presence

log = logging.getLogger(__name__)

LEFT_OVER_AFTER = dt.timedelta(minutes=1)  # past its join deadline, a session still waiting holds nobody


class SessionGone(Exception):
    """The session has ended; sockets close with 4410."""


def session_open(
    *,
    session_id: ObjectId,
    participant1_id: str,
    participant2_id: str,
    language: str,
    level: str | None,
    topic_id: str | None,
    planned_minutes: int,
    scheduled_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    invitation: str | None = None,
    pipe: Pipeline | None = None,
) -> ConversationSession:
    """Inserts a waiting session and arms its join timer (before anyone is told of it); with `pipe`, the
    timer is queued on it, for the caller to send with reads of its own."""
    now = now or clock.now()
    session = ConversationSession(
        id=session_id,
        topic_id=topic_id,
        target_language_code=language,
        level=level,
        participant1_id=participant1_id,
        participant2_id=participant2_id,
        status=WAITING,
        scheduled_at=scheduled_at,
        invitation=invitation,
        planned_duration_minutes=planned_minutes,
        recording_consent=RecordingConsent(participant1=False, participant2=False),
        created_at=now,
        updated_at=now,
    )
    insert(session)
    # Armed first: if this process dies before the match commits, the sweeper cancels it.
    presence.schedule_timer(str(session.id), presence.JOIN, presence.join_deadline(session), pipe)
    return session


def session_discard(*, session: ConversationSession) -> None:
    """Removes a session that was never announced (its match did not commit)."""
    ConversationSession.objects(id=session.id, status=WAITING).delete()
    presence.presence_close(session)


def live_session_stands(*, user_id: str, session_id: str) -> bool:
    """Whether `user_id`'s `user:session` names a session still waiting or active, read from MongoDB where the
    key stops someone. One that has ended is deleted here: an ending that landed between a pairing's insert
    and its announcement, whose presence then wrote the key again (it would have stood for its 30 minutes).
    Then the user's other live sessions are looked for, in case that write replaced a newer one's key."""
    oid = parse_object_id(session_id)
    if oid and session_is_live(oid):
        return True
    presence.live_forget(user_id, session_id)
    return sessions_holding([user_id], clock.now()).only("id").first() is not None


def session_is_live(session_id: ObjectId) -> bool:
    """Whether the session is still waiting or active in MongoDB."""
    return ConversationSession.objects(id=session_id, status__in=LIVE_STATUSES).only("id").first() is not None


def sessions_holding(user_ids: list[str], now: dt.datetime) -> QuerySet:
    """The sessions that hold any of `user_ids` (one waiting or active session a user, DESIGN.md): the active
    ones, and the waiting ones still joinable, an invitation once accepted. A session still waiting a minute
    past its join deadline is a leftover its join timer never came for (a store failed between its insert and
    its timer; the sweep ends an accepted one): it holds nobody."""
    instant_left = now - dt.timedelta(seconds=settings.SESSION_JOIN_TIMEOUT_SECONDS) - LEFT_OVER_AFTER
    scheduled_left = now - presence.SCHEDULE_LATE - LEFT_OVER_AFTER
    joinable_still = Q(scheduled_at=None, created_at__gte=instant_left) | Q(scheduled_at__gte=scheduled_left)
    return ConversationSession.objects(
        (Q(participant1_id__in=user_ids) | Q(participant2_id__in=user_ids))
        & Q(status__in=LIVE_STATUSES, invitation__ne=INVITATION_PENDING)
        & (Q(status=ACTIVE) | joinable_still)
    )


def session_publish(*, session: ConversationSession, pipe: Pipeline | None = None) -> None:
    """Makes an instant session live: the seed's presence hash and user map."""
    presence.presence_open(session, pipe)


def session_heartbeat(
    *, session: ConversationSession, user_id: str, now: dt.datetime | None = None
) -> ConversationSession:
    """Records a heartbeat; the first of each participant is their join, both joined starts it."""
    now = now or clock.now()
    slot = session.slot_of(user_id)
    if slot is None:  # unreachable from the views and the consumer: they check the slot first
        raise PermissionError(user_id)
    if session.status not in LIVE_STATUSES:
        raise SessionGone()
    beat = presence.heartbeat(session, slot, now.timestamp())
    if beat is None:
        session = reloaded(session)
        if session.status not in LIVE_STATUSES:
            raise SessionGone()
        if refusal := join_refusal(session, now):
            raise refusal
        # Presence missing: a scheduled session opening, or Redis lost it (rebuilt from MongoDB).
        if session.status == ACTIVE:
            presence.presence_restore(session, now)
        else:
            presence.presence_open(session)
        beat = presence.heartbeat(session, slot, now.timestamp())
        if beat is None:
            raise SessionGone()
    return heartbeat_effects(session=session, user_id=user_id, beat=beat, now=now)


def heartbeat_needs_effects(*, session: ConversationSession, beat: Beat) -> bool:
    """False for the common heartbeat that only refreshes presence (the socket's fast path)."""
    return beat.previous == 0 or beat.was_disconnected or (beat.partner_last > 0 and session.status == WAITING)


def heartbeat_effects(
    *, session: ConversationSession, user_id: str, beat: Beat, now: dt.datetime
) -> ConversationSession:
    """What a recorded heartbeat means: a join, a reconnect, or both joined (start).

    Its events go in one call to Redis: the second joiner's `partner.joined` travels with
    `session.started`, in that order, once the start is decided.
    """
    group = events.session_group(str(session.id))
    pushes: list[tuple[str, str, dict]] = []
    if beat.previous == 0:
        pushes.append((group, "partner.joined", {"userId": user_id}))
    elif beat.was_disconnected:
        pushes.append((group, "partner.reconnected", {"userId": user_id}))
    try:
        if beat.partner_last > 0 and session.status == WAITING:
            session, started = _start(session, now)
            if started:  # stored as started: said so even if its timers cannot be set below
                pushes.append((group, "session.started", {"session": session_json(session)}))
                presence.presence_mark_active(session)
    finally:  # the join happened whatever became of the start
        if pushes:
            events.push_each(pushes)
    return session


def join_refusal(session: ConversationSession, now: dt.datetime) -> Conflict | None:
    """Why nobody may join (nor signal in) the session now, or None: an invitation not accepted yet, or a
    scheduled session not started and outside its join window. Instant sessions, and scheduled ones once
    started, are joinable until they end."""
    if session.status not in LIVE_STATUSES:
        return Conflict(_("The session has ended."), "not_joinable")
    if session.awaits_answer:
        return Conflict(_("This invitation has not been accepted yet."), "not_joinable")
    if session.scheduled_at and session.status == WAITING and not _in_join_window(session, now):
        return Conflict(_("This scheduled session is not open for joining now."), "not_joinable")
    return None


def _in_join_window(session: ConversationSession, now: dt.datetime) -> bool:
    return session.scheduled_at - presence.SCHEDULE_EARLY <= now <= session.scheduled_at + presence.SCHEDULE_LATE


def _start(session: ConversationSession, now: dt.datetime) -> tuple[ConversationSession, bool]:
    """Starts a waiting session in MongoDB: the session as stored now, and whether this call started it."""
    won = Where(ConversationSession, id=session.id, status=WAITING).update_one(
        set__status=ACTIVE, set__started_at=now, set__updated_at=now
    )
    return reloaded(session), bool(won)


def session_end(
    *,
    session: ConversationSession,
    status: str,
    reason: str | None,
    expected: tuple[str, ...] = LIVE_STATUSES,
    now: dt.datetime | None = None,
    conditions: dict[str, Any] | None = None,
    also_set: dict[str, Any] | None = None,
) -> ConversationSession | None:
    """Ends a live session if it is still in an `expected` status; None when someone else won.

    `conditions` narrow the compare-and-set (an invitation still pending); `also_set` are further
    fields written by the same update (who ended it, the invitation's answer).
    """
    now = now or clock.now()
    for _attempt in range(3):
        if session.status not in expected:
            return None
        updates = {"set__status": status, "set__ended_at": now, "set__updated_at": now, "set__end_reason": reason}
        updates |= {f"set__{name}": value for name, value in (also_set or {}).items()}
        if session.started_at:
            updates["set__actual_duration_seconds"] = max(0, int((now - session.started_at).total_seconds()))
        if Where(ConversationSession, id=session.id, status=session.status, **(conditions or {})).update_one(**updates):
            ended = reloaded(session)
            try:
                presence.presence_close(ended)
            except STORE_ERRORS:  # ended in MongoDB all the same: say so; the sweep clears what is left
                log.warning("session %s: its presence could not be cleared at its end", ended.id, exc_info=True)
            metrics.count("sessions_ended_total", ended.status, ended.end_reason or "none")
            payload = {"session": session_json(ended)}
            groups = [events.session_group(str(ended.id)), *map(events.user_group, ended.participants)]
            events.push_each([(group, "session.ended", payload) for group in groups])
            return ended
        session = reloaded(session)  # it moved on (waiting -> active): retry with what it is now
    return None


def session_finish(*, session: ConversationSession) -> ConversationSession:
    ended = session_end(session=session, status=COMPLETED, reason=END_COMPLETED, expected=(ACTIVE,))
    if ended is None:
        raise Conflict(_("The session is not active."), "not_active")
    return ended


def session_cancel(*, session: ConversationSession) -> ConversationSession:
    ended = session_end(session=session, status=CANCELLED, reason=None, expected=(WAITING,))
    if ended is None:
        raise Conflict(_("The session is not waiting."), "not_waiting")
    return ended


def session_end_reported(*, session: ConversationSession, now: dt.datetime | None = None) -> ConversationSession:
    """Ends a live session with endReason `reported` (a report, a suspension): completed if it ran, else cancelled."""
    for _attempt in range(2):  # a waiting session may start meanwhile: then it completes
        if session.status == ACTIVE:
            ended = session_end(session=session, status=COMPLETED, reason=END_REPORTED, expected=(ACTIVE,), now=now)
        elif session.status == WAITING:
            ended = session_end(session=session, status=CANCELLED, reason=END_REPORTED, expected=(WAITING,), now=now)
        else:
            return session
        if ended is not None:
            return ended
        session = reloaded(session)
    return session


def session_end_no_show(*, session: ConversationSession, now: dt.datetime) -> ConversationSession | None:
    """A waiting session not joined by both in time: cancelled with endReason timeout."""
    return session_end(session=session, status=CANCELLED, reason=END_TIMEOUT, expected=(WAITING,), now=now)
