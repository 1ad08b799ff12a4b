"""Topics back office: curate the catalog (list, edit, bulk (de)activate, CSV/JSON export and import)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages

from conversation.vocab import CATEGORIES, DURATIONS, LEVELS, language_codes
from mongoadmin import ChoicesFilter, DocumentAdmin, action, register
from mongoadmin.forms import DocumentForm, LinesField
from topics import services
from topics.documents import Topic


class TopicForm(DocumentForm):
    """The same rules as the API's TopicSerializer, for the admin form and for imported rows."""

    title = forms.CharField(min_length=1, max_length=200)
    target_language_code = forms.ChoiceField(label="Language", choices=())
    level = forms.ChoiceField(choices=[(level, level) for level in LEVELS])
    category = forms.ChoiceField(choices=[(category, category) for category in CATEGORIES])
    estimated_duration_minutes = forms.TypedChoiceField(
        label="Duration (minutes)", coerce=int, choices=[(minutes, minutes) for minutes in DURATIONS]
    )
    description = forms.CharField(max_length=2000, required=False, empty_value=None, widget=forms.Textarea)
    prompt_questions = LinesField(
        max_lines=20, max_line_length=300, help_text="One question per line; at most 20, each up to 300 characters."
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read per form, not at import, so the setting (and a test's override of it) is always current.
        self.fields["target_language_code"].choices = [(code, code) for code in language_codes()]


@register(Topic)
class TopicAdmin(DocumentAdmin):
    form_class = TopicForm
    list_display = (
        "title", "target_language_code", "level", "category", "estimated_duration_minutes", "is_active", "updated_at",
    )  # fmt: skip
    list_filter = (
        ChoicesFilter("target_language_code", title="language", choices=language_codes),
        "level",
        "category",
        "is_active",
    )
    search_fields = ("title", "description")
    search_help_text = "Words in the title or description (any case)."
    ordering = ("target_language_code", "level", "title")
    readonly_fields = ("id", "catalog_key", "created_at", "updated_at")
    actions = ("activate", "deactivate", "delete_selected")
    export_fields = (
        "id", "target_language_code", "level", "category", "title", "description", "prompt_questions",
        "estimated_duration_minutes", "is_active", "created_at", "updated_at",
    )  # fmt: skip
    importable = True
    labels = {
        "target_language_code": "language",
        "estimated_duration_minutes": "duration",
        "is_active": "active",
        "updated_at": "updated",
        "created_at": "created",
        "catalog_key": "catalog key",
        "prompt_questions": "prompt questions",
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
        state = "active" if active else "inactive"
        messages.success(request, f"{len(changed)} topic(s) marked {state}.")

    @action(description="Activate selected topics")
    def activate(self, request, queryset) -> None:
        self._set_active(request, queryset, True)

    @action(description="Deactivate selected topics")
    def deactivate(self, request, queryset) -> None:
        self._set_active(request, queryset, False)
