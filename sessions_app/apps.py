"""Sessions app: tells the topic admin how topics are used (topics sits below and cannot ask itself)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SessionsConfig(AppConfig):
    name = "sessions_app"
    label = "sessions_app"
    verbose_name = _("Sessions")

    def ready(self) -> None:
        from sessions_app.selectors import topics_usage
        from topics.usage import register_usage_reader

        register_usage_reader(topics_usage)
