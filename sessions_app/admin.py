"""Sessions in the back office: read-only lists and details, and ending a live session by hand.

Reports and blocks are in moderation.admin (the moderation queue).
"""

from __future__ import annotations

from django.contrib import messages
from django.utils.html import format_html

from conversation.vocab import LEVELS, language_codes
from mongoadmin import ChoicesFilter, DateRangeFilter, ReadOnlyDocumentAdmin, action, display, register
from mongoadmin.audit import snapshot
from mongoadmin.links import learner_link
from sessions_app.documents import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    END_COMPLETED,
    LIVE_STATUSES,
    WAITING,
    ConversationSession,
    SessionFeedback,
)
from sessions_app.services import lifecycle

LABELS = {
    "target_language_code": "language",
    "participant1_id": "participant 1",
    "participant2_id": "participant 2",
    "created_at": "created",
    "updated_at": "updated",
    "started_at": "started",
    "ended_at": "ended",
}


class SessionsAppAdmin(ReadOnlyDocumentAdmin):
    app_verbose_name = "Sessions"
    labels = LABELS

    @display(description="session")
    def session_link(self, document) -> str:
        url = self.site.admin_for(ConversationSession).url("change", document.session_id)
        return format_html('<a href="{}">{}</a>', url, document.session_id)


@register(ConversationSession)
class ConversationSessionAdmin(SessionsAppAdmin):
    verbose_name = "conversation session"
    list_display = (
        "id", "status", "target_language_code", "level", "participant1_id", "participant2_id", "created_at",
        "started_at", "ended_at", "end_reason",
    )  # fmt: skip
    list_filter = (
        "status",
        ChoicesFilter("target_language_code", title="language", choices=language_codes),
        ChoicesFilter("level", choices=LEVELS),
        DateRangeFilter("created_at", title="created"),
    )
    search_fields = ("=participant1_id", "=participant2_id", "=id")
    search_help_text = "A participant's user id or a session id (exact)."
    ordering = ("-created_at",)
    actions = ("end_selected",)
    object_actions = ("end_session",)

    def _end(self, request, session: ConversationSession) -> ConversationSession | None:
        """Ends it the way its participants would have: an active one completes, a waiting one is cancelled."""
        if session.status == ACTIVE:
            status, reason = COMPLETED, END_COMPLETED
        elif session.status == WAITING:
            status, reason = CANCELLED, None
        else:
            return None
        before = snapshot(session)
        ended = lifecycle.session_end(session=session, status=status, reason=reason, expected=(session.status,))
        if ended is not None:
            self.audit(request, action="end_session", document=ended, before=before, after=snapshot(ended))
        return ended

    @action(description="End session", when=lambda session: session.status in LIVE_STATUSES)
    def end_session(self, request, session: ConversationSession) -> str | None:
        ended = self._end(request, session)
        if ended is None:
            messages.error(request, "The session changed state meanwhile (it started or ended); nothing was done.")
            return None
        return f"Session ended: {ended.status}."

    @action(description="End selected live sessions")
    def end_selected(self, request, queryset) -> None:
        ended = [session for session in queryset if self._end(request, session) is not None]
        messages.success(request, f"{len(ended)} session(s) ended.")


@register(SessionFeedback)
class SessionFeedbackAdmin(SessionsAppAdmin):
    verbose_name = "session feedback"
    verbose_name_plural = "session feedback"
    list_display = (
        "created_at", "session_link", "user", "partner_rating", "connection_quality", "topic_rating",
        "talk_again", "level_felt_right", "comment",
    )  # fmt: skip
    list_filter = (ChoicesFilter("partner_rating", choices=range(1, 6)), DateRangeFilter("created_at", title="created"))
    search_fields = ("=session_id", "^user_id")
    ordering = ("-created_at",)

    @display(description="user")
    def user(self, feedback: SessionFeedback) -> str:
        return learner_link(feedback.user_id)
