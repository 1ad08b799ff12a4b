"""The admin site that lists registered documents beside the ORM models (index, app pages, sidebar)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import mongoengine as me
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.urls import include, path, re_path, reverse

if TYPE_CHECKING:
    from mongoadmin.options import DocumentAdmin


class DocumentAdminSite(admin.AdminSite):
    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self._documents: dict[type[me.Document], DocumentAdmin] = {}
        self._views: list[tuple[str, str, str, Callable]] = []
        self._keyed_views: list[tuple[str, str, Callable]] = []

    def register_document(self, document: type[me.Document], admin_class: type[DocumentAdmin]) -> None:
        if document in self._documents:
            raise ImproperlyConfigured(f"{document.__name__} is already registered in the admin")
        self._documents[document] = admin_class(document, self)

    def register_view(
        self, *, app_label: str, name: str, title: str, view: Callable, detail: Callable | None = None
    ) -> None:
        """A staff-only page of its own (a dashboard), listed under `app_label` on the index.

        `detail(request, key)` adds `<app_label>/<name>/<key>/`, named `admin:<app_label>_<name>_detail`.
        """
        self._views.append((app_label, name, title, view))
        if detail is not None:
            self._keyed_views.append((app_label, name, detail))

    def document_admins(self) -> list[DocumentAdmin]:
        return list(self._documents.values())

    def admin_for(self, document: type[me.Document]) -> DocumentAdmin | None:
        return self._documents.get(document)

    def get_urls(self):
        labels = sorted({doc_admin.opts.app_label for doc_admin in self._documents.values()})
        urls = [
            path(f"{doc_admin.opts.app_label}/{doc_admin.opts.model_name}/", include(doc_admin.get_urls()))
            for doc_admin in self._documents.values()
        ]
        urls += [
            path(f"{label}/{name}/", self.admin_view(view), name=f"{label}_{name}")
            for label, name, _title, view in self._views
        ]
        urls += [
            path(f"{label}/{name}/<str:key>/", self.admin_view(view), name=f"{label}_{name}_detail")
            for label, name, view in self._keyed_views
        ]
        if labels:
            # Same name as Django's app index, so `admin:app_list` reverses for document apps too.
            regex = r"^(?P<app_label>" + "|".join(labels) + ")/$"
            urls.append(re_path(regex, self.admin_view(self.app_index), name="app_list"))
        # Before Django's own patterns, whose last one catches every other path.
        return urls + super().get_urls()

    def get_app_list(self, request, app_label: str | None = None) -> list[dict]:
        app_list = super().get_app_list(request, app_label)
        apps_by_label = {app["app_label"]: app for app in app_list}
        for doc_admin in self._documents.values():
            opts = doc_admin.opts
            if app_label and opts.app_label != app_label:
                continue
            entry = self._document_entry(request, doc_admin)
            if entry is None:
                continue
            app = apps_by_label.get(opts.app_label)
            if app is None:
                app = apps_by_label[opts.app_label] = {
                    "name": opts.app_name,
                    "app_label": opts.app_label,
                    "app_url": reverse("admin:app_list", kwargs={"app_label": opts.app_label}, current_app=self.name),
                    "has_module_perms": True,
                    "models": [],
                }
                app_list.append(app)
            app["models"].append(entry)
        if request.user.is_staff:
            for label, name, title, _view in self._views:
                if label in apps_by_label and (app_label is None or app_label == label):
                    url = reverse(f"admin:{label}_{name}", current_app=self.name)
                    apps_by_label[label]["models"].append(
                        {"name": title, "object_name": name, "perms": {"view": True}, "admin_url": url,
                         "add_url": None, "view_only": True}
                    )  # fmt: skip
        app_list.sort(key=lambda app: app["name"].lower())
        for app in app_list:
            app["models"].sort(key=lambda model: model["name"])
        return app_list

    def _document_entry(self, request, doc_admin: DocumentAdmin) -> dict | None:
        if not doc_admin.has_module_permission(request):
            return None
        perms = doc_admin.get_model_perms(request)
        if not any(perms.values()):
            return None
        opts = doc_admin.opts
        return {
            "model": doc_admin.document,
            "name": opts.verbose_name_plural.capitalize(),
            "object_name": opts.object_name,
            "perms": perms,
            "admin_url": doc_admin.url("changelist") if perms["view"] or perms["change"] else None,
            "add_url": doc_admin.url("add") if perms["add"] else None,
            "view_only": not perms["change"] or doc_admin.form_class is None,
        }


def register(document: type[me.Document], *, site: DocumentAdminSite | None = None) -> Callable:
    """`@register(Topic)` above a DocumentAdmin subclass adds it to the default admin site."""

    def wrapper(admin_class: type[DocumentAdmin]) -> type[DocumentAdmin]:
        target = site if site is not None else admin.site
        if not isinstance(target, DocumentAdminSite):
            raise ImproperlyConfigured(
                "Documents need the DocumentAdminSite: list 'mongoadmin.apps.MongoAdminConfig' "
                "in INSTALLED_APPS instead of 'django.contrib.admin'."
            )
        target.register_document(document, admin_class)
        return admin_class

    return wrapper
