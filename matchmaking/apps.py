"""Matchmaking app: registers its queue gauges and its answers to no-shows and bookings at start-up."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchmakingConfig(AppConfig):
    name = "matchmaking"
    verbose_name = _("Matchmaking")

    def ready(self) -> None:
        from conversation import metrics
        from matchmaking.handlers import cancel_requests_of_booked, requeue_no_shows
        from matchmaking.selectors import queue_gauges
        from sessions_app.signals import session_booked, session_no_show

        metrics.register_gauges(queue_gauges)
        session_no_show.connect(requeue_no_shows, dispatch_uid="matchmaking-requeue-no-shows")
        session_booked.connect(cancel_requests_of_booked, dispatch_uid="matchmaking-cancel-booked")
