"""Creates every index the documents declare, TTL indexes with their retention; drops retired ones."""

from __future__ import annotations

import importlib

import mongoengine as me
from django.apps import apps

from conversation import mongo


def documents() -> list[type[me.Document]]:
    """The concrete documents of every installed app's `documents` module."""
    found = []
    for name in (f"{config.name}.documents" for config in apps.get_app_configs()):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, me.Document)
                and value.__module__ == module.__name__
                and not value._meta.get("abstract")
            ):
                found.append(value)
    return found


def ensure_ttl_index(collection: str, field: str, seconds: int) -> None:
    """Creates the TTL index, or changes its expireAfterSeconds in place (collMod)."""
    coll = mongo.db()[collection]
    name = f"{field}_1"
    existing = coll.index_information().get(name)
    if existing is None:
        coll.create_index([(field, 1)], expireAfterSeconds=seconds, name=name)
    elif existing.get("expireAfterSeconds") != seconds:
        mongo.db().command("collMod", collection, index={"name": name, "expireAfterSeconds": seconds})


def drop_retired_indexes(collection: str, names: tuple[str, ...]) -> None:
    """Drops indexes an earlier release created and no query needs any more (each costs every write)."""
    coll = mongo.db()[collection]
    for name in set(names) & set(coll.index_information()):
        coll.drop_index(name)


def ensure_indexes() -> list[str]:
    names = []
    for document in documents():
        drop_retired_indexes(document._get_collection_name(), getattr(document, "retired_indexes", ()))
        document.ensure_indexes()
        if ttl_field := getattr(document, "ttl_index_field", None):
            ensure_ttl_index(document._get_collection_name(), ttl_field, document.ttl_index_seconds())
        if backfill := getattr(document, "backfill", None):  # fields added after documents were stored
            backfill()
        names.append(document._get_collection_name())
    return names
