"""Writes of topics (staff curation)."""

from __future__ import annotations

from typing import Any

from topics.documents import Topic


def topic_create(*, data: dict[str, Any]) -> Topic:
    topic = Topic(**data)
    topic.save()
    return topic


def topic_update(*, topic: Topic, data: dict[str, Any]) -> Topic:
    for field, value in data.items():
        setattr(topic, field, value)
    topic.save()
    return topic


def topic_delete(*, topic: Topic) -> None:
    topic.delete()
