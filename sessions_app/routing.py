"""WebSocket routes of sessions."""

from django.urls import path

from sessions_app.consumers import SessionConsumer

websocket_urlpatterns = [path("ws/v1/sessions/<str:session_id>/", SessionConsumer.as_asgi())]
