"""Matchmaking requests in the back office: a read-only list (status, language, level, date) and details."""

from __future__ import annotations

from conversation.vocab import language_codes
from matchmaking.documents import MatchmakingRequest
from mongoadmin import ChoicesFilter, DateRangeFilter, ReadOnlyDocumentAdmin, display, register
from mongoadmin.links import learner_link


@register(MatchmakingRequest)
class MatchmakingRequestAdmin(ReadOnlyDocumentAdmin):
    list_display = (
        "id", "user", "status", "target_language_code", "user_level", "preferred_duration", "created_at",
        "expires_at", "matched_with", "session_id",
    )  # fmt: skip
    list_filter = (
        "status",
        ChoicesFilter("target_language_code", title="language", choices=language_codes),
        ChoicesFilter("user_level", title="level"),
        DateRangeFilter("created_at", title="created"),
    )
    search_fields = ("^user_id", "^matched_with_user_id", "=id")
    search_help_text = "The start of a user id, or a request id."
    ordering = ("-created_at",)
    labels = {
        "user_id": "user",
        "target_language_code": "language",
        "user_level": "level",
        "preferred_duration": "duration",
        "matched_with_user_id": "matched with",
        "created_at": "created",
        "expires_at": "expires",
        "session_id": "session",
    }

    @display(description="user")
    def user(self, request: MatchmakingRequest) -> str:
        return learner_link(request.user_id)

    @display(description="matched with")
    def matched_with(self, request: MatchmakingRequest) -> str:
        return learner_link(request.matched_with_user_id) if request.matched_with_user_id else "-"
