"""The staff audit trail's document: who changed which document from the admin, when, and how.

Stored in MongoDB beside the documents it describes (collection `admin_audit`).
"""

from __future__ import annotations

import mongoengine as me


class AdminAuditEntry(me.Document):
    created_at = me.DateTimeField(db_field="createdAt", required=True)
    username = me.StringField(required=True)
    user_id = me.StringField(db_field="userId", null=True)
    document_type = me.StringField(db_field="documentType", required=True)
    document_id = me.StringField(db_field="documentId", null=True)
    document_label = me.StringField(db_field="documentLabel", null=True)
    action = me.StringField(required=True)
    before = me.DictField(null=True)
    after = me.DictField(null=True)

    meta = {
        "collection": "admin_audit",
        "auto_create_index": False,
        "indexes": ["-created_at", {"fields": ["document_type", "document_id", "-created_at"]}],
    }

    def __str__(self) -> str:
        return f"{self.action} {self.document_type} {self.document_id or ''}".strip()

    @property
    def changed_keys(self) -> list[str]:
        before, after = self.before or {}, self.after or {}
        return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
