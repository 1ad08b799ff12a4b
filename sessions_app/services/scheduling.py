"""Scheduled sessions: two learners agree on a time; joinable 5 min before to 10 min after."""

from __future__ import annotations

import datetime as dt

from bson import ObjectId
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError

from conversation import clock, restrictions
from sessions_app.documents import ConversationSession
from sessions_app.services import lifecycle

MAX_AHEAD = dt.timedelta(days=30)


def session_schedule(
    *,
    user_id: str,
    partner_id: str,
    language: str,
    scheduled_at: dt.datetime,
    topic_id: str | None,
    planned_minutes: int,
) -> ConversationSession:
    now = clock.now()
    if partner_id == user_id:
        raise ValidationError({"participant2Id": [_("You cannot schedule a session with yourself.")]})
    if partner_id in lifecycle.blocked_ids(user_id) or restrictions.is_suspended(partner_id, max_age=1.0):
        raise ValidationError({"participant2Id": [_("You cannot schedule a session with this user.")]})
    if scheduled_at <= now:
        raise ValidationError({"scheduledAt": [_("Must be in the future.")]})
    if scheduled_at > now + MAX_AHEAD:
        raise ValidationError({"scheduledAt": [_("Must be at most 30 days ahead.")]})
    return lifecycle.session_open(
        session_id=ObjectId(),
        participant1_id=user_id,
        participant2_id=partner_id,
        language=language,
        level=None,
        topic_id=topic_id,
        planned_minutes=planned_minutes,
        scheduled_at=scheduled_at.astimezone(dt.UTC).replace(microsecond=scheduled_at.microsecond // 1000 * 1000),
        now=now,
    )
