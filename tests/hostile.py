"""Helpers of tests/test_hostile.py: raw HTTP calls with headers, hand-made tokens, socket outcomes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from channels.testing import WebsocketCommunicator

from tests.contract import check_response


def call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict[str, str], Any]:
    """(status, headers with lower-case names, json body) of one HTTP call to a real server."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, received = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, received = error.code, error.read(), error.headers
    parsed = urllib.parse.urlsplit(url)
    check_response(method, parsed.path, status, raw, dict(received.items()), query=parsed.query)
    return status, _lower(received), json.loads(raw or b"null")


def _lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


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
