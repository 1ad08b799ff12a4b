"""Connects MongoDB when Django starts, in every process that loads the apps."""

from django.apps import AppConfig


class ConversationConfig(AppConfig):
    name = "conversation"
    verbose_name = "Conversation service"

    def ready(self) -> None:
        from conversation import mongo, schema  # noqa: F401 - registers the OpenAPI extensions

        mongo.connect()
