"""Reads of sessions: a participant's history, current session, one session."""

from __future__ import annotations

from mongoengine import Q
from mongoengine.queryset import QuerySet

from conversation.errors import NotFound
from conversation.lookups import get_or_404
from sessions_app.documents import LIVE_STATUSES, ConversationSession
from sessions_app.services.presence import live_session_id


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
    return sessions_of(user_id=user_id).filter(status__in=LIVE_STATUSES).first()


def session_for(*, session_id: str, user_id: str) -> ConversationSession:
    """A session the caller takes part in; anyone else gets the same 404 as an unknown id."""
    session = get_or_404(ConversationSession, session_id)
    if session.slot_of(user_id) is None:
        raise NotFound()
    return session
