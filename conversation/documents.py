"""Base classes for the MongoEngine documents of the apps, and the one-call forms the hot paths use."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import mongoengine as me
from mongoengine import signals
from mongoengine.errors import NotUniqueError
from mongoengine.queryset import transform
from pymongo.errors import DuplicateKeyError

from conversation import clock

D = TypeVar("D", bound=me.Document)


class TimestampedDocument(me.Document):
    """Keeps the seed's `createdAt` / `updatedAt` on every save()."""

    created_at = me.DateTimeField(db_field="createdAt", required=True)
    updated_at = me.DateTimeField(db_field="updatedAt", required=True)

    meta = {"abstract": True}

    def stamp(self) -> None:
        now = clock.now()
        if self.created_at is None:
            self.created_at = now
        self.updated_at = now

    def save(self, *args, **kwargs):
        self.stamp()
        return super().save(*args, **kwargs)


def reloaded(document: D) -> D:
    """The document as stored now, or the one given if it is gone (after losing a compare-and-set)."""
    return Where(type(document), id=document.id).first() or document


# Why these exist: on the pairing path MongoEngine's QuerySet (built, cloned, then turned into a query)
# and Document.save (change tracking, cascades, signals) cost more CPU than the round trip they make
# (docs/PERFORMANCE-LOG.md, "Web CPU, the framework and MongoDB call path"). Same keywords, same stored
# form, one pymongo call.


class Where(Generic[D]):
    """`Model.objects(**filters)` for one `first()` or one compare-and-set `update_one(...)`.

    Filters and updates take MongoEngine's keywords (field names, `set__`/`unset__`), converted by
    MongoEngine itself, so a call reads and behaves as the QuerySet form it replaces.
    """

    def __init__(self, model: type[D], **filters: Any) -> None:
        self.model = model
        self.query = transform.query(model, **filters)

    def first(self) -> D | None:
        found = self.model._get_collection().find_one(self.query)
        return None if found is None else self.model._from_son(found)

    def update_one(self, **update: Any) -> int:
        """1 if a document matched the filters (and took the update), else 0: someone else won."""
        result = self.model._get_collection().update_one(self.query, transform.update(self.model, **update))
        return result.matched_count


_SAVE_SIGNALS = (signals.pre_save, signals.pre_save_post_validation, signals.post_save)


def insert(document: D) -> D:
    """`document.save(force_insert=True)` as one validated insert_one (NotUniqueError on a duplicate key).

    A document class with save listeners (the topic caches) goes through save() so they still hear it.
    """
    model = type(document)
    if any(signal.has_receivers_for(model) for signal in _SAVE_SIGNALS):
        return document.save(force_insert=True)
    if isinstance(document, TimestampedDocument):
        document.stamp()
    document.validate()
    try:
        document.pk = model._get_collection().insert_one(document.to_mongo()).inserted_id
    except DuplicateKeyError as exc:
        raise NotUniqueError(f"Tried to save duplicate unique keys ({exc})") from exc
    # Stored: a later save() updates it. Its change list is left as is (save() clears it by walking every
    # field, a tenth of this function's CPU); at worst a later save() sets those fields again to the same values.
    document._created = False
    return document
