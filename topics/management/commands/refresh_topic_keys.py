"""Fills the folded title and search text of topics stored before those fields existed (idempotent)."""

from django.core.management.base import BaseCommand

from topics.services import topics_refresh_keys


class Command(BaseCommand):
    help = "Fill titleKey/searchText of topics that lack them (duplicate checks and accent-insensitive search)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"topics refreshed: {topics_refresh_keys()}")
