"""Reads of topics: filtered lists and a random active topic served by an index."""

from __future__ import annotations

import random
from typing import Any

from mongoengine.queryset import QuerySet

from conversation.text import fold
from topics.documents import Topic


def topic_list(*, staff: bool, filters: dict[str, Any]) -> QuerySet:
    query = Topic.objects
    for param, field in (("targetLanguageCode", "target_language_code"), ("level", "level"), ("category", "category")):
        if filters.get(param):
            query = query.filter(**{field: filters[param]})
    if staff and filters.get("isActive") is not None:
        query = query.filter(is_active=filters["isActive"])
    elif not staff:
        query = query.filter(is_active=True)
    if search := fold(filters.get("search")):
        query = query.filter(search_text__contains=search)
    return query.order_by("target_language_code", "level", "title", "id")


def topic_random(*, language: str, level: str, category: str | None = None) -> Topic | None:
    """One active topic, chosen uniformly via count + skip on the (language, level, active) index."""
    query = Topic.objects(target_language_code=language, level=level, is_active=True)
    if category:
        query = query.filter(category=category)
    total = query.count()
    if total == 0:
        return None
    return query.skip(random.randrange(total)).first()


def topic_get_active(*, topic_id: str, language: str | None = None) -> Topic | None:
    from conversation.lookups import parse_object_id

    oid = parse_object_id(topic_id)
    if oid is None:
        return None
    query = Topic.objects(id=oid, is_active=True)
    if language:
        query = query.filter(target_language_code=language)
    return query.first()


def topic_get(*, topic_id: str) -> Topic | None:
    from conversation.lookups import parse_object_id

    oid = parse_object_id(topic_id)
    return Topic.objects(id=oid).first() if oid else None


def topic_duplicate(
    *, language: str | None, level: str | None, category: str | None, title: str | None, exclude_id: Any = None
) -> Topic | None:
    """Another topic of the same language, level and category whose title differs only in case or accents."""
    if not (language and level and category and title):
        return None
    query = Topic.objects(target_language_code=language, level=level, category=category, title_key=fold(title))
    if exclude_id is not None:
        query = query.filter(id__ne=exclude_id)
    return query.first()
