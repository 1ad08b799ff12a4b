"""JSON shapes of a session as clients see it (REST responses and socket events)."""

from __future__ import annotations

from typing import Any

from conversation.clock import isoformat
from sessions_app.documents import ConversationSession
from topics.documents import Topic
from topics.serializers import topic_json


def topic_of(session: ConversationSession) -> Topic | None:
    """The session's topic from the process's topic cache (a few seconds old at most: topics/selectors.py)."""
    from topics.selectors import topic_cached

    return topic_cached(topic_id=session.topic_id) if session.topic_id else None


def session_json(session: ConversationSession, *, topic: Topic | bool | None = True) -> dict[str, Any]:
    """`topic=True` loads it; pass the Topic (or None) when the caller already has it."""
    if topic is True:
        topic = topic_of(session)
    consent = session.recording_consent
    return {
        "id": str(session.id),
        "topicId": session.topic_id,
        "targetLanguageCode": session.target_language_code,
        "participant1Id": session.participant1_id,
        "participant2Id": session.participant2_id,
        "status": session.status,
        "scheduledAt": isoformat(session.scheduled_at),
        "startedAt": isoformat(session.started_at),
        "endedAt": isoformat(session.ended_at),
        "actualDurationSeconds": session.actual_duration_seconds,
        "endReason": session.end_reason,
        "audioRecordingUrl": session.audio_recording_url,
        "recordingConsent": {
            "participant1": bool(consent.participant1) if consent else False,
            "participant2": bool(consent.participant2) if consent else False,
        },
        "createdAt": isoformat(session.created_at),
        "updatedAt": isoformat(session.updated_at),
        "topic": topic_json(topic) if topic else None,
        "plannedDurationMinutes": session.planned_duration_minutes,
        "level": session.level,
        "invitation": session.invitation,
    }
