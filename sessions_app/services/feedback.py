"""Post-session feedback: once per participant, only after the session ended (completed, not cancelled)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from mongoengine.errors import NotUniqueError

from conversation import clock
from conversation.errors import Conflict
from sessions_app.documents import CANCELLED, COMPLETED, ConversationSession, SessionFeedback


def feedback_give(*, session: ConversationSession, user_id: str, data: dict) -> SessionFeedback:
    if session.status == CANCELLED:  # never took place: no feedback will ever be asked for (same code)
        raise Conflict(_("This session was cancelled before it started: it takes no feedback."), "not_ended")
    if session.status != COMPLETED:
        raise Conflict(_("Feedback is accepted once the session has ended."), "not_ended")
    feedback = SessionFeedback(
        session_id=str(session.id), topic_id=session.topic_id, user_id=user_id, created_at=clock.now(), **data
    )
    try:
        feedback.save(force_insert=True)
    except NotUniqueError:
        raise Conflict(_("You already gave feedback for this session."), "feedback_exists") from None
    return feedback
