"""Topics back office: curate the catalog (list, edit, bulk (de)activate, CSV/Excel/JSON export and import),
with the catalog's quality rules (no duplicates, prompts on active topics), usage and ratings per topic,
and the coverage page (language x level x category)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from conversation.text import fold
from conversation.vocab import CATEGORIES, DURATIONS, LEVELS, language_codes
from mongoadmin import ChoicesFilter, DocumentAdmin, action, display, register
from mongoadmin.actions import delete_selected
from mongoadmin.forms import DocumentForm, LinesField
from topics import coverage, services
from topics.documents import Topic
from topics.usage import topics_usage


class TopicForm(DocumentForm):
    """The same rules as the API's TopicSerializer, for the admin form and for imported rows."""

    title = forms.CharField(label=gettext_lazy("Title"), min_length=1, max_length=200)
    target_language_code = forms.ChoiceField(label=gettext_lazy("Language"), choices=())
    level = forms.ChoiceField(label=gettext_lazy("Level"), choices=[(level, level) for level in LEVELS])
    category = forms.ChoiceField(
        label=gettext_lazy("Category"), choices=[(category, category) for category in CATEGORIES]
    )
    estimated_duration_minutes = forms.TypedChoiceField(
        label=gettext_lazy("Duration (minutes)"), coerce=int, choices=[(minutes, minutes) for minutes in DURATIONS]
    )
    description = forms.CharField(
        label=gettext_lazy("Description"), max_length=2000, required=False, empty_value=None, widget=forms.Textarea
    )
    prompt_questions = LinesField(
        label=gettext_lazy("Prompt questions"),
        max_lines=20,
        max_line_length=300,
        help_text=gettext_lazy(
            "One question per line; at most 20, each up to 300 characters. An active topic needs at least one."
        ),
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read per form, not at import, so the setting (and a test's override of it) is always current.
        self.fields["target_language_code"].choices = [(code, code) for code in language_codes()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("is_active") and "prompt_questions" in cleaned and not cleaned["prompt_questions"]:
            self.add_error("prompt_questions", _("An active topic needs at least one prompt question."))
        return cleaned


@register(Topic)
class TopicAdmin(DocumentAdmin):
    verbose_name = gettext_lazy("topic")
    verbose_name_plural = gettext_lazy("topics")
    form_class = TopicForm
    list_display = (
        "title", "target_language_code", "level", "category", "estimated_duration_minutes", "is_active",
        "sessions_30d", "average_rating", "updated_at",
    )  # fmt: skip
    list_filter = (
        ChoicesFilter("target_language_code", title=gettext_lazy("language"), choices=coverage.languages_with_topics),
        "level",
        "category",
        "is_active",
    )
    search_fields = ("~search_text",)
    search_help_text = gettext_lazy(
        "Words in the title or description (case and accents ignored: metier finds métier)."
    )
    ordering = ("target_language_code", "level", "title")
    readonly_fields = ("id", "catalog_key", "sessions_30d", "average_rating", "created_at", "updated_at")
    actions = ("activate", "deactivate", "delete_selected")
    export_fields = (
        "id", "target_language_code", "level", "category", "title", "description", "prompt_questions",
        "estimated_duration_minutes", "is_active", "created_at", "updated_at",
    )  # fmt: skip
    importable = True
    labels = {
        "id": gettext_lazy("id"),
        "title": gettext_lazy("title"),
        "target_language_code": gettext_lazy("language"),
        "level": gettext_lazy("level"),
        "category": gettext_lazy("category"),
        "description": gettext_lazy("description"),
        "estimated_duration_minutes": gettext_lazy("duration"),
        "is_active": gettext_lazy("active"),
        "updated_at": gettext_lazy("updated"),
        "created_at": gettext_lazy("created"),
        "catalog_key": gettext_lazy("catalog key"),
        "prompt_questions": gettext_lazy("prompt questions"),
    }

    def create_document(self, *, data: dict[str, Any]) -> Topic:
        return services.topic_create(data=data)

    def update_document(self, *, document: Topic, data: dict[str, Any]) -> Topic:
        return services.topic_update(topic=document, data=data)

    def delete_document(self, *, document: Topic) -> None:
        services.topic_delete(topic=document)

    def clean_data(self, *, data: dict[str, Any], document: Topic | None) -> None:
        current = {name: getattr(document, name) for name in document._fields} if document else {}
        if problems := services.topic_problems(values={**current, **data}, topic_id=document.id if document else None):
            raise ValidationError(problems)

    def natural_key(self, data: dict[str, Any]) -> tuple[str, Any]:
        key = (data.get("target_language_code"), data.get("level"), data.get("category"), fold(data.get("title")))
        return "title", key

    # Usage and ratings: read for a whole page at once (see topics.usage).
    def prefetch(self, documents: list[Topic]) -> None:
        usage = topics_usage([str(topic.id) for topic in documents])
        for topic in documents:
            topic.admin_usage = usage.get(str(topic.id))

    @display(description=gettext_lazy("sessions (30 days)"))
    def sessions_30d(self, topic: Topic) -> int | None:
        usage = getattr(topic, "admin_usage", None)
        return usage["sessions_30d"] if usage else None

    @display(description=gettext_lazy("average rating"))
    def average_rating(self, topic: Topic) -> str | None:
        usage = getattr(topic, "admin_usage", None)
        if not usage or usage["average_rating"] is None:
            return None
        return format_html(
            "{} / 5 <span class='quiet'>({})</span>", number_format(usage["average_rating"], 2), usage["ratings"]
        )

    # Bulk actions that may leave a language x level without an active topic say so.
    def _warn_emptied(self, request, cells: set[tuple[str, str]]) -> None:
        for language, level in sorted(coverage.empty_cells(cells)):
            messages.warning(
                request,
                _("No active topic is left for %(language)s %(level)s: learners of that level get no topic.")
                % {"language": language, "level": level},
            )

    def _set_active(self, request, queryset, active: bool) -> None:
        changed = [
            self.update(
                request,
                document=topic,
                data={"is_active": active},
                action="bulk_activate" if active else "bulk_deactivate",
            )
            for topic in queryset
            if topic.is_active != active
        ]
        count = len(changed)
        if active:
            message = ngettext("%(count)d topic marked active.", "%(count)d topics marked active.", count)
        else:
            message = ngettext("%(count)d topic marked inactive.", "%(count)d topics marked inactive.", count)
        messages.success(request, message % {"count": count})
        if not active:
            self._warn_emptied(request, {(t.target_language_code, t.level) for t in changed})

    @action(description=gettext_lazy("Activate selected topics"))
    def activate(self, request, queryset) -> None:
        self._set_active(request, queryset, True)

    @action(description=gettext_lazy("Deactivate selected topics"))
    def deactivate(self, request, queryset) -> None:
        self._set_active(request, queryset, False)

    @action(description=gettext_lazy("Delete selected %(verbose_name_plural)s"), permission="delete")
    def delete_selected(self, request, queryset):
        cells = {(t.target_language_code, t.level) for t in queryset if t.is_active}
        response = delete_selected(self, request, queryset)
        if response is None:  # deleted (else: the confirmation page)
            self._warn_emptied(request, cells)
        return response


admin.site.register_view(
    app_label="topics", name="coverage", title=gettext_lazy("Catalog coverage"), view=coverage.coverage_view
)
