"""Matchmaking requests: create one (and pair it at once), and put a no-show's partner back at the queue's head.

Pairing is `pairing.py`; cancelling and expiring, `closing.py`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from mongoengine import NotUniqueError

from conversation import clock, events, metrics, restrictions
from conversation.auth import Suspended
from conversation.documents import insert
from conversation.errors import Conflict
from conversation.ratelimit import RateLimitHit
from conversation.redis import client
from matchmaking.documents import CANCELLED, PENDING, MatchmakingRequest
from matchmaking.payloads import request_json
from matchmaking.services import queue
from matchmaking.services.pairing import request_pair
from sessions_app.documents import ConversationSession
from sessions_app.services import lifecycle, presence, scheduling


@dataclass(frozen=True)
class NewRequest:
    user_id: str
    learning_profile_id: str
    target_language_code: str
    user_level: str
    preferred_topic_id: str | None
    preferred_duration: int


def request_create(
    *,
    data: NewRequest,
    now: dt.datetime | None = None,
    score: float | None = None,
    rate_limit: RateLimitHit | None = None,
) -> MatchmakingRequest:
    """Stores a pending request and tries to pair it at once (403 if the user is suspended, 409 if busy).

    `score` places it in the queue (default: its creation time, i.e. arrival order). `rate_limit`, the
    caller's call to count (429 past its limit, decided right after the suspension, before the rest).
    """
    now = now or clock.now()
    # One round trip: in one MGET, the user's suspensions and blocks flag (exact, where authentication
    # trusted a copy up to AUTH_CHECK_AGE old; the pairing reuses it) and the user's live or booked session;
    # who waits in the queue (the estimated wait); the call counted against the caller's rate limit.
    access_keys = restrictions.check_keys(data.user_id)
    pipe = client().pipeline(transaction=False)
    pipe.mget(*access_keys, *presence.sessions_held_keys(data.user_id))
    queue.waiting_read(pipe, language=data.target_language_code, level=data.user_level)
    if rate_limit is not None:
        rate_limit.count_on(pipe)
    values, waiting, *rate_limit_replies = pipe.execute()
    access, (live, booked) = values[: len(access_keys)], values[len(access_keys) :]
    if restrictions.suspended_in(access, user_id=data.user_id):
        raise Suspended()
    if rate_limit is not None:
        rate_limit.settle(rate_limit_replies)
    if live and lifecycle.live_session_stands(user_id=data.user_id, session_id=live.decode()):
        raise Conflict(_("You are already in a conversation session."), "in_session")
    if booked and scheduling.booking_state(user_id=data.user_id, session_id=booked.decode()) != scheduling.STALE:
        raise _booked()
    request = MatchmakingRequest(
        user_id=data.user_id,
        learning_profile_id=data.learning_profile_id,
        target_language_code=data.target_language_code,
        user_level=data.user_level,
        preferred_topic_id=data.preferred_topic_id,
        preferred_duration=data.preferred_duration,
        status=PENDING,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.MATCHMAKING_REQUEST_TTL_SECONDS),
        estimated_wait_seconds=queue.estimated_wait(waiting, language=data.target_language_code, level=data.user_level),
    )
    try:
        # The unique index on pending requests is the check: of two racing inserts, one wins.
        insert(request)
    except NotUniqueError:
        raise Conflict(_("You already have a pending matchmaking request."), "request_pending") from None
    metrics.count("matchmaking_requests_total", "created")
    paired = request_pair(request=request, now=now, score=score)
    if paired.status == CANCELLED:  # while it was paired: its user accepted an invitation, or was suspended
        if presence.booked_session_id(data.user_id):
            raise _booked()
        if restrictions.is_suspended(data.user_id):
            raise Suspended()
    return paired


def _booked() -> Conflict:
    return Conflict(
        _("You have an accepted scheduled session: matchmaking opens again once it has ended."), "in_session"
    )


def request_requeue_after_no_show(*, user_id: str, session: ConversationSession, now: dt.datetime) -> None:
    """The participant who showed up goes back to the head of the queue and is told."""
    previous = MatchmakingRequest.objects(user_id=user_id, session_id=str(session.id)).first()
    if previous is None:
        return
    data = NewRequest(
        user_id=user_id,
        learning_profile_id=previous.learning_profile_id,
        target_language_code=previous.target_language_code,
        user_level=previous.user_level,
        preferred_topic_id=previous.preferred_topic_id,
        preferred_duration=previous.preferred_duration,
    )
    try:
        request = request_create(data=data, now=now, score=queue.head_score(previous, now.timestamp()))
    except (Conflict, Suspended):  # busy elsewhere, or suspended meanwhile: not requeued
        return
    events.push(events.user_group(user_id), "request.requeued", {"request": request_json(request)})
