"""`/ws/v1/matchmaking/`: pushes match.found, request.expired, request.cancelled to the user."""

from __future__ import annotations

from conversation.consumers import EventConsumer
from conversation.events import user_group


class MatchmakingConsumer(EventConsumer):
    client_messages = frozenset({"ping"})
    joins_with_claim = True

    def groups_for(self) -> list[str]:
        return [user_group(self.user.id)]

    async def on_ping(self, content) -> None:
        await self.send_json({"type": "pong"})
