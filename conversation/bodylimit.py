"""ASGI middleware that refuses oversized request bodies before Django (or auth) reads a byte of them.

Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check runs only after its ASGI handler has spooled the whole
body to a temporary file, so a hostile 300 MiB upload would be read to disk first.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from conversation.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def body_limit(path: str) -> int:
    """The staff import form takes files; every other endpoint takes small JSON documents."""
    if path.startswith("/admin/"):
        return settings.ADMIN_MAX_REQUEST_BODY_BYTES
    return settings.MAX_REQUEST_BODY_BYTES


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server itself answers a malformed length with 400
    return None


async def payload_too_large(send: Send, limit: int) -> None:
    detail = _("Request body too large: at most %(limit)d bytes.") % {"limit": limit}
    body = json.dumps(error_body("payload_too_large", detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            # The unread body is still on the wire: the connection cannot be reused.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 `payload_too_large` from `Content-Length` alone, or once a chunked body passes the limit.

    A body without a length (chunked) is read here, at most limit + 1 bytes, then replayed to the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""))
        length = _content_length(scope)
        if length is not None:
            # The server stops reading at Content-Length, so a declared length within the limit is a bound.
            if length > limit:
                await payload_too_large(send, limit)
            else:
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await payload_too_large(send, limit)
                return
            if not message.get("more_body"):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # http.disconnect, when the client leaves
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
