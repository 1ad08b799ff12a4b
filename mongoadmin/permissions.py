"""Django permissions for documents: view/add/change/delete rows like a model's, without a model.

After `migrate`, each registered document gets a content type (app_label, lowercased class name) and
the four standard permissions, so groups and users are granted them in the ordinary admin pages.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import DEFAULT_DB_ALIAS
from django.utils import translation

ACTIONS = ("view", "add", "change", "delete")


def create_document_permissions(sender, *, using: str = DEFAULT_DB_ALIAS, apps=None, verbosity: int = 1, **kwargs):
    if apps is None:
        return
    try:
        content_type_model = apps.get_model("contenttypes", "ContentType")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:
        return
    for doc_admin in getattr(admin.site, "document_admins", list)():
        opts = doc_admin.opts
        content_type, _ = content_type_model.objects.using(using).get_or_create(
            app_label=opts.app_label, model=opts.model_name
        )
        for action in ACTIONS:
            with translation.override(None):  # stored, so in the source language, as Django names its own
                name = f"Can {action} {opts.verbose_name}"
            permission_model.objects.using(using).get_or_create(
                content_type=content_type, codename=f"{action}_{opts.model_name}", defaults={"name": name}
            )
