"""Matchmaking app: registers its queue gauges and its answer to no-shows at start-up."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchmakingConfig(AppConfig):
    name = "matchmaking"
    verbose_name = _("Matchmaking")

    def ready(self) -> None:
        from conversation import metrics
        from matchmaking.handlers import requeue_no_shows
        from matchmaking.selectors import queue_gauges
        from sessions_app.signals import session_no_show

        metrics.register_gauges(queue_gauges)
        session_no_show.connect(requeue_no_shows, dispatch_uid="matchmaking-requeue-no-shows")
