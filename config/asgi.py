"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from conversation.ws_auth import OriginCheck, TokenAuthMiddleware  # noqa: E402
from matchmaking.routing import websocket_urlpatterns as matchmaking_ws  # noqa: E402
from sessions_app.routing import websocket_urlpatterns as sessions_ws  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginCheck(TokenAuthMiddleware(URLRouter([*matchmaking_ws, *sessions_ws]))),
    }
)
