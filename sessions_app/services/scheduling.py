"""Scheduled sessions as invitations: participant1 invites, participant2 accepts or declines.

An invitation is a waiting session with `invitation` pending; it is nobody's current session and
cannot be joined until accepted (then joinable 5 min before to 10 min after `scheduledAt`). Once
accepted it is both participants' waiting session: it blocks matchmaking and another acceptance
until it ends (`sess:booked:{userId}`). One still pending at `scheduledAt` is cancelled with
endReason `timeout` by the sweeper.
"""

from __future__ import annotations

import datetime as dt

from bson import ObjectId
from django.conf import settings
from django.utils.translation import gettext as _
from mongoengine import Q
from mongoengine.queryset import QuerySet
from rest_framework.exceptions import ValidationError

from conversation import clock, events, redis_keys, restrictions
from conversation.errors import Conflict
from conversation.redis import held
from sessions_app.documents import (
    CANCELLED,
    END_TIMEOUT,
    INVITATION_ACCEPTED,
    INVITATION_DECLINED,
    INVITATION_PENDING,
    LIVE_STATUSES,
    WAITING,
    ConversationSession,
)
from sessions_app.payloads import session_json
from sessions_app.services import lifecycle, presence
from sessions_app.signals import session_booked

MAX_AHEAD = dt.timedelta(days=30)
# The inviter's lock (count, then insert): its lease, and how long a concurrent invitation of the same
# inviter waits for it before its 409 `invitation_in_progress` (a web thread is held that long).
INVITE_LOCK_LEASE_SECONDS = 10
INVITE_LOCK_WAIT_SECONDS = 2.0


def _check_invite(*, user_id: str, partner_id: str, scheduled_at: dt.datetime, now: dt.datetime) -> None:
    if partner_id == user_id:
        raise ValidationError({"participant2Id": [_("You cannot schedule a session with yourself.")]})
    if lifecycle.users_blocked(user_id=user_id, other_id=partner_id) or restrictions.is_suspended(
        partner_id, max_age=1.0
    ):
        raise ValidationError({"participant2Id": [_("You cannot schedule a session with this user.")]})
    if scheduled_at <= now:
        raise ValidationError({"scheduledAt": [_("Must be in the future.")]})
    if scheduled_at > now + MAX_AHEAD:
        raise ValidationError({"scheduledAt": [_("Must be at most 30 days ahead.")]})


def invitations_open_count(*, user_id: str) -> int:
    return ConversationSession.objects(participant1_id=user_id, status=WAITING, invitation=INVITATION_PENDING).count()


def session_schedule(
    *,
    user_id: str,
    partner_id: str,
    language: str,
    scheduled_at: dt.datetime,
    topic_id: str | None,
    planned_minutes: int,
) -> ConversationSession:
    """Invites `partner_id`; 409 `too_many_invitations` past SESSION_MAX_OPEN_INVITATIONS pending ones."""
    now = clock.now()
    _check_invite(user_id=user_id, partner_id=partner_id, scheduled_at=scheduled_at, now=now)
    # Count and insert under one lock per inviter: two concurrent calls cannot both take the last place.
    busy = Conflict(_("Another invitation of yours is being sent: try again."), "invitation_in_progress")
    with held(
        redis_keys.invitation_lock(user_id),
        lease_seconds=INVITE_LOCK_LEASE_SECONDS,
        wait_seconds=INVITE_LOCK_WAIT_SECONDS,
        busy=busy,
    ):
        if invitations_open_count(user_id=user_id) >= settings.SESSION_MAX_OPEN_INVITATIONS:
            raise Conflict(
                _("You already have %(count)d invitations waiting for an answer.")
                % {"count": settings.SESSION_MAX_OPEN_INVITATIONS},
                "too_many_invitations",
            )
        session = lifecycle.session_open(
            session_id=ObjectId(),
            participant1_id=user_id,
            participant2_id=partner_id,
            language=language,
            level=None,
            topic_id=topic_id,
            planned_minutes=planned_minutes,
            scheduled_at=scheduled_at.astimezone(dt.UTC).replace(microsecond=scheduled_at.microsecond // 1000 * 1000),
            now=now,
            invitation=INVITATION_PENDING,
        )
    events.push(events.user_group(partner_id), "invitation.received", {"session": session_json(session)})
    return session


def invitations_received(*, user_id: str) -> QuerySet:
    """Pending invitations sent to `user_id`, soonest first (served by the participant2 index)."""
    return ConversationSession.objects(participant2_id=user_id, status=WAITING, invitation=INVITATION_PENDING).order_by(
        "scheduled_at", "id"
    )


def _not_invited() -> Conflict:
    return Conflict(_("You have no pending invitation to this session."), "not_invited")


def invitation_accept(*, session: ConversationSession, user_id: str) -> ConversationSession:
    """participant2 accepts: from then on the session is both participants' one waiting session
    (API.md: it blocks matchmaking once accepted; DESIGN.md: one waiting/active session a user).

    Booked in Redis first, for both, in one step that refuses when either has another session live or
    booked, so two acceptances at once cannot both book one user. Then a pending matchmaking request of
    either is cancelled, and MongoDB is asked for another session of either: one a pairing committed a
    moment ago, before it wrote its presence. Only then is the acceptance stored, by compare-and-set. A
    refusal, a lost compare-and-set or a failure gives the booking back.
    """
    now = clock.now()
    if user_id != session.participant2_id or session.status != WAITING or not session.awaits_answer:
        raise _not_invited()
    if session.scheduled_at <= now:  # the compare-and-set checks all of these again; nothing is booked for them
        raise _not_invited()
    if lifecycle.users_blocked(user_id=session.participant1_id, other_id=user_id):
        raise _not_invited()
    if busy := presence.booking_claim(session, now):
        raise _busy(busy)
    accepted = False
    try:
        session_booked.send(sender=ConversationSession, session=session, now=now)
        if busy := _busy_elsewhere(session):
            raise _busy(busy)
        accepted = bool(
            ConversationSession.objects(
                id=session.id, participant2_id=user_id, status=WAITING, invitation=INVITATION_PENDING,
                scheduled_at__gt=now,
            ).update_one(set__invitation=INVITATION_ACCEPTED, set__updated_at=now)
        )  # fmt: skip
    finally:
        if not accepted:
            presence.booking_release(session)
    if not accepted:
        raise _not_invited()
    session = ConversationSession.objects.get(id=session.id)
    events.push(events.user_group(session.participant1_id), "invitation.accepted", {"session": session_json(session)})
    return session


def _busy_elsewhere(session: ConversationSession) -> int:
    """The slot (1, 2) of a participant with another waiting or active session in MongoDB, else 0."""
    users = session.participants
    other = (
        ConversationSession.objects(
            (Q(participant1_id__in=users) | Q(participant2_id__in=users))
            & Q(status__in=LIVE_STATUSES, invitation__ne=INVITATION_PENDING, id__ne=session.id)
        )
        .only("participant1_id", "participant2_id")
        .first()
    )
    if other is None:
        return 0
    return 1 if session.participant1_id in other.participants else 2


def _busy(slot: int) -> Conflict:
    """The invitee (slot 2) or the inviter (slot 1) has another session, live or accepted."""
    if slot == 2:
        return Conflict(_("You already have a conversation session waiting or running."), "in_session")
    return Conflict(
        _("The other learner already has a conversation session waiting or running: try again once it has ended."),
        "partner_in_session",
    )


def invitation_decline(*, session: ConversationSession, user_id: str) -> ConversationSession:
    if user_id != session.participant2_id:
        raise _not_invited()
    ended = lifecycle.session_end(
        session=session,
        status=CANCELLED,
        reason=None,
        expected=(WAITING,),
        conditions={"participant2_id": user_id, "invitation": INVITATION_PENDING},
        also_set={"invitation": INVITATION_DECLINED},
    )
    if ended is None:
        raise _not_invited()
    return ended


def invitations_expire(*, now: dt.datetime, batch: int = 1000) -> int:
    """Cancels (endReason timeout) invitations still pending at `scheduledAt`; idempotent, index-driven."""
    due = ConversationSession.objects(status=WAITING, invitation=INVITATION_PENDING, scheduled_at__lte=now).limit(batch)
    expired = 0
    for session in due:
        ended = lifecycle.session_end(
            session=session, status=CANCELLED, reason=END_TIMEOUT, expected=(WAITING,), now=now,
            conditions={"invitation": INVITATION_PENDING},
        )  # fmt: skip
        expired += ended is not None
    return expired
