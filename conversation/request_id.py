"""`X-Request-ID`: one id per request, taken from the client when well-formed, else generated.

It lives in a context variable, so every log line of the request (logs.RequestIdFilter), and
every Celery task the request sends (config/celery.py), carries it without being passed along.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_from(sent: str | bytes | None) -> str:
    """The client's id if it is 1-64 characters of [A-Za-z0-9._-], else a new one (never trusted blindly)."""
    if isinstance(sent, bytes):
        sent = sent.decode("latin1")
    if sent and _VALID.match(sent):
        return sent
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _current.get()


def set_request_id(value: str | None):
    """Sets the id for this context; returns the token to restore the previous one."""
    return _current.set(value)


def reset_request_id(token) -> None:
    _current.reset(token)


class RequestIdASGIMiddleware:
    """Outermost ASGI layer: the id for HTTP and WebSocket scopes, echoed on every HTTP response.

    Running outside Django, it also covers answers no Django middleware sees (an ASGI body limit).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        rid = request_id_from(headers.get(HEADER.lower().encode()))
        token = set_request_id(rid)
        raw = (HEADER.encode(), rid.encode())

        async def send_with_id(message):
            if message["type"] in ("http.response.start", "websocket.accept"):
                present = [name.lower() for name, _ in message.get("headers") or []]
                if raw[0].lower() not in present:
                    message = {**message, "headers": [*(message.get("headers") or []), raw]}
            await send(message)

        try:
            return await self.app({**scope, "request_id": rid}, receive, send_with_id)
        finally:
            reset_request_id(token)
