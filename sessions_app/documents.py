"""The seed's ConversationSession, plus reports, blocks and feedback."""

from __future__ import annotations

import mongoengine as me

from conversation.documents import TimestampedDocument
from conversation.vocab import DURATIONS

WAITING, ACTIVE, COMPLETED, CANCELLED = "waiting", "active", "completed", "cancelled"
STATUSES = (WAITING, ACTIVE, COMPLETED, CANCELLED)
LIVE_STATUSES = (WAITING, ACTIVE)
END_COMPLETED, END_DROPPED, END_TIMEOUT, END_REPORTED = "completed", "dropped", "timeout", "reported"
END_REASONS = (END_COMPLETED, END_DROPPED, END_TIMEOUT, END_REPORTED)
INVITATION_PENDING, INVITATION_ACCEPTED, INVITATION_DECLINED = "pending", "accepted", "declined"
INVITATIONS = (INVITATION_PENDING, INVITATION_ACCEPTED, INVITATION_DECLINED)


class RecordingConsent(me.EmbeddedDocument):
    participant1 = me.BooleanField(required=True, default=False)
    participant2 = me.BooleanField(required=True, default=False)


class ConversationSession(TimestampedDocument):
    topic_id = me.StringField(db_field="topicId", null=True)
    target_language_code = me.StringField(db_field="targetLanguageCode", required=True)
    participant1_id = me.StringField(db_field="participant1Id", required=True)
    participant2_id = me.StringField(db_field="participant2Id", required=True)
    status = me.StringField(required=True, choices=STATUSES, default=WAITING)
    scheduled_at = me.DateTimeField(db_field="scheduledAt", null=True)
    started_at = me.DateTimeField(db_field="startedAt", null=True)
    ended_at = me.DateTimeField(db_field="endedAt", null=True)
    actual_duration_seconds = me.IntField(db_field="actualDurationSeconds", null=True)
    end_reason = me.StringField(db_field="endReason", choices=END_REASONS, null=True)
    audio_recording_url = me.StringField(db_field="audioRecordingUrl", null=True)
    recording_consent = me.EmbeddedDocumentField(
        RecordingConsent, db_field="recordingConsent", required=True, default=RecordingConsent
    )
    # Beyond the seed.
    planned_duration_minutes = me.IntField(db_field="plannedDurationMinutes", choices=DURATIONS, default=10)
    level = me.StringField(null=True)
    # A scheduled session is an invitation participant2 accepts or declines; None for instant sessions.
    invitation = me.StringField(choices=INVITATIONS, null=True)
    # Who ended it from the back office and why, beside the seed's endReason (whose values stay the seed's).
    ended_by = me.StringField(db_field="endedBy", max_length=150, null=True)
    end_note = me.StringField(db_field="endNote", max_length=500, null=True)

    meta = {
        "collection": "conversation_session",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["participant1_id", "-created_at"]},
            {"fields": ["participant2_id", "-created_at"]},
            {"fields": ["status", "target_language_code"]},
            # Beyond the seed: the operations dashboard reads recent sessions by creation time.
            {"fields": ["-created_at"]},
            # The sweeper cancels waiting invitations whose time came: it reads only those.
            {"fields": ["status", "invitation", "scheduled_at"]},
            # A topic's use in the last 30 days (the topic admin's usage column).
            {"fields": ["topic_id", "-created_at"]},
        ],
    }

    @property
    def awaits_answer(self) -> bool:
        """An invitation the invitee has not accepted yet: not joinable, nobody's current session."""
        return self.invitation == INVITATION_PENDING

    def slot_of(self, user_id: str) -> int | None:
        """1 or 2 for a participant, None for anyone else."""
        if user_id == self.participant1_id:
            return 1
        if user_id == self.participant2_id:
            return 2
        return None

    def partner_of(self, user_id: str) -> str:
        return self.participant2_id if user_id == self.participant1_id else self.participant1_id

    @property
    def participants(self) -> list[str]:
        return [self.participant1_id, self.participant2_id]


# A report's review by staff (moderation): open until someone acts on it or dismisses it.
REPORT_OPEN, REPORT_ACTIONED, REPORT_DISMISSED = "open", "actioned", "dismissed"
REPORT_STATES = (REPORT_OPEN, REPORT_ACTIONED, REPORT_DISMISSED)
REPORT_OUTCOMES = (REPORT_ACTIONED, REPORT_DISMISSED)


class SessionReport(me.Document):
    session_id = me.StringField(db_field="sessionId", required=True)
    reporter_id = me.StringField(db_field="reporterId", required=True)
    reported_user_id = me.StringField(db_field="reportedUserId", required=True)
    reason = me.StringField(required=True, max_length=100)
    details = me.StringField(max_length=2000, null=True)
    created_at = me.DateTimeField(db_field="createdAt", required=True)
    # Review (moderation): who looks at it, what they found, who closed it.
    state = me.StringField(required=True, choices=REPORT_STATES, default=REPORT_OPEN)
    assignee = me.StringField(max_length=150, null=True)
    notes = me.StringField(max_length=2000, null=True)
    resolved_at = me.DateTimeField(db_field="resolvedAt", null=True)
    resolved_by = me.StringField(db_field="resolvedBy", max_length=150, null=True)

    meta = {
        "collection": "session_report",
        "auto_create_index": False,
        "indexes": [
            "-created_at",
            {"fields": ["state", "created_at"]},  # the moderation queue, oldest open first
            {"fields": ["reported_user_id", "-created_at"]},
            {"fields": ["reporter_id", "-created_at"]},
        ],
    }

    def __str__(self) -> str:
        return f"{self.reason} ({self.reported_user_id})"

    @classmethod
    def backfill(cls) -> None:
        """Reports stored before the moderation queue existed enter it as open (ensure_indexes, each release)."""
        cls.objects(state__exists=False).update(set__state=REPORT_OPEN)


class UserBlock(me.Document):
    """Two users never paired or scheduled together again (stored both ways)."""

    user_id = me.StringField(db_field="userId", required=True)
    blocked_user_id = me.StringField(db_field="blockedUserId", required=True)
    session_id = me.StringField(db_field="sessionId", null=True)
    created_at = me.DateTimeField(db_field="createdAt", required=True)

    meta = {
        "collection": "user_block",
        "auto_create_index": False,
        "indexes": [{"fields": ["user_id", "blocked_user_id"], "unique": True}],
    }

    def __str__(self) -> str:
        return f"{self.user_id} / {self.blocked_user_id}"


class SessionFeedback(me.Document):
    session_id = me.StringField(db_field="sessionId", required=True)
    user_id = me.StringField(db_field="userId", required=True)
    partner_rating = me.IntField(db_field="partnerRating", min_value=1, max_value=5, required=True)
    connection_quality = me.IntField(db_field="connectionQuality", min_value=1, max_value=5, required=True)
    topic_rating = me.IntField(db_field="topicRating", min_value=1, max_value=5, null=True)
    talk_again = me.BooleanField(db_field="talkAgain", null=True)
    level_felt_right = me.BooleanField(db_field="levelFeltRight", null=True)
    comment = me.StringField(max_length=1000, null=True)
    created_at = me.DateTimeField(db_field="createdAt", required=True)
    # The session's topic, copied at creation so a topic's average rating is one indexed aggregation.
    topic_id = me.StringField(db_field="topicId", null=True)

    meta = {
        "collection": "session_feedback",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["session_id", "user_id"], "unique": True},
            "-created_at",
            {"fields": ["user_id", "-created_at"]},  # feedback a learner gave (moderation's learner view)
            "topic_id",  # a topic's average rating (the topic admin)
        ],
    }
