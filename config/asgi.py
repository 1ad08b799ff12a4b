"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from conversation.bodylimit import BodyLimitMiddleware  # noqa: E402
from conversation.consumers import UnknownPathConsumer  # noqa: E402
from conversation.request_id import RequestIdASGIMiddleware  # noqa: E402
from conversation.ws_auth import OriginCheck, TokenAuthMiddleware  # noqa: E402
from matchmaking.routing import websocket_urlpatterns as matchmaking_ws  # noqa: E402
from sessions_app.routing import websocket_urlpatterns as sessions_ws  # noqa: E402

# Unknown socket paths close with 4404 instead of URLRouter raising (a 500 handshake).
websocket_routes = [*matchmaking_ws, *sessions_ws, re_path(r"", UnknownPathConsumer.as_asgi())]

# The request id wraps everything, so even answers from outside Django (a 413) carry X-Request-ID.
application = RequestIdASGIMiddleware(
    ProtocolTypeRouter(
        {
            # Oversized bodies are refused before Django spools them to disk (or authenticates anyone).
            "http": BodyLimitMiddleware(django_asgi_app),
            "websocket": OriginCheck(TokenAuthMiddleware(URLRouter(websocket_routes))),
        }
    )
)
