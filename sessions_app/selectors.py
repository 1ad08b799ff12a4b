"""Reads of sessions: a participant's history, current session, one session, and how topics are used."""

from __future__ import annotations

import datetime as dt

from mongoengine import Q
from mongoengine.queryset import QuerySet

from conversation import clock
from conversation.errors import NotFound
from conversation.lookups import get_or_404
from sessions_app.documents import INVITATION_PENDING, LIVE_STATUSES, ConversationSession, SessionFeedback
from sessions_app.services.presence import live_session_id
from topics.usage import TopicUsage


def sessions_of(*, user_id: str, status: str | None = None) -> QuerySet:
    """Newest first; the $or is served by the seed's two participant indexes."""
    query = ConversationSession.objects(Q(participant1_id=user_id) | Q(participant2_id=user_id))
    if status:
        query = query.filter(status=status)
    return query.order_by("-created_at", "-id")


def session_current(*, user_id: str) -> ConversationSession | None:
    session_id = live_session_id(user_id)
    if session_id:
        session = ConversationSession.objects(id=session_id, status__in=LIVE_STATUSES).first()
        if session is not None:
            return session
    # An invitation not yet accepted is nobody's current session (it would let anyone fill a calendar).
    return sessions_of(user_id=user_id).filter(status__in=LIVE_STATUSES, invitation__ne=INVITATION_PENDING).first()


def session_for(*, session_id: str, user_id: str) -> ConversationSession:
    """A session the caller takes part in; anyone else gets the same 404 as an unknown id."""
    session = get_or_404(ConversationSession, session_id)
    if session.slot_of(user_id) is None:
        raise NotFound()
    return session


def topics_usage(topic_ids: list[str], *, now: dt.datetime | None = None) -> dict[str, TopicUsage]:
    """Sessions of the last 30 days and the average topic rating, per topic: two aggregations for all ids."""
    now = now or clock.now()
    sessions = ConversationSession._get_collection().aggregate([
        {"$match": {"topicId": {"$in": topic_ids}, "createdAt": {"$gte": now - dt.timedelta(days=30)}}},
        {"$group": {"_id": "$topicId", "n": {"$sum": 1}}},
    ])  # fmt: skip
    ratings = SessionFeedback._get_collection().aggregate([
        {"$match": {"topicId": {"$in": topic_ids}, "topicRating": {"$ne": None}}},
        {"$group": {"_id": "$topicId", "avg": {"$avg": "$topicRating"}, "n": {"$sum": 1}}},
    ])  # fmt: skip
    usage: dict[str, TopicUsage] = {
        topic_id: {"sessions_30d": 0, "average_rating": None, "ratings": 0} for topic_id in topic_ids
    }
    for row in sessions:
        usage[row["_id"]]["sessions_30d"] = row["n"]
    for row in ratings:
        usage[row["_id"]] |= {"average_rating": round(row["avg"], 2), "ratings": row["n"]}
    return usage
