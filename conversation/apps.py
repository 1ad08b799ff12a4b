"""Connects MongoDB when Django starts, in every process that loads the apps."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationConfig(AppConfig):
    name = "conversation"
    verbose_name = _("Conversation service")

    def ready(self) -> None:
        from conversation import mongo, schema  # noqa: F401 - registers the OpenAPI extensions

        mongo.connect()
