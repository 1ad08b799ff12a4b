"""Sessions in the back office, read as a person reads: titles and people linked, durations in words,
consent as yes/no, the recording playable (each playback audited), and ending a live session by hand
behind a reason and a confirmation. Reports and blocks are in moderation.admin (the moderation queue).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from conversation.errors import NotFound
from conversation.vocab import LEVELS, language_codes
from mongoadmin import ChoicesFilter, DateRangeFilter, ReadOnlyDocumentAdmin, action, display, register
from mongoadmin.audit import snapshot
from mongoadmin.links import learner_link
from mongoadmin.views import admin_context
from sessions_app.documents import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    END_COMPLETED,
    END_REASONS,
    INVITATIONS,
    LIVE_STATUSES,
    WAITING,
    ConversationSession,
    SessionFeedback,
    SessionReport,
)
from sessions_app.services import lifecycle, recording
from topics.documents import Topic

EMPTY = "-"
LABELS = {
    "id": gettext_lazy("id"),
    "status": gettext_lazy("status"),
    "target_language_code": gettext_lazy("language"),
    "level": gettext_lazy("level"),
    "topic_id": gettext_lazy("topic"),
    "participant1_id": gettext_lazy("participant 1"),
    "participant2_id": gettext_lazy("participant 2"),
    "scheduled_at": gettext_lazy("scheduled for"),
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
    "ended_by": gettext_lazy("ended by (staff)"),
    "end_note": gettext_lazy("staff reason"),
}


def duration_text(seconds: int | None) -> str:
    """1 h 02 min 05 s, 12 min 05 s, 40 s."""
    if seconds is None:
        return EMPTY
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class SessionsAppAdmin(ReadOnlyDocumentAdmin):
    labels = LABELS

    @display(description=gettext_lazy("session"))
    def session_link(self, document) -> str:
        url = self.site.admin_for(ConversationSession).url("change", document.session_id)
        return format_html('<a href="{}">{}</a>', url, document.session_id)


class EndSessionForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"}),
        help_text=gettext_lazy("Why staff end it; stored with the session (endNote) beside who ended it."),
        error_messages={"required": gettext_lazy("Say why the session is ended.")},
    )


@register(ConversationSession)
class ConversationSessionAdmin(SessionsAppAdmin):
    verbose_name = gettext_lazy("conversation session")
    verbose_name_plural = gettext_lazy("conversation sessions")
    list_display = (
        "id", "status", "target_language_code", "level", "topic_link", "participant1_link", "participant2_link",
        "created_at", "duration", "end_reason",
    )  # fmt: skip
    readonly_fields = (
        "id", "status", "topic_link", "target_language_code", "level", "participant1_link", "participant2_link",
        "scheduled_at", "invitation", "created_at", "started_at", "ended_at", "duration", "planned_duration",
        "end_reason", "ended_by", "end_note", "consent_participant1", "consent_participant2", "recording_player",
        "related", "updated_at",
    )  # fmt: skip
    list_filter = (
        "status",
        ChoicesFilter("target_language_code", title=gettext_lazy("language"), choices=language_codes),
        ChoicesFilter("level", choices=LEVELS),
        ChoicesFilter("end_reason", title=gettext_lazy("end reason"), choices=END_REASONS),
        ChoicesFilter("invitation", choices=INVITATIONS),
        DateRangeFilter("created_at", title=gettext_lazy("created")),
    )
    search_fields = ("=participant1_id", "=participant2_id", "=id")
    search_help_text = gettext_lazy("A participant's user id or a session id (exact).")
    ordering = ("-created_at",)
    actions = ("end_selected",)
    object_actions = ("end_session",)

    def get_urls(self) -> list:
        play = self.site.admin_view(self.recording_view)
        return [path("<str:object_id>/recording/", play, name=self.url_name("recording")), *super().get_urls()]

    def prefetch(self, documents: list[ConversationSession]) -> None:
        """The topics of a page in one query."""
        ids = {doc.topic_id for doc in documents if doc.topic_id}
        topics = {str(t.id): t for t in Topic.objects(id__in=list(ids)).only("title")} if ids else {}
        for doc in documents:
            doc.admin_topic = topics.get(doc.topic_id)

    @display(description=gettext_lazy("topic"))
    def topic_link(self, session: ConversationSession) -> str:
        topic = getattr(session, "admin_topic", None)
        if topic is None:
            return session.topic_id or EMPTY
        return format_html('<a href="{}">{}</a>', self.site.admin_for(Topic).url("change", topic.id), topic.title)

    @display(description=gettext_lazy("participant 1"))
    def participant1_link(self, session: ConversationSession) -> str:
        return learner_link(session.participant1_id)

    @display(description=gettext_lazy("participant 2"))
    def participant2_link(self, session: ConversationSession) -> str:
        return learner_link(session.participant2_id)

    @display(description=gettext_lazy("duration"))
    def duration(self, session: ConversationSession) -> str:
        return duration_text(session.actual_duration_seconds)

    @display(description=gettext_lazy("planned duration"))
    def planned_duration(self, session: ConversationSession) -> str:
        return f"{session.planned_duration_minutes} min" if session.planned_duration_minutes else EMPTY

    @display(description=gettext_lazy("participant 1 consents to recording"), boolean=True)
    def consent_participant1(self, session: ConversationSession) -> bool:
        return bool(session.recording_consent and session.recording_consent.participant1)

    @display(description=gettext_lazy("participant 2 consents to recording"), boolean=True)
    def consent_participant2(self, session: ConversationSession) -> bool:
        return bool(session.recording_consent and session.recording_consent.participant2)

    @display(description=gettext_lazy("recording"))
    def recording_player(self, session: ConversationSession) -> str:
        if not session.audio_recording_url:
            return EMPTY
        # preload=none: nothing is fetched (nor audited) until someone presses play.
        return format_html(
            '<audio controls preload="none" src="{}" data-testid="recording-player"></audio><div class="help">{}</div>',
            self.url("recording", session.pk),
            _("Each playback is written to the audit trail."),
        )

    @display(description=gettext_lazy("reports and feedback"))
    def related(self, session: ConversationSession) -> str:
        sid = str(session.pk)
        reports = SessionReport.objects(session_id=sid).count()
        feedback = SessionFeedback.objects(session_id=sid).count()
        return format_html(
            '<a href="{}?q={}">{}</a> · <a href="{}?q={}">{}</a>',
            self.site.admin_for(SessionReport).url("changelist"), sid,
            ngettext("%(n)d report", "%(n)d reports", reports) % {"n": reports},
            self.site.admin_for(SessionFeedback).url("changelist"), sid,
            ngettext("%(n)d feedback", "%(n)d feedback", feedback) % {"n": feedback},
        )  # fmt: skip

    def recording_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Staff listen through here: the playback is audited, then the browser follows a short-lived URL."""
        if not self.has_view_permission(request):
            raise Http404
        session = self.get_object(request, object_id)
        if session is None:
            raise Http404
        try:
            url = recording.download_url(session=session)
        except NotFound:
            raise Http404(_("This session has no recording.")) from None
        self.audit(request, action="play_recording", document=session, before=None,
                   after={"audioRecordingUrl": session.audio_recording_url, "expiresIn": url["expiresIn"]})  # fmt: skip
        return HttpResponseRedirect(url["downloadUrl"])

    def _end(self, request, session: ConversationSession, note: str) -> ConversationSession | None:
        """Ends it the way its participants would have (an active one completes, a waiting one is cancelled),
        and records who ended it and why beside the seed's endReason."""
        if session.status == ACTIVE:
            status, reason = COMPLETED, END_COMPLETED
        elif session.status == WAITING:
            status, reason = CANCELLED, None
        else:
            return None
        before = snapshot(session)
        ended = lifecycle.session_end(
            session=session, status=status, reason=reason, expected=(session.status,),
            also_set={"ended_by": request.user.get_username(), "end_note": note},
        )  # fmt: skip
        if ended is not None:
            self.audit(request, action="end_session", document=ended, before=before, after=snapshot(ended))
        return ended

    def _confirm(self, request, sessions: list[ConversationSession], form: EndSessionForm, *, bulk: bool):
        context = admin_context(
            request, self, title=_("End sessions?") if bulk else _("End this session?"),
            sessions=[(s, self.url("change", s.pk)) for s in sessions], form=form, bulk=bulk,
            action_name="end_selected" if bulk else "end_session",
        )  # fmt: skip
        return TemplateResponse(request, "sessions_app/end_confirmation.html", context)

    @action(description=gettext_lazy("End session"), when=lambda session: session.status in LIVE_STATUSES)
    def end_session(self, request, session: ConversationSession) -> str | HttpResponse | None:
        form = EndSessionForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return self._confirm(request, [session], form, bulk=False)
        ended = self._end(request, session, form.cleaned_data["reason"])
        if ended is None:
            messages.error(request, _("The session changed state meanwhile (it started or ended); nothing was done."))
            return None
        return _("Session ended: %(status)s.") % {"status": ended.status}

    @action(description=gettext_lazy("End selected live sessions"))
    def end_selected(self, request, queryset) -> HttpResponse | None:
        sessions = list(queryset)
        form = EndSessionForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return self._confirm(request, sessions, form, bulk=True)
        ended = [s for s in sessions if self._end(request, s, form.cleaned_data["reason"]) is not None]
        messages.success(
            request, ngettext("%(n)d session ended.", "%(n)d sessions ended.", len(ended)) % {"n": len(ended)}
        )
        return None


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
