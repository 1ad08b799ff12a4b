"""Topics back office: curate the catalog (list, edit, bulk (de)activate, CSV/JSON export and import)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from conversation.vocab import CATEGORIES, DURATIONS, LEVELS, language_codes
from mongoadmin import ChoicesFilter, DocumentAdmin, action, register
from mongoadmin.forms import DocumentForm, LinesField
from topics import services
from topics.documents import Topic


class TopicForm(DocumentForm):
    """The same rules as the API's TopicSerializer, for the admin form and for imported rows."""

    title = forms.CharField(label=_("Title"), min_length=1, max_length=200)
    target_language_code = forms.ChoiceField(label=_("Language"), choices=())
    level = forms.ChoiceField(label=_("Level"), choices=[(level, level) for level in LEVELS])
    category = forms.ChoiceField(label=_("Category"), choices=[(category, category) for category in CATEGORIES])
    estimated_duration_minutes = forms.TypedChoiceField(
        label=_("Duration (minutes)"), coerce=int, choices=[(minutes, minutes) for minutes in DURATIONS]
    )
    description = forms.CharField(
        label=_("Description"), max_length=2000, required=False, empty_value=None, widget=forms.Textarea
    )
    prompt_questions = LinesField(
        label=_("Prompt questions"),
        max_lines=20,
        max_line_length=300,
        help_text=_("One question per line; at most 20, each up to 300 characters."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read per form, not at import, so the setting (and a test's override of it) is always current.
        self.fields["target_language_code"].choices = [(code, code) for code in language_codes()]


@register(Topic)
class TopicAdmin(DocumentAdmin):
    verbose_name = _("topic")
    verbose_name_plural = _("topics")
    form_class = TopicForm
    list_display = (
        "title", "target_language_code", "level", "category", "estimated_duration_minutes", "is_active", "updated_at",
    )  # fmt: skip
    list_filter = (
        ChoicesFilter("target_language_code", title=_("language"), choices=language_codes),
        "level",
        "category",
        "is_active",
    )
    search_fields = ("title", "description")
    search_help_text = _("Words in the title or description (any case).")
    ordering = ("target_language_code", "level", "title")
    readonly_fields = ("id", "catalog_key", "created_at", "updated_at")
    actions = ("activate", "deactivate", "delete_selected")
    export_fields = (
        "id", "target_language_code", "level", "category", "title", "description", "prompt_questions",
        "estimated_duration_minutes", "is_active", "created_at", "updated_at",
    )  # fmt: skip
    importable = True
    labels = {
        "id": _("id"),
        "title": _("title"),
        "target_language_code": _("language"),
        "level": _("level"),
        "category": _("category"),
        "description": _("description"),
        "estimated_duration_minutes": _("duration"),
        "is_active": _("active"),
        "updated_at": _("updated"),
        "created_at": _("created"),
        "catalog_key": _("catalog key"),
        "prompt_questions": _("prompt questions"),
    }

    def create_document(self, *, data: dict[str, Any]) -> Topic:
        return services.topic_create(data=data)

    def update_document(self, *, document: Topic, data: dict[str, Any]) -> Topic:
        return services.topic_update(topic=document, data=data)

    def delete_document(self, *, document: Topic) -> None:
        services.topic_delete(topic=document)

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

    @action(description=_("Activate selected topics"))
    def activate(self, request, queryset) -> None:
        self._set_active(request, queryset, True)

    @action(description=_("Deactivate selected topics"))
    def deactivate(self, request, queryset) -> None:
        self._set_active(request, queryset, False)
