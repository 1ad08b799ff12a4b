"""Prints a JWT for a user id, signed with the configured JWT_SECRET (dev and tests)."""

from django.core.management.base import BaseCommand, CommandError

from conversation.auth import USER_ID_RE, mint_token


class Command(BaseCommand):
    help = "Print a signed JWT for USER_ID (HS256 with JWT_SECRET)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user_id")
        parser.add_argument("--staff", action="store_true", help="add roles: [staff]")
        parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")

    def handle(self, *args, user_id: str, staff: bool, ttl: int, **options) -> None:
        if not USER_ID_RE.match(user_id):
            raise CommandError("USER_ID must be 1-128 characters of [A-Za-z0-9_.@-]")
        if ttl <= 0:
            raise CommandError("--ttl must be positive")
        try:
            self.stdout.write(mint_token(user_id, staff=staff, ttl_seconds=ttl))
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
