"""Base classes for the MongoEngine documents of the apps."""

from __future__ import annotations

from typing import TypeVar

import mongoengine as me

from conversation import clock

D = TypeVar("D", bound=me.Document)


class TimestampedDocument(me.Document):
    """Keeps the seed's `createdAt` / `updatedAt` on every save()."""

    created_at = me.DateTimeField(db_field="createdAt", required=True)
    updated_at = me.DateTimeField(db_field="updatedAt", required=True)

    meta = {"abstract": True}

    def save(self, *args, **kwargs):
        now = clock.now()
        if self.created_at is None:
            self.created_at = now
        self.updated_at = now
        return super().save(*args, **kwargs)


def reloaded(document: D) -> D:
    """The document as stored now, or the one given if it is gone (after losing a compare-and-set)."""
    return type(document).objects(id=document.id).first() or document
