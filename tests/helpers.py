"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.testing import WebsocketCommunicator

from conversation.auth import mint_token


def request_body(**overrides: Any) -> dict[str, Any]:
    body = {"learningProfileId": "lp-1", "targetLanguageCode": "fr", "userLevel": "B1", "preferredDuration": 10}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def ask(api, user_id: str, **overrides: Any):
    return api(user_id).post("/api/v1/matchmaking/requests/", request_body(**overrides), format="json")


async def open_socket(path: str, user_id: str) -> WebsocketCommunicator:
    from config.asgi import application

    communicator = WebsocketCommunicator(application, f"{path}?token={mint_token(user_id)}")
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def next_event(communicator: WebsocketCommunicator, event_type: str, timeout: float = 5) -> dict:
    """The next event of `event_type`, skipping others."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        assert remaining > 0, f"no {event_type} within {timeout}s"
        event = await communicator.receive_json_from(timeout=remaining)
        if event.get("type") == event_type:
            return event
