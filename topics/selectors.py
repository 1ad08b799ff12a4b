"""Reads of topics: filtered lists, a random active topic, and the matcher's in-process cache."""

from __future__ import annotations

import random
from typing import Any

from mongoengine import signals
from mongoengine.queryset import QuerySet

from conversation.text import fold
from conversation.timed_cache import TimedCache
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


# The matcher picks a topic for every pair, and every session payload (the socket's `session.state`,
# `session.started`, `session.ended`, the REST answers) names its topic; the catalog changes a few times
# a day. Each process keeps the active topics of a (language, level) and single topics by id for a few
# seconds, and forgets them at once when this process saves or deletes a topic. Another process's edit
# shows within the TTL.
TOPIC_CACHE_SECONDS = 10.0
_TOPIC_CACHE_MAX = 4096  # ids come from callers: keep the cache bounded
_by_queue: TimedCache[tuple[str, str], tuple[Topic, ...]] = TimedCache(
    seconds=TOPIC_CACHE_SECONDS, max_entries=_TOPIC_CACHE_MAX
)
_by_id: TimedCache[str, Topic | None] = TimedCache(seconds=TOPIC_CACHE_SECONDS, max_entries=_TOPIC_CACHE_MAX)


def topic_cache_clear(*_args, **_kwargs) -> None:
    _by_queue.clear()
    _by_id.clear()


signals.post_save.connect(topic_cache_clear, sender=Topic)
signals.post_delete.connect(topic_cache_clear, sender=Topic)


def topic_random_cached(*, language: str, level: str) -> Topic | None:
    """A uniformly random active topic of the language and level, from the in-process cache."""
    topics = _by_queue.get(
        (language, level), lambda: tuple(Topic.objects(target_language_code=language, level=level, is_active=True))
    )
    return random.choice(topics) if topics else None


def topic_cached(*, topic_id: str) -> Topic | None:
    """The topic, active or not, from the in-process cache (a session's payload names its topic)."""
    return _by_id.get(topic_id, lambda: topic_get(topic_id=topic_id))


def topic_active_cached(*, topic_id: str) -> Topic | None:
    """The topic if it exists and is active, from the in-process cache."""
    topic = topic_cached(topic_id=topic_id)
    return topic if topic is not None and topic.is_active else None


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
