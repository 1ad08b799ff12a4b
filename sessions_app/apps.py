"""Sessions app: tells the topic admin how topics are used (topics sits below and cannot ask itself)."""

from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "sessions_app"
    label = "sessions_app"

    def ready(self) -> None:
        from sessions_app.selectors import topics_usage
        from topics.usage import register_usage_reader

        register_usage_reader(topics_usage)
