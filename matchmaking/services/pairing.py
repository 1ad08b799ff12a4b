"""Pairing a pending request: the pairing step in Redis, the commit in MongoDB, the announce; the passes that
pair again (the reconciler, the relax pass).

Redis holds the queue; MongoDB's conditional update `pending -> matched` is the
commit point. A partner popped from Redis whose commit fails is put back; a
pending request missing from Redis (a crash between the stores, a Redis restart)
is put back by the reconciler. Nothing is matched twice, and nobody is lost for longer than a session's
join timeout (a crash between the two compare-and-sets: docs/ARCHITECTURE.md, Matching).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from bson import ObjectId
from django.conf import settings

from conversation import clock, events, metrics, redis_keys, restrictions
from conversation.documents import Where, reloaded
from conversation.errors import STORE_ERRORS
from conversation.redis import client
from matchmaking.documents import MATCHED, PENDING, MatchmakingRequest
from matchmaking.payloads import request_json
from matchmaking.redis_scripts import Booked, Popped
from matchmaking.selectors import requests_pending
from matchmaking.services import queue
from matchmaking.services.closing import request_cancel_if_pending
from sessions_app.documents import ConversationSession
from sessions_app.payloads import session_json
from sessions_app.services import lifecycle, presence, safety, scheduling
from topics.documents import Topic
from topics.selectors import topic_active_cached, topic_random_cached

PAIR_ATTEMPTS = 5
ACCEPTANCE_SETTLE_SECONDS = 0.05  # how long a pairing waits for an acceptance it ran into to be stored or given up
ACCEPTANCE_WAITS = 2  # times a pairing waits so for one acceptance (a partner's, or its own user's)
SUSPENSION_CHECK_AGE = 1.0  # seconds the request's own check of suspensions and blocks is trusted at pairing


def request_pair(
    *, request: MatchmakingRequest, now: dt.datetime | None = None, score: float | None = None, enqueue: bool = True
) -> MatchmakingRequest:
    """Pairs a pending request with the best waiting partner, or leaves it queued (unless its user has booked
    since the request's check: cancelled then, as the acceptance does)."""
    now = now or clock.now()
    # A suspension racing this request: never paired, cancelled as the suspension does (its cancel may have come
    # before the request was stored). Costs no Redis command right after the request's own check.
    suspended, version = restrictions.suspension_checked(request.user_id, max_age=SUSPENSION_CHECK_AGE)
    if suspended:
        return request_cancel_if_pending(request=request)
    score = request.created_at.timestamp() if score is None else score
    never = _NeverPaired(user_id=request.user_id, suspensions_version=version)
    waits = _AcceptanceWaits()
    for _attempt in range(PAIR_ATTEMPTS):
        popped = queue.pair_step(request=request, score=score, now=now.timestamp(), excluded=never.ids, enqueue=enqueue)
        if popped is None:
            return request
        if isinstance(popped, Booked):  # nobody to pair with, and its user has booked since the request's check
            if (settled := _after_own_booking(request=request, booked=popped, waits=waits, score=score)) is not None:
                return settled
            continue
        # A pop also takes our own member out of the queue if it was there (enqueue=False: the relax pass).
        # From here on the request is an arrival: if this partner is not taken, the next step queues it again
        # at its own score when nobody fits.
        enqueue = True
        if never.passes_over(popped):
            continue
        try:
            outcome = _commit_pair(request=request, popped=popped, now=now, never=never)
        except _AcceptanceOnItsWay as on_its_way:  # the partner is back at its place, or cancelled (booked)
            if not waits.settle(on_its_way, partner_id=popped.member.user_id, excluded=never.ids):
                break
            continue
        if outcome is not None:
            return outcome
        never.ids.add(popped.member.user_id)  # that partner is gone; look again
    return _wait_in_queue(request, score)


@dataclass
class _NeverPaired:
    """Whom one pairing passes over (`ids`, the pairing script's excluded ids): partners gone, suspended,
    blocked by its user, or whose acceptance it waited for too often (`_AcceptanceWaits`)."""

    user_id: str
    suspensions_version: bytes | None  # what the user's suspension check read (`restrictions.suspension_checked`)
    ids: set[str] = field(default_factory=set)
    blocks_read: bool = False  # read only once there is someone to pair with: an arrival that waits costs no read
    blocks_flag: bytes | None = None  # what that read answered from (`restrictions.blocks_checked`)

    def passes_over(self, popped: Popped) -> bool:
        """True if the popped partner is suspended (its member stays out of the queue) or blocked by the user (put
        back at its place); either joins `ids`. The user's blocks are read at the first partner."""
        partner_id = popped.member.user_id
        if restrictions.is_suspended(partner_id, max_age=SUSPENSION_CHECK_AGE):
            self.ids.add(partner_id)  # suspended while queued: its member stays out
            return True
        if not self.blocks_read:
            self.blocks_read = True
            blocked, self.blocks_flag = restrictions.blocks_checked(self.user_id, max_age=SUSPENSION_CHECK_AGE)
            self.ids |= blocked
            if partner_id in self.ids:
                queue.requeue(popped)  # a blocked partner goes back to its place
                return True
        return False


def _after_own_booking(
    *, request: MatchmakingRequest, booked: Booked, waits: _AcceptanceWaits, score: float
) -> MatchmakingRequest | None:
    """The pairing step found nobody to pair with, and did not queue the request: its user has booked since the
    request's check. What the pairing does, or None to step again."""
    state = scheduling.booking_state(user_id=request.user_id, session_id=booked.session_id)
    if state == scheduling.BOOKED:  # the acceptance stood; its own cancel ran before the request was stored
        return request_cancel_if_pending(request=request)
    if state == scheduling.ACCEPTING:  # on its way: waited for, then the request waits in the queue for its cancel
        waited = waits.mine_settle()
        return None if waited else _wait_in_queue(request, score)
    return None  # STALE: `booking_state` deleted the booking


def _wait_in_queue(request: MatchmakingRequest, score: float) -> MatchmakingRequest:
    """The pairing ends without a pair (out of attempts, or its user's acceptance still on its way after its
    waits): the request waits in the queue, unless it was cancelled meanwhile."""
    current = reloaded(request)
    if current.status == PENDING:
        queue.enqueue(current, score)
    return current


def _commit_pair(
    *, request: MatchmakingRequest, popped: Popped, now: dt.datetime, never: _NeverPaired
) -> MatchmakingRequest | None:
    """MongoDB commit of a pair popped from Redis: the request matched; or as it stands, cancelled or reloaded
    (booked, or cancelled meanwhile); None to look again (the partner no longer pending, or booked).
    `_AcceptanceOnItsWay`: pair again once an acceptance of either has settled."""
    member = popped.member
    partner_level = redis_keys.matchmaking_queue_level(popped.queue_key)
    # The partner's pending request (one per user, by the unique index), read by the exact key of the
    # (userId, status) index; it must be the one queued: a newer one in another queue does not match.
    # A read, then a compare-and-set below: SecantusDB spends several times the two on one findAndModify.
    partner = Where(MatchmakingRequest, user_id=member.user_id, status=PENDING).first()
    if partner is None or (
        partner.target_language_code, partner.user_level, partner.preferred_duration, partner.preferred_topic_id,
        partner.learning_profile_id,
    ) != (
        request.target_language_code, partner_level, member.preferred_duration, member.preferred_topic_id,
        member.learning_profile_id,
    ):  # fmt: skip
        return None  # cancelled or expired meanwhile; its member is already out of the queue
    session_id = ObjectId()
    topic = _choose_topic(request, partner)
    pipe = client().pipeline(transaction=False)
    session = lifecycle.session_open(
        session_id=session_id,
        participant1_id=partner.user_id,  # the one who waited
        participant2_id=request.user_id,
        language=request.target_language_code,
        level=partner.user_level if partner.user_level == request.user_level else None,
        topic_id=str(topic.id) if topic else None,
        planned_minutes=min(request.preferred_duration, partner.preferred_duration),
        now=now,
        pipe=pipe,
    )
    # With the join timer, in one MGET, the bookings of both (an invitation accepted after their requests'
    # own checks), the arriving user's blocker flag (a block since its check) and the suspensions' version (a
    # suspension since). An acceptance books, a report blocks, a suspension is published, then each looks for
    # sessions in MongoDB, where this one now is; this pairing stored it, then reads what they wrote: of the
    # two, one sees the other (ARCHITECTURE.md, Sessions, Trust and safety).
    try:
        pipe.mget(
            *presence.bookings_keys(session.participants), restrictions.blocker_flag_key(request.user_id),
            restrictions.version_key(),
        )  # fmt: skip
        *_, (*bookings, flag, version) = pipe.execute()
    except STORE_ERRORS:  # no timer would end it: the session goes, never announced; the partner goes back
        with contextlib.suppress(*STORE_ERRORS):  # its MongoDB step first; Redis's may fail as the timer did
            lifecycle.session_discard(session=session)
        with contextlib.suppress(*STORE_ERRORS):  # else the reconciler puts its pending request back
            queue.requeue(popped)
        raise
    if stopped := _restricted_since(request=request, partner=partner, never=never, flag=flag, version=version):
        lifecycle.session_discard(session=session)  # their clean-up looked before it was stored
        if stopped != _PARTNER_SUSPENDED:
            queue.requeue(popped)  # back at its place; this pairing passes it over
        return request_cancel_if_pending(request=request) if stopped == _SUSPENDED else None
    if any(bookings):
        partner_state, mine_state = (
            scheduling.booking_state(user_id=user_id, session_id=booked.decode()) if booked else scheduling.STALE
            for user_id, booked in zip(session.participants, bookings, strict=True)
        )
        if (partner_state, mine_state) != (scheduling.STALE, scheduling.STALE):
            lifecycle.session_discard(session=session)
            return _back_off_for_bookings(
                request=request, partner=partner, popped=popped, states=(partner_state, mine_state)
            )

    common = {"set__status": MATCHED, "set__session_id": str(session_id), "set__matched_at": now}
    if not Where(MatchmakingRequest, id=partner.id, status=PENDING).update_one(
        set__matched_with_user_id=request.user_id, **common
    ):
        lifecycle.session_discard(session=session)
        return None
    if not Where(MatchmakingRequest, id=request.id, status=PENDING).update_one(
        set__matched_with_user_id=partner.user_id, **common
    ):
        # Our own request was cancelled meanwhile: undo the partner's commit, put it back.
        Where(MatchmakingRequest, id=partner.id, status=MATCHED, session_id=str(session_id)).update_one(
            set__status=PENDING, unset__matched_with_user_id=True, unset__session_id=True, unset__matched_at=True
        )
        queue.requeue(popped)
        lifecycle.session_discard(session=session)
        return reloaded(request)
    # Both commits won: what they wrote is known, no need to read it back.
    for mine, other in ((request, partner), (partner, request)):
        mine.status, mine.session_id, mine.matched_at, mine.matched_with_user_id = (
            MATCHED, str(session_id), now, other.user_id
        )  # fmt: skip
    _announce(request=request, partner=partner, session=session, topic=topic, now=now)
    return request


_SUSPENDED, _PARTNER_SUSPENDED, _BLOCKED = "suspended", "partner suspended", "blocked"


def _restricted_since(
    *, request: MatchmakingRequest, partner: MatchmakingRequest, never: _NeverPaired, flag: bytes | None,
    version: bytes | None,
) -> str | None:  # fmt: skip
    """A suspension of either, or a block between them, since this pairing's checks (`flag` and `version`, read
    once its session was stored, moved from what they answered from): what stops the pair, or None."""
    # No version (the mirror missing or being rebuilt: a change then writes none) tells nothing: check.
    if version is None or version != never.suspensions_version:
        if restrictions.is_suspended(request.user_id):
            return _SUSPENDED
        if restrictions.is_suspended(partner.user_id):
            return _PARTNER_SUSPENDED
    if flag != never.blocks_flag and safety.users_blocked(user_id=request.user_id, other_id=partner.user_id):
        return _BLOCKED
    return None


class _AcceptanceOnItsWay(Exception):
    """An acceptance of either user is being stored: pair again once it has settled."""

    def __init__(self, *, mine: bool) -> None:
        super().__init__()
        self.mine = mine  # the arriving user's (else the partner's)


@dataclass
class _AcceptanceWaits:
    """What one pairing has waited for: acceptances on their way (`_AcceptanceOnItsWay`)."""

    partners: Counter[str] = field(default_factory=Counter)
    mine: int = 0

    def settle(self, on_its_way: _AcceptanceOnItsWay, *, partner_id: str, excluded: set[str]) -> bool:
        """`mine_settle` or `partner_settle`, for the acceptance a commit ran into; False: stop pairing."""
        if on_its_way.mine:
            return self.mine_settle()
        self.partner_settle(partner_id, excluded)
        return True

    def mine_settle(self) -> bool:
        """The arriving user's own acceptance: True to pair again after a moment's wait. False once waited
        for ACCEPTANCE_WAITS times: its request waits in the queue, for the acceptance to cancel if it stands."""
        if self.mine >= ACCEPTANCE_WAITS:
            return False
        self.mine += 1
        _wait_for_acceptance()
        return True

    def partner_settle(self, partner_id: str, excluded: set[str]) -> None:
        """A partner's: pair again after a moment's wait, or at once with that partner excluded once waited
        for ACCEPTANCE_WAITS times (its member keeps its place, the others are tried)."""
        if self.partners[partner_id] >= ACCEPTANCE_WAITS:
            excluded.add(partner_id)
            return
        self.partners[partner_id] += 1
        _wait_for_acceptance()


def _wait_for_acceptance() -> None:
    time.sleep(ACCEPTANCE_SETTLE_SECONDS)


def _back_off_for_bookings(
    *, request: MatchmakingRequest, partner: MatchmakingRequest, popped: Popped, states: tuple[str, str]
) -> MatchmakingRequest | None:
    """A pairing that found, once its session was stored (and now discarded), a booking of either user.

    A booked user's request is cancelled, as the acceptance does (its cancel may have come before the request
    was stored); a partner not booked goes back to its place. Then the arriving user looks for another partner
    (None), or, if an acceptance of either is on its way, pairs again a moment later (`_AcceptanceOnItsWay`,
    waited for by `_AcceptanceWaits`), so that the pairing and the acceptance do not both fail.
    """
    partner_state, mine_state = states
    if partner_state == scheduling.BOOKED:
        request_cancel_if_pending(request=partner)
    else:
        queue.requeue(popped)
    if mine_state == scheduling.BOOKED:
        return request_cancel_if_pending(request=request)
    if scheduling.ACCEPTING in states:
        raise _AcceptanceOnItsWay(mine=mine_state == scheduling.ACCEPTING)
    return None


def _announce(
    *, request: MatchmakingRequest, partner: MatchmakingRequest, session: ConversationSession, topic: Topic | None,
    now: dt.datetime,
) -> None:  # fmt: skip
    pipe = client().pipeline(transaction=False)
    lifecycle.session_publish(session=session, pipe=pipe)
    samples: dict[tuple[str, str], list[float]] = {}
    for mine, other in ((request, partner), (partner, request)):
        met = redis_keys.recently_met(mine.user_id)
        pipe.zadd(met, {other.user_id: now.timestamp()})
        pipe.expire(met, max(settings.MATCHMAKING_REMATCH_COOLDOWN_SECONDS, 1))
        waited = max(0.0, (now - mine.created_at).total_seconds())
        metrics.observe("matchmaking_time_to_match_seconds", waited)
        metrics.count("matchmaking_requests_total", "matched")
        samples.setdefault((mine.target_language_code, mine.user_level), []).append(waited)
    for (language, level), waited_there in samples.items():
        queue.record_waits(language=language, level=level, samples=waited_there, pipe=pipe)
    pipe.execute()
    session_payload = session_json(session, topic=topic)
    events.push_each(
        [
            (
                events.user_group(mine.user_id),
                "match.found",
                {"request": request_json(mine), "session": session_payload},
            )
            for mine in (request, partner)
        ]
    )


def _choose_topic(request: MatchmakingRequest, partner: MatchmakingRequest) -> Topic | None:
    """The shared preference, else either preference, else a random active topic."""
    wanted = [request.preferred_topic_id, partner.preferred_topic_id]
    if wanted[0] and wanted[0] == wanted[1]:
        ordered = [wanted[0]]
    else:
        ordered = [t for t in wanted if t]
        random.shuffle(ordered)
    for topic_id in ordered:
        if topic := topic_active_cached(topic_id=topic_id):
            return topic
    return topic_random_cached(language=request.target_language_code, level=partner.user_level)


RECONCILE_GRACE = dt.timedelta(seconds=5)


def queues_reconcile(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Pairs again (or queues) any pending, unexpired request missing from its queue: how many.

    Requests younger than a few seconds are left alone: they may be between their insert and
    their first pairing step in a web process right now.
    """
    now = now or clock.now()
    redis = client()
    pending = list(requests_pending(expires_at__gt=now, created_at__lte=now - RECONCILE_GRACE, limit=limit))
    if not pending:
        return 0
    pipe = redis.pipeline(transaction=False)
    for request in pending:
        pipe.zscore(queue.queue_key_of(request), queue.member_of(request).encode())
    retried = 0
    for request, score in zip(pending, pipe.execute(), strict=True):
        if score is None:
            request_pair(request=request, now=now)
            retried += 1
    return retried


def queues_relax(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Tries requests waiting longer than the relax delay against adjacent levels."""
    now = now or clock.now()
    cutoff = now - dt.timedelta(seconds=settings.MATCHMAKING_RELAX_AFTER_SECONDS)
    paired = 0
    for request in requests_pending(expires_at__gt=now, created_at__lte=cutoff, limit=limit):
        result = request_pair(request=request, now=now, enqueue=False)
        paired += result.status == MATCHED
    return paired
