"""`/ws/v1/matchmaking/` (the lobby): what happens to the user's request and sessions, pushed to the user.

`match.found`, `request.expired`, `request.cancelled`, `request.requeued` (back in the queue after a
partner's no-show), `session.ended`, `invitation.received`, `invitation.accepted`; it answers `ping`.
"""

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
