"""Base WebSocket consumer: authentication, close codes, size limit, event push."""

from __future__ import annotations

import json
import logging

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from conversation.events import PUSH_TYPE

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_GONE = 4410
CLOSE_TOO_BIG = 1009


class EventConsumer(AsyncJsonWebsocketConsumer):
    """Accepts an authenticated socket, then pushes group events as JSON.

    Refusals are sent as a close frame after accepting, so clients see the
    4xxx code instead of a bare handshake failure.
    """

    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        self.user = self.scope.get("user")
        if self.user is None:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        code = await self.authorize()
        if code is not None:
            await self.refuse(code)
            return
        for group in self.groups_for():
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.accept()
        await self.on_open()

    async def refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.groups_joined:
            await self.on_close()

    async def websocket_receive(self, message) -> None:
        size = len(message.get("text") or message.get("bytes") or b"")
        if size > settings.WEBSOCKET_MAX_MESSAGE_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        await super().websocket_receive(message)

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        handler = getattr(self, f"on_{kind}", None) if isinstance(kind, str) and kind.isidentifier() else None
        if handler is None:
            await self.send_json({"type": "error", "detail": "unknown message type"})
            return
        await handler(content)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError:
            return None

    async def event_push(self, message) -> None:
        if message.get("exclude") and message["exclude"] == self.channel_name:
            return
        await self.send_json(message["event"])
        await self.after_push(message["event"])

    # Hooks for subclasses.
    async def authorize(self) -> int | None:
        return None

    def groups_for(self) -> list[str]:
        return []

    async def on_open(self) -> None:
        return None

    async def on_close(self) -> None:
        return None

    async def after_push(self, event: dict) -> None:
        return None


assert PUSH_TYPE == "event.push"  # the handler name above is derived from it
