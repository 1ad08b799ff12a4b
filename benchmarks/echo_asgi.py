"""The service's ASGI app plus two echo sockets as same-server baselines for the heartbeat.

/ws/bench/echo/ is a stock channels JSON consumer (the issue's baseline): it still pays channels'
thread hop before each message, which `EventConsumer` skips. /ws/bench/echo-direct/ skips it too,
so it differs from a heartbeat only by the heartbeat's own work (the stricter baseline).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from config.asgi import django_asgi_app
from conversation.consumers import EventConsumer
from conversation.ws_auth import OriginCheck, TokenAuthMiddleware
from matchmaking.routing import websocket_urlpatterns as matchmaking_ws
from sessions_app.routing import websocket_urlpatterns as sessions_ws


class EchoConsumer(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json({"type": "heartbeat.ack"})


class DirectEchoConsumer(EchoConsumer):
    dispatch = EventConsumer.dispatch  # without channels' per-message close_old_connections thread hop


echo = path("ws/bench/echo/", EchoConsumer.as_asgi())
echo_direct = path("ws/bench/echo-direct/", DirectEchoConsumer.as_asgi())
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginCheck(TokenAuthMiddleware(URLRouter([echo, echo_direct, *matchmaking_ws, *sessions_ws]))),
    }
)
