"""The moderation back office: the report queue, suspensions, blocks, and one page per learner.

Every write goes through moderation.services, which audits it with the staff member's name.
"""

from __future__ import annotations

import mongoengine as me
from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from conversation import clock
from conversation.auth import USER_ID_RE
from conversation.errors import Conflict
from matchmaking.documents import MatchmakingRequest
from moderation import selectors, services
from moderation.documents import Suspension
from mongoadmin import ChoicesFilter, DateRangeFilter, DocumentAdmin, ReadOnlyDocumentAdmin, action, display, register
from mongoadmin.filters import ListFilter
from mongoadmin.forms import DocumentForm
from mongoadmin.links import learner_link, learner_url, set_user_page
from mongoadmin.views import admin_context
from sessions_app.documents import (
    REPORT_OPEN,
    REPORT_OUTCOMES,
    REPORT_STATES,
    ConversationSession,
    SessionReport,
    UserBlock,
)

LEARNER_PAGE = "moderation_learner_detail"
USER_ID_HELP = _("A learner's user id (1-128 characters A-Z a-z 0-9 _ . @ -).")


def session_link(site, session_id: str | None) -> str:
    if not session_id:
        return "-"
    return format_html('<a href="{}">{}</a>', site.admin_for(ConversationSession).url("change", session_id), session_id)


# The report queue.
class ReportStateFilter(ChoicesFilter):
    """The review state, with how many reports are in each (the queue's counts)."""

    def __init__(self) -> None:
        super().__init__("state", title=_("state"))

    def bind(self, document, label) -> ReportStateFilter:
        bound = ReportStateFilter()
        bound.document = document
        return bound

    def choices_values(self) -> list[tuple[str, str]]:
        counts = selectors.report_counts()
        return [(state, f"{state} ({counts[state]})") for state in REPORT_STATES]


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[(outcome, outcome) for outcome in REPORT_OUTCOMES],
        widget=forms.RadioSelect,
        help_text=_("actioned: the report was founded and acted on; dismissed: nothing to act on."),
    )
    notes = forms.CharField(label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea)


@register(SessionReport)
class SessionReportAdmin(ReadOnlyDocumentAdmin):
    verbose_name = _("report")
    verbose_name_plural = _("reports")
    app_verbose_name = _("Sessions")
    list_display = ("created_at", "state", "session", "reporter", "reported", "reason", "assignee", "notes")
    list_filter = (
        ReportStateFilter(),
        "reason",
        "assignee",
        DateRangeFilter("created_at", title=_("created")),
    )
    search_fields = ("^reporter_id", "^reported_user_id", "=session_id", "=id")
    search_help_text = _("The start of a user id (reporter or reported), or a session or report id.")
    ordering = ("-created_at",)
    actions = ("assign_selected", "resolve_selected")
    object_actions = ("assign_to_me", "resolve")
    readonly_fields = (
        "id", "state", "session", "reporter", "reported", "reason", "details", "created_at", "assignee", "notes",
        "resolved_at", "resolved_by",
    )  # fmt: skip
    labels = {
        "id": _("id"),
        "state": _("state"),
        "reason": _("reason"),
        "details": _("details"),
        "assignee": _("assignee"),
        "notes": _("notes"),
        "created_at": _("reported"),
        "resolved_at": _("resolved"),
        "resolved_by": _("resolved by"),
    }

    @display(description=_("session"))
    def session(self, report: SessionReport) -> str:
        return session_link(self.site, report.session_id)

    @display(description=_("reporter"))
    def reporter(self, report: SessionReport) -> str:
        return learner_link(report.reporter_id)

    @display(description=_("reported user"))
    def reported(self, report: SessionReport) -> str:
        return learner_link(report.reported_user_id)

    def _resolve_page(self, request: HttpRequest, reports: list[SessionReport], form: ResolveForm, *, bulk: bool):
        context = admin_context(
            request, self, title=gettext("Resolve reports"), form=form, reports=reports, bulk=bulk,
            action_name="resolve_selected",
        )  # fmt: skip
        return TemplateResponse(request, "moderation/resolve.html", context)

    def _resolve(self, request: HttpRequest, reports: list[SessionReport], *, bulk: bool) -> HttpResponse | int:
        """The form page until it is sent valid; then the number of reports this staff member resolved."""
        form = ResolveForm(request.POST if request.POST.get("post") == "yes" else None)
        if not form.is_valid():
            return self._resolve_page(request, reports, form, bulk=bulk)
        data = form.cleaned_data
        return services.reports_resolve(
            reports=reports, outcome=data["outcome"], notes=data["notes"] or None, actor=request.user
        )

    @action(description=_("Resolve selected reports (actioned or dismissed, with notes)"))
    def resolve_selected(self, request: HttpRequest, queryset) -> HttpResponse | None:
        reports = list(queryset)
        result = self._resolve(request, reports, bulk=True)
        if isinstance(result, HttpResponse):
            return result
        skipped = len(reports) - result
        message = ngettext("%(n)d report resolved.", "%(n)d reports resolved.", result) % {"n": result}
        if skipped:
            message += " " + ngettext("%(n)d was already resolved.", "%(n)d were already resolved.", skipped) % {
                "n": skipped
            }
        messages.success(request, message)
        return None

    @action(description=_("Resolve…"), when=lambda report: report.state == REPORT_OPEN)
    def resolve(self, request: HttpRequest, report: SessionReport) -> HttpResponse | str | None:
        result = self._resolve(request, [report], bulk=False)
        if isinstance(result, HttpResponse):
            return result
        if not result:
            messages.error(request, gettext("Someone resolved this report meanwhile; nothing was changed."))
            return None
        return gettext("Report resolved.")

    @action(description=_("Assign to me"), when=lambda report: report.state == REPORT_OPEN)
    def assign_to_me(self, request: HttpRequest, report: SessionReport) -> str | None:
        try:
            services.report_assign(report=report, actor=request.user)
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return None
        return gettext("Assigned to you.")

    @action(description=_("Assign selected open reports to me"))
    def assign_selected(self, request: HttpRequest, queryset) -> None:
        done = 0
        for report in queryset.filter(state=REPORT_OPEN):
            services.report_assign(report=report, actor=request.user)
            done += 1
        messages.success(
            request, ngettext("%(n)d report assigned to you.", "%(n)d reports assigned to you.", done) % {"n": done}
        )


# Suspensions.
class SuspensionForm(DocumentForm):
    user_id = forms.RegexField(USER_ID_RE.pattern, label=_("User id"), max_length=128, help_text=USER_ID_HELP)
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea)
    until = forms.DateTimeField(
        label=_("Until"), required=False, help_text=_("UTC, YYYY-MM-DD HH:MM. Empty: until lifted by staff.")
    )

    def clean_until(self):
        until = self.cleaned_data.get("until")
        if until is not None and until <= clock.now():
            raise forms.ValidationError(_("Must be in the future (leave it empty for: until lifted)."))
        return until


class ActiveFilter(ListFilter):
    """`?active=1` suspensions in force now, `?active=0` lifted or run out."""

    title = _("in force")

    def params(self) -> tuple[str, ...]:
        return ("active",)

    def apply(self, queryset, params):
        wanted = params.get("active")
        if wanted not in ("1", "0"):
            return queryset
        return queryset.filter(selectors.in_force(wanted == "1", clock.now()))

    def context(self, changelist) -> dict:
        current = changelist.params.get("active")
        choices = [(None, gettext("All")), ("1", gettext("Yes")), ("0", gettext("No"))]
        return {
            "title": self.title,
            "choices": [
                {
                    "display": display,
                    "selected": current == value or (value is None and current not in ("1", "0")),
                    "query_string": changelist.query_string({"active": value} if value else None, remove=["active"]),
                }
                for value, display in choices
            ],
        }


@register(Suspension)
class SuspensionAdmin(DocumentAdmin):
    verbose_name = _("suspension")
    verbose_name_plural = _("suspensions")
    form_class = SuspensionForm
    list_display = ("created_at", "user", "reason", "until", "in_force", "created_by", "lifted_at", "lifted_by")
    list_filter = (ActiveFilter(), DateRangeFilter("created_at", title=_("created")))
    search_fields = ("^user_id",)
    search_help_text = _("The start of a user id.")
    ordering = ("-created_at",)
    actions = ("lift_selected",)
    object_actions = ("lift",)
    readonly_fields = (
        "id",
        "user",
        "reason",
        "until",
        "in_force",
        "created_by",
        "created_at",
        "lifted_at",
        "lifted_by",
    )
    labels = {"created_at": _("since"), "created_by": _("by"), "lifted_at": _("lifted"), "lifted_by": _("lifted by")}

    def can_edit(self, request: HttpRequest) -> bool:
        return False  # a suspension is lifted, never edited: its history stays as it was

    def has_delete_permission(self, request: HttpRequest) -> bool:
        return False

    @display(description=_("user"))
    def user(self, suspension: Suspension) -> str:
        return learner_link(suspension.user_id)

    @display(description=_("in force"), boolean=True)
    def in_force(self, suspension: Suspension) -> bool:
        return suspension.is_active(clock.now())

    def create(self, request: HttpRequest, *, data: dict, action: str = "create") -> Suspension:
        try:
            return services.suspension_create(
                user_id=data["user_id"], reason=data["reason"], until=data.get("until"), actor=request.user
            )
        except Conflict as exc:
            raise me.ValidationError(str(exc.detail)) from None  # the add page shows it above the form

    @action(description=_("Lift suspension"), when=lambda suspension: suspension.is_active(clock.now()))
    def lift(self, request: HttpRequest, suspension: Suspension) -> str | None:
        try:
            services.suspension_lift(suspension=suspension, actor=request.user)
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return None
        return gettext("Suspension lifted: %s can use the service again.") % suspension.user_id

    @action(description=_("Lift selected suspensions"))
    def lift_selected(self, request: HttpRequest, queryset) -> None:
        lifted = 0
        for suspension in queryset.filter(lifted_at=None):
            try:
                services.suspension_lift(suspension=suspension, actor=request.user)
            except Conflict:
                continue
            lifted += 1
        messages.success(
            request, ngettext("%(n)d suspension lifted.", "%(n)d suspensions lifted.", lifted) % {"n": lifted}
        )


# Blocks.
class BlockForm(DocumentForm):
    user_id = forms.RegexField(USER_ID_RE.pattern, label=_("User id"), max_length=128, help_text=USER_ID_HELP)
    blocked_user_id = forms.RegexField(
        USER_ID_RE.pattern, label=_("Never paired with"), max_length=128, help_text=USER_ID_HELP
    )

    def clean(self):
        data = super().clean()
        if data.get("user_id") and data.get("user_id") == data.get("blocked_user_id"):
            self.add_error("blocked_user_id", _("A learner cannot be blocked from themself."))
        return data


@register(UserBlock)
class UserBlockAdmin(DocumentAdmin):
    """Stored both ways (one row per direction); creating or lifting one acts on both."""

    form_class = BlockForm
    verbose_name = _("block")
    verbose_name_plural = _("blocks")
    app_verbose_name = _("Sessions")
    list_display = ("created_at", "user", "blocked_user", "session")
    list_filter = (DateRangeFilter("created_at", title=_("created")),)
    search_fields = ("^user_id", "^blocked_user_id")
    search_help_text = _("The start of a user id.")
    ordering = ("-created_at",)
    actions = ("lift_selected",)
    object_actions = ("lift",)
    readonly_fields = ("id", "user", "blocked_user", "session", "created_at")
    labels = {"created_at": _("since")}

    def can_edit(self, request: HttpRequest) -> bool:
        return False

    @display(description=_("user"))
    def user(self, block: UserBlock) -> str:
        return learner_link(block.user_id)

    @display(description=_("never paired with"))
    def blocked_user(self, block: UserBlock) -> str:
        return learner_link(block.blocked_user_id)

    @display(description=_("from the report on session"))
    def session(self, block: UserBlock) -> str:
        return session_link(self.site, block.session_id)

    def create(self, request: HttpRequest, *, data: dict, action: str = "create") -> UserBlock:
        return services.block_create(user_id=data["user_id"], other_id=data["blocked_user_id"], actor=request.user)

    def delete(self, request: HttpRequest, *, document: UserBlock, action: str = "delete") -> None:
        services.block_lift(block=document, actor=request.user)

    @action(description=_("Lift block (both ways)"), permission="delete")
    def lift(self, request: HttpRequest, block: UserBlock) -> HttpResponse:
        services.block_lift(block=block, actor=request.user)
        messages.success(request, gettext("Block lifted: %(a)s and %(b)s may be paired again.")
                         % {"a": block.user_id, "b": block.blocked_user_id})  # fmt: skip
        return redirect(self.url("changelist"))  # its own page is gone

    @action(description=_("Lift selected blocks (both ways)"), permission="delete")
    def lift_selected(self, request: HttpRequest, queryset) -> None:
        lifted = sum(bool(services.block_lift(block=block, actor=request.user)) for block in queryset)
        messages.success(request, ngettext("%(n)d block lifted.", "%(n)d blocks lifted.", lifted) % {"n": lifted})


# The learner view.
def learner_search_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    invalid = bool(query) and not USER_ID_RE.match(query)
    matches = selectors.user_ids_by_prefix(prefix=query) if query and not invalid else []
    context = {
        **admin.site.each_context(request),
        "title": gettext("Learners"),
        "query": query,
        "matches": [(user_id, learner_url(user_id)) for user_id in matches],
        "invalid": invalid,
    }
    return TemplateResponse(request, "moderation/learner_search.html", context)


def learner_view(request: HttpRequest, key: str) -> HttpResponse:
    if not USER_ID_RE.match(key):
        raise Http404(gettext("Not a user id."))
    overview = selectors.learner_overview(user_id=key)
    site = admin.site
    context = {
        **site.each_context(request),
        "title": gettext("Learner %s") % key,
        "o": overview,
        "suspension_add_url": site.admin_for(Suspension).url("add") + "?" + urlencode({"user_id": key}),
        "suspension_lift_url": (
            site.admin_for(Suspension).url("action", overview.suspension.id, "lift") if overview.suspension else None
        ),
        # "All of them" links: each list searched for this user id.
        "lists": {
            name: site.admin_for(document).url("changelist") + "?" + urlencode({"q": key})
            for name, document in (
                ("sessions", ConversationSession),
                ("requests", MatchmakingRequest),
                ("reports", SessionReport),
                ("blocks", UserBlock),
                ("suspensions", Suspension),
            )
        },
    }
    return TemplateResponse(request, "moderation/learner.html", context)


admin.site.register_view(
    app_label="moderation", name="learner", title=_("Learners"), view=learner_search_view, detail=learner_view
)
set_user_page(LEARNER_PAGE)
