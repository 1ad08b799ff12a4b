"""Two app configs: the admin site that also serves documents, and the app holding its templates and audit trail.

`AdminSiteConfig` replaces `django.contrib.admin` in INSTALLED_APPS (its label stays `admin`);
`MongoAdminConfig` is the `mongoadmin` app itself (templates, the `admin_audit` document).
"""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AdminSiteConfig(admin_apps.AdminConfig):
    default_site = "mongoadmin.site.DocumentAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscover: every app's admin.py registers its documents
        from mongoadmin import audit_admin  # noqa: F401 - registers the audit trail
        from mongoadmin.permissions import create_document_permissions

        post_migrate.connect(create_document_permissions, sender=self, dispatch_uid="mongoadmin-permissions")


class MongoAdminConfig(AppConfig):
    name = "mongoadmin"
    verbose_name = _("Back office")
    default = True
