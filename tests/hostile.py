"""Helpers of tests/test_hostile.py: raw HTTP calls with headers, hand-made tokens, socket outcomes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

from channels.testing import WebsocketCommunicator

from tests.processes import http_call


def call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict[str, str], Any]:
    """(status, headers with lower-case names, json body) of one HTTP call to a real server."""
    return http_call(method, url, token, body)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_signed_with(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token whose HMAC key is `key`, built by hand: PyJWT refuses to HMAC with a PEM public key."""
    plain = {k: int(v.timestamp()) if isinstance(v, dt.datetime) else v for k, v in claims.items()}
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(plain).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def socket_outcome(path: str, token: str | None) -> int | str:
    """The close code of a refused socket, or the type of the first event an accepted one sends.

    The session socket sends `session.state` on its own; a silent one (matchmaking) is pinged for its `pong`.
    """
    from config.asgi import application

    communicator = WebsocketCommunicator(application, path if token is None else f"{path}?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    if await communicator.receive_nothing(timeout=0.05):
        await communicator.send_json_to({"type": "ping"})
    output = await communicator.receive_output(timeout=3)
    # The consumer may sit up to a second in the Redis channel layer's blocking receive before it notices the
    # disconnect; the outcome is known, so it is cancelled after a short wait instead.
    await communicator.disconnect(timeout=0.1)
    if output["type"] == "websocket.close":
        return output["code"]
    return json.loads(output["text"])["type"]


def wait_for_fresh_window(window_seconds: int = 60, margin: float = 10) -> None:
    """Sleeps into the next fixed rate-limit window if the current one ends within `margin` seconds."""
    left = window_seconds - time.time() % window_seconds
    if left < margin:
        time.sleep(left + 0.2)
