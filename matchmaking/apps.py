"""Matchmaking app."""

from django.apps import AppConfig


class MatchmakingConfig(AppConfig):
    name = "matchmaking"

    def ready(self) -> None:
        from conversation import metrics
        from matchmaking.selectors import queue_gauges

        metrics.register_gauges(queue_gauges)
