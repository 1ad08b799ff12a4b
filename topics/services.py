"""Writes of topics (staff curation) and the catalog's quality rules every write path shares."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from topics.documents import Topic
from topics.selectors import topic_duplicate


def topic_problems(*, values: dict[str, Any], topic_id: Any = None) -> dict[str, list[str]]:
    """What keeps `values` (a topic's attributes after the change) out of the catalog, by field.

    Shared by the admin form, the import and the API, so the three refuse the same things.
    """
    problems: dict[str, list[str]] = {}
    if values.get("is_active", True) and not values.get("prompt_questions"):
        problems["prompt_questions"] = [_("An active topic needs at least one prompt question.")]
    duplicate = topic_duplicate(
        language=values.get("target_language_code"), level=values.get("level"),
        category=values.get("category"), title=values.get("title"), exclude_id=topic_id,
    )  # fmt: skip
    if duplicate is not None:
        problems["title"] = [
            _("A topic with this title already exists for this language, level and category: “%(title)s”.")
            % {"title": duplicate.title}
        ]
    return problems


def _check(topic: Topic) -> None:
    values = {name: getattr(topic, name) for name in topic._fields}
    if problems := topic_problems(values=values, topic_id=topic.id):
        raise ValidationError(problems)


def topic_create(*, data: dict[str, Any]) -> Topic:
    topic = Topic(**data)
    _check(topic)
    topic.save()
    return topic


def topic_update(*, topic: Topic, data: dict[str, Any]) -> Topic:
    for field, value in data.items():
        setattr(topic, field, value)
    _check(topic)
    topic.save()
    return topic


def topic_delete(*, topic: Topic) -> None:
    topic.delete()


def topics_refresh_keys() -> int:
    """Fills titleKey/searchText of topics written before they existed (release step; idempotent)."""
    refreshed = 0
    for topic in Topic.objects(search_text=None).no_cache():
        topic.refresh_keys()
        Topic.objects(id=topic.id).update_one(set__title_key=topic.title_key, set__search_text=topic.search_text)
        refreshed += 1
    return refreshed
