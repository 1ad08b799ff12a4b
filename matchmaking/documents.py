"""The seed's MatchmakingRequest document."""

from __future__ import annotations

import mongoengine as me
from django.conf import settings

from conversation.vocab import DURATIONS, LEVELS

PENDING, MATCHED, EXPIRED, CANCELLED = "pending", "matched", "expired", "cancelled"
STATUSES = (PENDING, MATCHED, EXPIRED, CANCELLED)
PENDING_INDEX = "one_pending_per_user"


def history_retention_seconds() -> int:
    return settings.MATCHMAKING_REQUEST_HISTORY_DAYS * 24 * 3600


class MatchmakingRequest(me.Document):
    user_id = me.StringField(db_field="userId", required=True)
    learning_profile_id = me.StringField(db_field="learningProfileId", required=True)
    target_language_code = me.StringField(db_field="targetLanguageCode", required=True)
    user_level = me.StringField(db_field="userLevel", required=True, choices=LEVELS)
    preferred_topic_id = me.StringField(db_field="preferredTopicId", null=True)
    preferred_duration = me.IntField(db_field="preferredDuration", required=True, choices=DURATIONS)
    status = me.StringField(required=True, choices=STATUSES, default=PENDING)
    matched_with_user_id = me.StringField(db_field="matchedWithUserId", null=True)
    session_id = me.StringField(db_field="sessionId", null=True)
    created_at = me.DateTimeField(db_field="createdAt", required=True)
    expires_at = me.DateTimeField(db_field="expiresAt", required=True)
    # Beyond the seed: when it was matched (time-to-match), the wait estimate given.
    matched_at = me.DateTimeField(db_field="matchedAt", null=True)
    estimated_wait_seconds = me.IntField(db_field="estimatedWaitSeconds", null=True)

    meta = {
        "collection": "matchmaking_request",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["user_id", "status"]},
            {"fields": ["target_language_code", "user_level", "status", "created_at"]},
            # Beyond the seed: at most one pending request per user, enforced by the insert itself,
            # across processes and whatever Redis has lost. Holding only pending requests, it is also
            # how expiry, reconciliation and relaxation find them (matchmaking/selectors.py).
            {
                "fields": ["user_id"],
                "name": PENDING_INDEX,
                "unique": True,
                "partialFilterExpression": {"status": PENDING},
            },
        ],
    }

    # The seed's TTL index, created by ensure_indexes with the configured retention:
    # MongoDB deletes a request that long after it expired (history, statistics).
    ttl_index_field = "expiresAt"
    # Dropped by ensure_indexes where an earlier release made them: every index is rewritten on each
    # state change. (status, expiresAt) served only what PENDING_INDEX and the seed's indexes serve.
    retired_indexes = ("status_1_expiresAt_1",)

    @classmethod
    def ttl_index_seconds(cls) -> int:
        return history_retention_seconds()
