"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from channels.testing import WebsocketCommunicator

from conversation.auth import mint_token


def request_body(**overrides: Any) -> dict[str, Any]:
    body = {"learningProfileId": "lp-1", "targetLanguageCode": "fr", "userLevel": "B1", "preferredDuration": 10}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def ask(api, user_id: str, **overrides: Any):
    return api(user_id).post("/api/v1/matchmaking/requests/", request_body(**overrides), format="json")


def after_the_first_read(monkeypatch, then: Callable[[], object]) -> None:
    """Runs `then` once, as the next matchmaking POST's first round trip has answered (its checks passed):
    a call racing that POST, landing between its checks and its insert."""
    from matchmaking.services import queue

    estimated_wait = queue.estimated_wait

    def hooked(*args, **kwargs):
        monkeypatch.setattr(queue, "estimated_wait", estimated_wait)
        then()
        return estimated_wait(*args, **kwargs)

    monkeypatch.setattr(queue, "estimated_wait", hooked)


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


def post_upload(upload: dict, data: bytes, content_type: str | None = None) -> int:
    """Sends a browser-style multipart POST of `data` with the policy's fields; the S3 server's status."""
    fields = dict(upload["fields"])
    if content_type:
        fields["Content-Type"] = content_type
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="take"\r\n'
        f"Content-Type: {fields['Content-Type']}\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        upload["uploadUrl"], data=b"".join(parts), method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def async_redis_sends(monkeypatch) -> list[bytes]:
    """What this process sends Redis over its asyncio connections from now on, one entry a round trip (a packed
    pipeline is one), leaving out the process's own read of its sockets' messages (BZPOPMIN)."""
    from redis.asyncio.connection import AbstractConnection

    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    async def counted(self, command, check_health=True):
        packed = command if isinstance(command, bytes | str) else b"".join(bytes(part) for part in command)
        if b"BZPOPMIN" not in packed:
            sent.append(packed)
        return await send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def matched_session(api) -> str:
    """alice waits, bob arrives: the id of their session (waiting)."""
    ask(api, "alice")
    return ask(api, "bob").json()["sessionId"]


def http_heartbeat(api, user_id: str, session_id: str):
    return api(user_id).post(f"/api/v1/sessions/{session_id}/heartbeat/")


def started_session(api) -> str:
    """`matched_session`, joined by both (HTTP heartbeats): active."""
    session_id = matched_session(api)
    for user_id in ("alice", "bob"):
        http_heartbeat(api, user_id, session_id)
    return session_id
