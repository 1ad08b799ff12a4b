"""Matchmaking requests in the back office: a read-only list (status, language, level, date) and details."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from conversation.vocab import language_codes
from matchmaking.documents import MatchmakingRequest
from mongoadmin import ChoicesFilter, DateRangeFilter, ReadOnlyDocumentAdmin, display, register
from mongoadmin.links import learner_link


@register(MatchmakingRequest)
class MatchmakingRequestAdmin(ReadOnlyDocumentAdmin):
    verbose_name = _("matchmaking request")
    verbose_name_plural = _("matchmaking requests")
    list_display = (
        "id", "user", "status", "target_language_code", "user_level", "preferred_duration", "created_at",
        "expires_at", "matched_with", "session_id",
    )  # fmt: skip
    list_filter = (
        "status",
        ChoicesFilter("target_language_code", title=_("language"), choices=language_codes),
        ChoicesFilter("user_level", title=_("level")),
        DateRangeFilter("created_at", title=_("created")),
    )
    search_fields = ("^user_id", "^matched_with_user_id", "=id")
    search_help_text = _("The start of a user id, or a request id.")
    ordering = ("-created_at",)
    labels = {
        "id": _("id"),
        "status": _("status"),
        "user_id": _("learner"),
        "learning_profile_id": _("learning profile"),
        "target_language_code": _("language"),
        "user_level": _("level"),
        "preferred_topic_id": _("preferred topic"),
        "preferred_duration": _("duration"),
        "matched_with_user_id": _("matched with"),
        "created_at": _("created"),
        "expires_at": _("expires"),
        "matched_at": _("matched"),
        "estimated_wait_seconds": _("estimated wait (seconds)"),
        "session_id": _("session"),
    }

    @display(description=_("learner"))
    def user(self, request: MatchmakingRequest) -> str:
        return learner_link(request.user_id)

    @display(description=_("matched with"))
    def matched_with(self, request: MatchmakingRequest) -> str:
        return learner_link(request.matched_with_user_id) if request.matched_with_user_id else "-"
