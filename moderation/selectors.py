"""Reads for staff: the report queue, suspensions, user ids by prefix, and everything about one learner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mongoengine import Q
from mongoengine.queryset import QuerySet

from conversation import clock
from matchmaking.documents import MatchmakingRequest
from moderation.documents import Suspension
from mongoadmin.changelist import prefix_range
from sessions_app.documents import (
    REPORT_OPEN,
    REPORT_STATES,
    ConversationSession,
    SessionFeedback,
    SessionReport,
    UserBlock,
)
from sessions_app.selectors import sessions_of

RECENT = 50  # rows of each kind on the learner page
RATING_SESSIONS = 2000  # feedback received is averaged over the learner's latest sessions, at most this many
PREFIX_MATCHES = 20


def reports_queue(*, state: str | None = None, reported_user_id: str | None = None) -> QuerySet:
    """Oldest open first for the queue; newest first once resolved or for one user."""
    query = SessionReport.objects
    if state:
        query = query.filter(state=state)
    if reported_user_id:
        query = query.filter(reported_user_id=reported_user_id)
    oldest_first = state == REPORT_OPEN and not reported_user_id
    return query.order_by("created_at" if oldest_first else "-created_at", "id")


def report_counts() -> dict[str, int]:
    """Reports per state (one indexed count each)."""
    return {state: SessionReport.objects(state=state).count() for state in REPORT_STATES}


def in_force(active: bool, now: dt.datetime) -> Q:
    """Suspensions in force at `now` (not lifted, until later or never), or with `active=False` the others."""
    if active:
        return Q(lifted_at=None) & (Q(until=None) | Q(until__gt=now))
    return Q(lifted_at__ne=None) | Q(until__lte=now)


def suspensions_list(*, user_id: str | None = None, active: bool | None = None, now: dt.datetime | None = None):
    query = Suspension.objects(user_id=user_id) if user_id else Suspension.objects
    if active is not None:
        query = query.filter(in_force(active, now or clock.now()))
    return query.order_by("-created_at", "-id")


def suspension_active(*, user_id: str, now: dt.datetime | None = None) -> Suspension | None:
    return suspensions_list(user_id=user_id, active=True, now=now).first()


def active_suspensions(user_id: str | None = None) -> dict[str, float]:
    """userId -> until (unix seconds, 0 = until lifted): the source the kernel's restrictions mirror is built from.

    With `user_id`, that user's only (the `(userId, createdAt)` index): the answer while a rebuild runs elsewhere.
    """
    found: dict[str, float] = {}
    for suspension in suspensions_list(user_id=user_id, active=True).only("user_id", "until"):
        until = suspension.until.timestamp() if suspension.until else 0.0
        previous = found.get(suspension.user_id)
        # Two overlapping suspensions: the one that lasts longer wins (0 = forever).
        if previous is None or until == 0.0 or (previous != 0.0 and until > previous):
            found[suspension.user_id] = until
    return found


def user_ids_by_prefix(*, prefix: str, limit: int = PREFIX_MATCHES) -> list[str]:
    """User ids that start with `prefix`, from the indexed user id fields of sessions, requests and reports."""
    if not prefix:
        return []
    sources = (
        (ConversationSession, "participant1_id"),
        (ConversationSession, "participant2_id"),
        (MatchmakingRequest, "user_id"),
        (SessionReport, "reported_user_id"),
        (Suspension, "user_id"),
    )
    found: set[str] = set()
    for document, field in sources:
        rows = document.objects(prefix_range(field, prefix)).order_by(field).only(field).limit(limit)
        found.update(getattr(row, field) for row in rows)
    return sorted(found)[:limit]


@dataclass(frozen=True)
class FeedbackSummary:
    count: int
    average_rating: float | None


@dataclass(frozen=True)
class LearnerOverview:
    user_id: str
    sessions: list[ConversationSession]
    session_count: int
    requests: list[MatchmakingRequest]
    reports_made: list[SessionReport]
    reports_received: list[SessionReport]
    open_reports: int
    feedback_given: list[SessionFeedback]
    feedback_received: list[SessionFeedback]
    feedback_summary: FeedbackSummary
    blocks: list[UserBlock]
    suspensions: list[Suspension]
    suspension: Suspension | None

    @property
    def recordings(self) -> list[ConversationSession]:
        return [session for session in self.sessions if session.audio_recording_url]


def _feedback_received(user_id: str) -> tuple[list[SessionFeedback], FeedbackSummary]:
    """What partners said about `user_id`, over their latest RATING_SESSIONS sessions."""
    session_ids = [str(s.id) for s in sessions_of(user_id=user_id).only("id").limit(RATING_SESSIONS)]
    if not session_ids:
        return [], FeedbackSummary(0, None)
    received = list(SessionFeedback.objects(session_id__in=session_ids, user_id__ne=user_id).order_by("-created_at"))
    ratings = [feedback.partner_rating for feedback in received]
    average = round(sum(ratings) / len(ratings), 2) if ratings else None
    return received[:RECENT], FeedbackSummary(len(ratings), average)


def learner_overview(*, user_id: str, now: dt.datetime | None = None) -> LearnerOverview:
    sessions = sessions_of(user_id=user_id)
    feedback_received, summary = _feedback_received(user_id)
    suspensions = list(suspensions_list(user_id=user_id).limit(RECENT))
    now = now or clock.now()
    return LearnerOverview(
        user_id=user_id,
        sessions=list(sessions.limit(RECENT)),
        session_count=sessions.count(),
        requests=list(MatchmakingRequest.objects(user_id=user_id).order_by("-created_at").limit(RECENT)),
        reports_made=list(SessionReport.objects(reporter_id=user_id).order_by("-created_at").limit(RECENT)),
        reports_received=list(reports_queue(reported_user_id=user_id).limit(RECENT)),
        open_reports=SessionReport.objects(reported_user_id=user_id, state=REPORT_OPEN).count(),
        feedback_given=list(SessionFeedback.objects(user_id=user_id).order_by("-created_at").limit(RECENT)),
        feedback_received=feedback_received,
        feedback_summary=summary,
        blocks=list(UserBlock.objects(user_id=user_id).order_by("-created_at").limit(RECENT)),
        suspensions=suspensions,
        suspension=next((s for s in suspensions if s.is_active(now)), None),
    )
