"""JSON shape of a matchmaking request."""

from __future__ import annotations

from typing import Any

from conversation.clock import isoformat
from matchmaking.documents import MatchmakingRequest


def request_json(request: MatchmakingRequest) -> dict[str, Any]:
    return {
        "id": str(request.id),
        "userId": request.user_id,
        "learningProfileId": request.learning_profile_id,
        "targetLanguageCode": request.target_language_code,
        "userLevel": request.user_level,
        "preferredTopicId": request.preferred_topic_id,
        "preferredDuration": request.preferred_duration,
        "status": request.status,
        "matchedWithUserId": request.matched_with_user_id,
        "sessionId": request.session_id,
        "createdAt": isoformat(request.created_at),
        "expiresAt": isoformat(request.expires_at),
        "matchedAt": isoformat(request.matched_at),
        "estimatedWaitSeconds": request.estimated_wait_seconds,
    }
