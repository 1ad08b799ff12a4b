"""Replaces `django.contrib.admin` in INSTALLED_APPS so the default site also serves documents."""

from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class MongoAdminConfig(AdminConfig):
    default_site = "conversation.mongoadmin.site.DocumentAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscover: every app's admin.py registers its documents
        from conversation.mongoadmin import audit_admin  # noqa: F401 - registers the audit trail
        from conversation.mongoadmin.permissions import create_document_permissions

        post_migrate.connect(create_document_permissions, sender=self, dispatch_uid="mongoadmin-permissions")
