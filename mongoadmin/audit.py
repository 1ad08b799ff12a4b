"""Writes the staff audit trail: snapshots of a document before and after a change, and one entry per act."""

from __future__ import annotations

import datetime as dt
from typing import Any

import mongoengine as me
from bson import ObjectId

from conversation import clock
from mongoadmin.documents import AdminAuditEntry


def json_safe(value: Any) -> Any:
    """BSON values as plain JSON (ids as strings, times as ISO 8601 UTC)."""
    if isinstance(value, dict):
        return {("id" if key == "_id" else str(key)): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dt.datetime):
        return clock.isoformat(value)
    return value


def snapshot(document: me.Document | None) -> dict[str, Any] | None:
    """The document as stored (camelCase field names), JSON-safe."""
    if document is None:
        return None
    return json_safe(document.to_mongo().to_dict())


def actor_name(user) -> str:
    """Who did it, as the trail and the documents record it: a Django username, or `token:<sub>` for an API caller."""
    if hasattr(user, "get_username"):
        return user.get_username()
    return f"token:{user}"


def audit_record(
    *,
    user,
    document_type: str,
    document_id: str | None,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    label: str | None = None,
) -> AdminAuditEntry:
    """Appends one entry; written after the change it describes, never instead of it."""
    entry = AdminAuditEntry(
        created_at=clock.now(),
        username=actor_name(user),
        user_id=str(user.pk) if hasattr(user, "get_username") and user.pk is not None else None,
        document_type=document_type,
        document_id=document_id,
        document_label=label,
        action=action,
        before=before,
        after=after,
    )
    entry.save(force_insert=True)
    return entry
