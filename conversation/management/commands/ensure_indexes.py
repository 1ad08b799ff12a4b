"""Creates the MongoDB indexes of every document (idempotent; run on deploy)."""

from django.core.management.base import BaseCommand

from conversation.indexes import ensure_indexes


class Command(BaseCommand):
    help = "Create MongoDB indexes (including the TTL index on matchmaking_request.expiresAt)."

    def handle(self, *args, **options) -> None:
        for name in ensure_indexes():
            self.stdout.write(f"indexes ok: {name}")
