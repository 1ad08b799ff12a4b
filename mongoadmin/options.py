"""`DocumentAdmin`: what a document's admin pages show, who may use them, and how they write (audited)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any

import mongoengine as me
from django import forms
from django.apps import apps
from django.contrib.admin.utils import display_for_value
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from mongoengine.base import BaseDocument
from mongoengine.queryset import QuerySet

from conversation.lookups import parse_object_id
from mongoadmin import audit as audit_trail
from mongoadmin import transfer_views, views
from mongoadmin.actions import BUILTIN_ACTIONS
from mongoadmin.filters import ChoicesFilter, ListFilter

EMPTY = "-"


@dataclass(frozen=True)
class DocumentOptions:
    """The part of a model's `_meta` the admin templates and URL names read, for a document."""

    app_label: str
    model_name: str
    object_name: str
    verbose_name: str
    verbose_name_plural: str
    app_name: str

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.object_name}"


def display(*, description: str | None = None, boolean: bool = False) -> Callable:
    """Marks a DocumentAdmin method usable in list_display / readonly_fields."""

    def decorator(func: Callable) -> Callable:
        func.short_description = description
        func.boolean = boolean
        return func

    return decorator


class DocumentAdmin:
    """Subclass, set these attributes, and `@register(Document)` it."""

    list_display: tuple[str, ...] = ("__str__",)
    list_filter: tuple[str | ListFilter, ...] = ()
    # "name" icontains; "=name" exact (ids are case-sensitive); "~name" contains, on a field stored folded
    search_fields: tuple[str, ...] = ()
    search_help_text: str | None = None
    ordering: tuple[str, ...] = ("-id",)
    readonly_fields: tuple[str, ...] = ()  # shown, never edited; a read-only page shows all fields when empty
    actions: tuple[str, ...] = ()  # bulk actions on the list (methods marked @action, or "delete_selected")
    object_actions: tuple[str, ...] = ()  # buttons on one document's page (methods marked @action)
    labels: dict[str, str] = {}
    form_class: type[forms.Form] | None = None
    list_per_page = 50
    export_fields: tuple[str, ...] = ()  # attribute names; files use their camelCase db names
    importable = False
    import_max_bytes = 1024 * 1024
    import_max_rows = 2000
    verbose_name: str | None = None
    verbose_name_plural: str | None = None
    app_verbose_name: str | None = None

    def __init__(self, document: type[me.Document], site) -> None:
        self.document, self.site = document, site
        app_config = apps.get_containing_app_config(document.__module__)
        # Names stay lazy (`is None`, never truth-tested or formatted here) so each request shows its language.
        verbose = self.verbose_name
        if verbose is None:
            verbose = re.sub(r"(?<!^)(?=[A-Z])", " ", document.__name__).lower()
        plural = self.verbose_name_plural if self.verbose_name_plural is not None else format_lazy("{}s", verbose)
        self.opts = DocumentOptions(
            app_label=app_config.label,
            model_name=document.__name__.lower(),
            object_name=document.__name__,
            verbose_name=verbose,
            verbose_name_plural=plural,
            app_name=self.app_verbose_name if self.app_verbose_name is not None else app_config.verbose_name,
        )

    # URLs: /admin/<app_label>/<model_name>/... named like a ModelAdmin's (admin:topics_topic_change).
    def url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def url(self, view: str, *args: Any) -> str:
        return reverse(f"admin:{self.url_name(view)}", args=[str(a) for a in args], current_app=self.site.name)

    def get_urls(self) -> list:
        def bind(view: Callable) -> Callable:
            def inner(request, *args, **kwargs):
                return view(request, self, *args, **kwargs)

            return self.site.admin_view(update_wrapper(inner, view))

        return [
            path("", bind(views.changelist_view), name=self.url_name("changelist")),
            path("add/", bind(views.add_view), name=self.url_name("add")),
            path("export/<str:fmt>/", bind(transfer_views.export_view), name=self.url_name("export")),
            path("import/", bind(transfer_views.import_view), name=self.url_name("import")),
            path("<str:object_id>/change/", bind(views.change_view), name=self.url_name("change")),
            path("<str:object_id>/delete/", bind(views.delete_view), name=self.url_name("delete")),
            path("<str:object_id>/actions/<str:name>/", bind(views.object_action_view), name=self.url_name("action")),
        ]

    # Permissions: Django's own (see permissions.py); an active superuser has them all.
    def _has_perm(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{action}_{self.opts.model_name}")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_module_perms(self.opts.app_label)

    def has_view_permission(self, request: HttpRequest) -> bool:
        return self._has_perm(request, "view") or self._has_perm(request, "change")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.form_class is not None and self._has_perm(request, "add")

    def has_change_permission(self, request: HttpRequest) -> bool:
        return self._has_perm(request, "change")

    def has_delete_permission(self, request: HttpRequest) -> bool:
        return self._has_perm(request, "delete")

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        return {
            "add": self.has_add_permission(request),
            "change": self.has_change_permission(request),
            "delete": self.has_delete_permission(request),
            "view": self.has_view_permission(request),
        }

    def can_edit(self, request: HttpRequest) -> bool:
        return self.form_class is not None and self.has_change_permission(request)

    # Reads.
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.document.objects

    def get_object(self, request: HttpRequest, object_id: str) -> me.Document | None:
        oid = parse_object_id(object_id)
        return self.get_queryset(request).filter(id=oid).first() if oid else None

    def get_list_filters(self) -> list[ListFilter]:
        specs = [ChoicesFilter(spec) if isinstance(spec, str) else spec for spec in self.list_filter]
        return [spec.bind(self.document, self.label) for spec in specs]

    def get_actions(self, request: HttpRequest, names: tuple[str, ...] | None = None) -> dict[str, Callable]:
        """Allowed actions by name, bound (bulk: (request, queryset); object: (request, document))."""
        found = {}
        for name in self.actions if names is None else names:
            func = getattr(self, name, None) or BUILTIN_ACTIONS[name].__get__(self)
            if getattr(self, f"has_{func.allowed_permission}_permission")(request):
                found[name] = func
        return found

    def action_description(self, func: Callable) -> str:
        return func.short_description % {"verbose_name_plural": self.opts.verbose_name_plural}

    # Display.
    def label(self, name: str) -> str:
        if name in self.labels:
            return self.labels[name]
        if name == "__str__":
            return self.opts.verbose_name
        method = getattr(self, name, None)
        if callable(method) and getattr(method, "short_description", None):
            return method.short_description
        return name.replace("_", " ")

    def value(self, document: me.Document, name: str) -> Any:
        if name == "__str__":
            return str(document)
        method = getattr(self, name, None)
        if callable(method) and name not in document._fields:
            return method(document)
        value = getattr(document, name, None)
        return str(value) if name == "id" and value is not None else value

    def display(self, document: me.Document, name: str, *, context: str = "detail") -> str:
        value = self.value(document, name)
        method = getattr(self, name, None)
        if isinstance(value, bool) or getattr(method, "boolean", False):
            return display_for_value(value, EMPTY, boolean=True)
        if isinstance(value, me.EmbeddedDocument):
            value = value.to_mongo().to_dict()
        if isinstance(value, dict):
            if context == "list":
                return ", ".join(f"{k}: {v}" for k, v in value.items()) or EMPTY
            return format_html("<pre>{}</pre>", json.dumps(audit_trail.json_safe(value), indent=2, ensure_ascii=False))
        if isinstance(value, list | tuple) and context != "list" and value:
            return format_html_join("", "<div>{}</div>", ((item,) for item in value))
        return display_for_value(value, EMPTY)

    def object_label(self, document: me.Document) -> str:
        """str(document), or "<verbose name> <id>" for a document class without its own __str__."""
        if type(document).__str__ is BaseDocument.__str__:
            return f"{self.opts.verbose_name} {document.pk}"
        return str(document)

    def prefetch(self, documents: list[me.Document]) -> None:
        """Reads what the displayed documents need (related titles, counts) in one query per page, not per row;
        override to set attributes on them. Called for a list page and for a detail page."""

    def detail_fields(self) -> tuple[str, ...]:
        return self.readonly_fields or ("id", *self.document._fields_ordered[1:])

    def clean_data(self, *, data: dict[str, Any], document: me.Document | None) -> None:
        """Rules beyond one form (a duplicate elsewhere): raise django's ValidationError({field: [message]}).
        Called after the form is valid, by the add and change pages and for every imported row."""

    def natural_key(self, data: dict[str, Any]) -> tuple[str, Any] | None:
        """(the field to blame, a key): two rows of one import file with the same key are one document twice."""
        return None

    # Writes: override the three hooks to call your services; the audited wrappers below call them.
    def create_document(self, *, data: dict[str, Any]) -> me.Document:
        document = self.document(**data)
        document.save()
        return document

    def update_document(self, *, document: me.Document, data: dict[str, Any]) -> me.Document:
        for name, value in data.items():
            setattr(document, name, value)
        document.save()
        return document

    def delete_document(self, *, document: me.Document) -> None:
        document.delete()

    def audit(
        self, request: HttpRequest, *, action: str, document: me.Document, before: dict | None, after: dict | None
    ):
        return audit_trail.audit_record(
            user=request.user,
            document_type=self.opts.label,
            document_id=str(document.pk),
            action=action,
            before=before,
            after=after,
            label=self._stored_label(document),
        )

    def _stored_label(self, document: me.Document) -> str:
        """The label kept in the audit trail: stored, so in the source language whoever acted."""
        with translation.override(None):
            return self.object_label(document)[:200]

    def create(self, request: HttpRequest, *, data: dict[str, Any], action: str = "create") -> me.Document:
        document = self.create_document(data=data)
        self.audit(request, action=action, document=document, before=None, after=audit_trail.snapshot(document))
        return document

    def update(self, request: HttpRequest, *, document: me.Document, data: dict[str, Any], action: str = "update"):
        before = audit_trail.snapshot(document)
        document = self.update_document(document=document, data=data)
        self.audit(request, action=action, document=document, before=before, after=audit_trail.snapshot(document))
        return document

    def delete(self, request: HttpRequest, *, document: me.Document, action: str = "delete") -> None:
        before = audit_trail.snapshot(document)
        self.delete_document(document=document)
        self.audit(request, action=action, document=document, before=before, after=None)


class ReadOnlyDocumentAdmin(DocumentAdmin):
    """Lists and detail pages only; `change` permission still allows its object actions."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest) -> bool:
        return False
