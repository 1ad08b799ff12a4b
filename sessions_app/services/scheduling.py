"""Scheduled sessions as invitations: participant1 invites, participant2 accepts or declines.

An invitation is a waiting session with `invitation` pending; it is nobody's current session and
cannot be joined until accepted (then joinable 5 min before to 10 min after `scheduledAt`). Once
accepted it is both participants' waiting session: it blocks matchmaking and another acceptance
until it ends (`sess:booked:{userId}`). One still pending at `scheduledAt` is cancelled with
endReason `timeout` by the sweeper.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from bson import ObjectId
from django.conf import settings
from django.utils.translation import gettext as _
from mongoengine.queryset import QuerySet
from rest_framework.exceptions import ValidationError

from conversation import clock, events, redis_keys, restrictions
from conversation.auth import Suspended
from conversation.documents import reloaded
from conversation.errors import STORE_ERRORS, Conflict
from conversation.lookups import parse_object_id
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
from sessions_app.redis_scripts import Held
from sessions_app.services import lifecycle, presence, safety
from sessions_app.signals import session_booked

MAX_AHEAD = dt.timedelta(days=30)
# The inviter's lock (count, then insert): its lease, and how long a concurrent invitation of the same
# inviter waits for it before its 409 `invitation_in_progress` (a web thread is held that long).
INVITE_LOCK_LEASE_SECONDS = 10
INVITE_LOCK_WAIT_SECONDS = 2.0
# The invitation's lock while an acceptance of it runs (a double tap), with the same lease and wait.
ACCEPT_LOCK_LEASE_SECONDS = 10
ACCEPT_LOCK_WAIT_SECONDS = 2.0
# An acceptance books, then stores, within milliseconds: its claim lasts this long, and is lengthened to the
# join deadline once the acceptance is stored. One that died in between leaves nothing for longer.
ACCEPTING_SECONDS = 30


def _check_invite(*, user_id: str, partner_id: str, scheduled_at: dt.datetime, now: dt.datetime) -> None:
    if partner_id == user_id:
        raise ValidationError({"participant2Id": [_("You cannot schedule a session with yourself.")]})
    # The partner's suspension from this process's copy up to a second old: the stored invitation is checked
    # exactly (`_check_invite_stored`).
    if safety.users_blocked(user_id=user_id, other_id=partner_id) or restrictions.is_suspended(partner_id, max_age=1.0):
        raise _cannot_schedule()
    if scheduled_at <= now:
        raise ValidationError({"scheduledAt": [_("Must be in the future.")]})
    if scheduled_at > now + MAX_AHEAD:
        raise ValidationError({"scheduledAt": [_("Must be at most 30 days ahead.")]})


def _check_invite_stored(*, user_id: str, partner_id: str) -> None:
    """The checks a suspension or a report racing the invitation may have changed, made again once it is
    stored: each of them writes its change, then ends the live sessions of the user (the pair), so one that
    looked before the insert missed it, and this call sees its change."""
    if restrictions.is_suspended(user_id):
        raise Suspended()
    if restrictions.is_suspended(partner_id) or safety.users_blocked(user_id=user_id, other_id=partner_id):
        raise _cannot_schedule()


def _cannot_schedule() -> ValidationError:
    return ValidationError({"participant2Id": [_("You cannot schedule a session with this user.")]})


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
    try:
        _check_invite_stored(user_id=user_id, partner_id=partner_id)
    except Exception:  # refused, or a store failed (503): never announced, nothing left for a retry to double
        with contextlib.suppress(*STORE_ERRORS):
            lifecycle.session_discard(session=session)
        raise
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

    Under a lock per invitation (a double tap waits, then finds it accepted), the session is read as
    stored and booked in Redis for both, in one step that refuses when either holds another session,
    live or booked, so two acceptances at once cannot both book one user (a claim of ACCEPTING_SECONDS,
    renewed just before the store and lengthened to the join deadline after it). Then MongoDB is asked for
    another session of either: one a pairing stored before this booking, before it wrote its presence
    (a pairing reads the bookings once its session is stored, so of the two, one sees the other). Only
    then is the acceptance stored, by compare-and-set, and a pending matchmaking request of either
    cancelled (best effort: a pairing that finds the booking cancels it too). A refusal, a lost
    compare-and-set or a failure gives the booking back, unless the invitation stands accepted.
    """
    now = clock.now()
    if user_id != session.participant2_id:
        raise _not_invited()
    busy = Conflict(_("This invitation is being answered: try again."), "invitation_in_progress")
    lock = redis_keys.acceptance_lock(str(session.id))
    with held(lock, lease_seconds=ACCEPT_LOCK_LEASE_SECONDS, wait_seconds=ACCEPT_LOCK_WAIT_SECONDS, busy=busy):
        session = reloaded(session)
        if session.status != WAITING or not session.awaits_answer or session.scheduled_at <= now:
            raise _not_invited()  # the compare-and-set checks these again; nothing is booked for them
        if safety.users_blocked(user_id=session.participant1_id, other_id=user_id):
            raise _not_invited()
        accepted = wrote = False
        try:
            wrote, holder = _book(session)
            if holder or (holder := _held_elsewhere(session, now)):
                raise _busy(holder)
            if not presence.booking_renew(session, ttl_seconds=ACCEPTING_SECONDS):
                # An ending removed the claim (the inviter cancelled): nothing to accept any more. Else it ran
                # out (a store slower than ACCEPTING_SECONDS): somebody may hold a participant now.
                raise busy if lifecycle.session_is_live(session.id) else _not_invited()
            accepted = bool(
                ConversationSession.objects(
                    id=session.id, participant2_id=user_id, status=WAITING, invitation=INVITATION_PENDING,
                    scheduled_at__gt=now,
                ).update_one(set__invitation=INVITATION_ACCEPTED, set__updated_at=now)
            )  # fmt: skip
        finally:  # only a booking this call wrote, and only if nobody accepted (its lock's lease may run out)
            if wrote and not accepted and not _stands_accepted(session):
                presence.booking_release(session)
    if not accepted:
        raise _not_invited()
    presence.booking_confirm(session, now)
    session = ConversationSession.objects.get(id=session.id)
    # Stored: a receiver's failure (its store gone) is logged by Django and does not undo or hide the acceptance.
    session_booked.send_robust(sender=ConversationSession, session=session, now=now)
    events.push(events.user_group(session.participant1_id), "invitation.accepted", {"session": session_json(session)})
    return session


STALE_KEYS_MAX = 4  # keys of ended sessions an acceptance clears on its way: two a participant


def _book(session: ConversationSession) -> tuple[bool, Held | None]:
    """`presence.booking_claim` for ACCEPTING_SECONDS, again while what stood in the way was a session that
    has ended (its key, a booking or `user:session`, is deleted then)."""
    wrote, holder = presence.booking_claim(session, ttl_seconds=ACCEPTING_SECONDS)
    for _attempt in range(STALE_KEYS_MAX):
        if holder is None or _stands(session, holder):
            break
        wrote, holder = presence.booking_claim(session, ttl_seconds=ACCEPTING_SECONDS)
    return wrote, holder


def _stands(session: ConversationSession, holder: Held) -> bool:
    user_id = session.participants[holder.slot - 1]
    if holder.booked:
        return booking_state(user_id=user_id, session_id=holder.session_id) != STALE
    return lifecycle.live_session_stands(user_id=user_id, session_id=holder.session_id)


# What a booking stands for (`booking_state`).
BOOKED, ACCEPTING, STALE = "booked", "accepting", "stale"


def booking_state(*, user_id: str, session_id: str) -> str:
    """What `user_id`'s booking of `session_id` stands for, read from MongoDB where a booking stops someone.

    BOOKED: an accepted invitation, waiting or running. ACCEPTING: an acceptance on its way (it books, for
    ACCEPTING_SECONDS, before it stores), the invitation still pending. STALE, and the booking is deleted
    here: the session has ended or is gone (its end's Redis step failed, the end standing; or the rebuild
    after a Redis data loss wrote it back from a document a cancel was just ending).
    """
    oid = parse_object_id(session_id)
    fields = ("status", "invitation", "scheduled_at", "created_at")
    session = ConversationSession.objects(id=oid, status__in=LIVE_STATUSES).only(*fields).first() if oid else None
    if session is None or _left_over(session, clock.now()):
        presence.booking_forget(user_id, session_id)
        return STALE
    return ACCEPTING if session.awaits_answer else BOOKED


def _left_over(session: ConversationSession, now: dt.datetime) -> bool:
    """Still waiting a minute past its join deadline: its join timer never came (the same rule as a query:
    `lifecycle.sessions_holding`)."""
    return session.status == WAITING and presence.join_deadline(session) + lifecycle.LEFT_OVER_AFTER < now


def _held_elsewhere(session: ConversationSession, now: dt.datetime) -> Held | None:
    """Another session holding a participant in MongoDB (`lifecycle.sessions_holding`; any one, reported as
    the invitee's, slot 2, when the invitee is in it), or None."""
    other = (
        lifecycle.sessions_holding(session.participants, now)
        .filter(id__ne=session.id)
        .only("participant1_id", "participant2_id")
        .first()
    )
    if other is None:
        return None
    slot = 2 if session.participant2_id in other.participants else 1
    return Held(slot=slot, booked=False, session_id=str(other.id))


def _stands_accepted(session: ConversationSession) -> bool:
    accepted = ConversationSession.objects(id=session.id, status__in=LIVE_STATUSES, invitation=INVITATION_ACCEPTED)
    return accepted.only("id").first() is not None


def _busy(holder: Held) -> Conflict:
    """The invitee (slot 2) or the inviter (slot 1) holds another session, live or accepted."""
    if holder.slot == 2:
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


def accepted_no_shows_end(*, now: dt.datetime, batch: int = 1000) -> int:
    """Cancels (endReason timeout) accepted invitations still waiting past their join window: what their join
    timer does, for one whose timer was never written (the store failed after its insert, and the invitee
    accepted what the inviter was told had failed). Idempotent, index-driven, and nearly always empty."""
    late = now - presence.SCHEDULE_LATE
    due = ConversationSession.objects(status=WAITING, invitation=INVITATION_ACCEPTED, scheduled_at__lte=late)
    return sum(lifecycle.session_end_no_show(session=session, now=now) is not None for session in due.limit(batch))


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
