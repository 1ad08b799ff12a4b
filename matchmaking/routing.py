"""WebSocket routes of matchmaking."""

from django.urls import path

from matchmaking.consumers import MatchmakingConsumer

websocket_urlpatterns = [path("ws/v1/matchmaking/", MatchmakingConsumer.as_asgi())]
