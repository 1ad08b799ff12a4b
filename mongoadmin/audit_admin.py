"""The audit trail in the admin: read-only list (by document type, action, date) and before/after detail."""

from __future__ import annotations

from django.urls import NoReverseMatch
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from mongoadmin.documents import AdminAuditEntry
from mongoadmin.filters import DateRangeFilter
from mongoadmin.options import ReadOnlyDocumentAdmin, display
from mongoadmin.site import register


@register(AdminAuditEntry)
class AdminAuditEntryAdmin(ReadOnlyDocumentAdmin):
    verbose_name = _("audit entry")
    verbose_name_plural = _("audit entries")
    list_display = ("created_at", "username", "action", "document_type", "document_link")
    list_filter = ("document_type", "action", DateRangeFilter("created_at", title=_("date")))
    search_fields = ("=document_id", "username")
    search_help_text = _("A document id (exact) or a username.")
    ordering = ("-created_at",)
    readonly_fields = (
        "created_at", "username", "user_id", "action", "document_type", "document_link", "changed", "before", "after",
    )  # fmt: skip
    labels = {
        "created_at": _("when"),
        "username": _("username"),
        "user_id": _("Django user id"),
        "action": _("action"),
        "document_type": _("document type"),
        "before": _("before"),
        "after": _("after"),
    }

    @display(description=_("document"))
    def document_link(self, entry: AdminAuditEntry) -> str:
        text = entry.document_label or entry.document_id or "-"
        target = next((a for a in self.site.document_admins() if a.opts.label == entry.document_type), None)
        if target is None or not entry.document_id or entry.action.endswith("delete"):
            return text
        try:
            return format_html('<a href="{}">{}</a>', target.url("change", entry.document_id), text)
        except NoReverseMatch:
            return text

    @display(description=_("changed fields"))
    def changed(self, entry: AdminAuditEntry) -> str:
        return ", ".join(entry.changed_keys) or "-"
