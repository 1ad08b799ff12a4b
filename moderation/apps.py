"""Moderation app: tells the kernel how to read the active suspensions (its restrictions mirror's source)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = _("Moderation")

    def ready(self) -> None:
        from conversation import restrictions
        from moderation.selectors import active_suspensions

        restrictions.register_loader(active_suspensions)
