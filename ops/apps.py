"""The operations dashboard app (an admin page, no documents of its own)."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"
