"""Suspensions: staff stop a learner from using the service, for a while or until lifted."""

from __future__ import annotations

import datetime as dt

import mongoengine as me


class Suspension(me.Document):
    user_id = me.StringField(db_field="userId", required=True, max_length=128)
    reason = me.StringField(required=True, max_length=500)
    until = me.DateTimeField(null=True)  # None: until lifted
    created_by = me.StringField(db_field="createdBy", required=True, max_length=150)
    created_at = me.DateTimeField(db_field="createdAt", required=True)
    lifted_at = me.DateTimeField(db_field="liftedAt", null=True)
    lifted_by = me.StringField(db_field="liftedBy", max_length=150, null=True)

    meta = {
        "collection": "suspension",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["user_id", "-created_at"]},
            # The active ones (restrictions mirror rebuild, "active" filter): not lifted, until later or never.
            {"fields": ["lifted_at", "until"]},
            "-created_at",
        ],
    }

    def __str__(self) -> str:
        return f"{self.user_id}: {self.reason[:60]}"

    def is_active(self, now: dt.datetime) -> bool:
        return self.lifted_at is None and (self.until is None or self.until > now)
