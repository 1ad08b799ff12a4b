"""The service's ASGI app plus an echo socket at /ws/bench/echo/, as a same-server baseline."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from config.asgi import django_asgi_app
from conversation.ws_auth import OriginCheck, TokenAuthMiddleware
from matchmaking.routing import websocket_urlpatterns as matchmaking_ws
from sessions_app.routing import websocket_urlpatterns as sessions_ws


class EchoConsumer(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json({"type": "heartbeat.ack"})


echo = path("ws/bench/echo/", EchoConsumer.as_asgi())
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginCheck(TokenAuthMiddleware(URLRouter([echo, *matchmaking_ws, *sessions_ws]))),
    }
)
