"""WebSocket authentication: `?token=<JWT>` and a browser Origin check.

The token is read from the query string once and never logged. Native apps send
no Origin and are accepted on their token; a browser Origin that is not one of
the service's hosts is refused (cross-site WebSocket hijacking).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host

from conversation.auth import InvalidToken, decode_token


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return True
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    host = urlparse(origin).hostname
    if not host:
        return False
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return validate_host(host, allowed)


class OriginCheck:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin")
        if not origin_allowed(origin.decode("latin1") if origin else None):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.app(scope, receive, send)


class TokenAuthMiddleware:
    """Puts the TokenUser (or None) in scope["user"]; consumers close with 4401 on None."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        token = (query.get("token") or [""])[0]
        try:
            user = decode_token(token)
        except InvalidToken:
            user = None
        return await self.app({**scope, "user": user}, receive, send)
