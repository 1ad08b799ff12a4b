"""Sessions in the back office: read-only lists and details, and ending a live session by hand.

Reports and blocks are in moderation.admin (the moderation queue).
"""

from __future__ import annotations

from django.contrib import messages
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

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
    "id": gettext_lazy("id"),
    "status": gettext_lazy("status"),
    "target_language_code": gettext_lazy("language"),
    "level": gettext_lazy("level"),
    "topic_id": gettext_lazy("topic"),
    "participant1_id": gettext_lazy("participant 1"),
    "participant2_id": gettext_lazy("participant 2"),
    "scheduled_at": gettext_lazy("scheduled"),
    "created_at": gettext_lazy("created"),
    "updated_at": gettext_lazy("updated"),
    "started_at": gettext_lazy("started"),
    "ended_at": gettext_lazy("ended"),
    "actual_duration_seconds": gettext_lazy("duration (seconds)"),
    "planned_duration_minutes": gettext_lazy("planned duration (minutes)"),
    "end_reason": gettext_lazy("end reason"),
    "audio_recording_url": gettext_lazy("recording"),
    "recording_consent": gettext_lazy("recording consent"),
    "user_id": gettext_lazy("learner"),
    "partner_rating": gettext_lazy("partner rating"),
    "connection_quality": gettext_lazy("connection quality"),
    "topic_rating": gettext_lazy("topic rating"),
    "talk_again": gettext_lazy("would talk again"),
    "level_felt_right": gettext_lazy("level felt right"),
    "comment": gettext_lazy("comment"),
    "reporter_id": gettext_lazy("reporter"),
    "reported_user_id": gettext_lazy("reported learner"),
    "reason": gettext_lazy("reason"),
    "details": gettext_lazy("details"),
    "session_id": gettext_lazy("session"),
}


class SessionsAppAdmin(ReadOnlyDocumentAdmin):
    labels = LABELS

    @display(description=gettext_lazy("session"))
    def session_link(self, document) -> str:
        url = self.site.admin_for(ConversationSession).url("change", document.session_id)
        return format_html('<a href="{}">{}</a>', url, document.session_id)


@register(ConversationSession)
class ConversationSessionAdmin(SessionsAppAdmin):
    verbose_name = gettext_lazy("conversation session")
    verbose_name_plural = gettext_lazy("conversation sessions")
    list_display = (
        "id", "status", "target_language_code", "level", "participant1_id", "participant2_id", "created_at",
        "started_at", "ended_at", "end_reason",
    )  # fmt: skip
    list_filter = (
        "status",
        ChoicesFilter("target_language_code", title=gettext_lazy("language"), choices=language_codes),
        ChoicesFilter("level", choices=LEVELS),
        DateRangeFilter("created_at", title=gettext_lazy("created")),
    )
    search_fields = ("=participant1_id", "=participant2_id", "=id")
    search_help_text = gettext_lazy("A participant's user id or a session id (exact).")
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

    @action(description=gettext_lazy("End session"), when=lambda session: session.status in LIVE_STATUSES)
    def end_session(self, request, session: ConversationSession) -> str | None:
        ended = self._end(request, session)
        if ended is None:
            messages.error(request, _("The session changed state meanwhile (it started or ended); nothing was done."))
            return None
        return _("Session ended: %(status)s.") % {"status": ended.status}

    @action(description=gettext_lazy("End selected live sessions"))
    def end_selected(self, request, queryset) -> None:
        count = sum(self._end(request, session) is not None for session in queryset)
        messages.success(
            request, ngettext("%(count)d session ended.", "%(count)d sessions ended.", count) % {"count": count}
        )


@register(SessionFeedback)
class SessionFeedbackAdmin(SessionsAppAdmin):
    verbose_name = gettext_lazy("session feedback")
    verbose_name_plural = gettext_lazy("session feedback")
    list_display = (
        "created_at", "session_link", "user", "partner_rating", "connection_quality", "topic_rating",
        "talk_again", "level_felt_right", "comment",
    )  # fmt: skip
    list_filter = (
        ChoicesFilter("partner_rating", choices=range(1, 6)),
        DateRangeFilter("created_at", title=gettext_lazy("created")),
    )
    search_fields = ("=session_id", "^user_id")
    ordering = ("-created_at",)

    @display(description=gettext_lazy("learner"))
    def user(self, feedback: SessionFeedback) -> str:
        return learner_link(feedback.user_id)
