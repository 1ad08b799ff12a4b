"""How topics are used, as the apps above this one know it (sessions, feedback): a registry they fill.

Topics sits below sessions in the layers, so it cannot read sessions itself; `sessions_app` registers its
reader in `AppConfig.ready()` and the topic admin asks through here, one query per page of topics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict


class TopicUsage(TypedDict):
    sessions_30d: int
    average_rating: float | None
    ratings: int


UsageReader = Callable[[list[str]], dict[str, TopicUsage]]
_readers: list[UsageReader] = []


def register_usage_reader(reader: UsageReader) -> None:
    if reader not in _readers:
        _readers.append(reader)


def topics_usage(topic_ids: list[str]) -> dict[str, TopicUsage]:
    usage: dict[str, TopicUsage] = {}
    for reader in _readers:
        usage.update(reader(topic_ids))
    return usage
