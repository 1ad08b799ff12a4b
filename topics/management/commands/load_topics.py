"""Loads the starter topic catalog (idempotent; staff edits kept unless --force)."""

from django.core.management.base import BaseCommand

from topics.catalog import catalog_load


class Command(BaseCommand):
    help = "Load topics/catalog/topics.json into MongoDB."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="overwrite staff edits of catalog topics")

    def handle(self, *args, force: bool, **options) -> None:
        counts = catalog_load(force=force)
        self.stdout.write(", ".join(f"{name}: {value}" for name, value in counts.items()))
