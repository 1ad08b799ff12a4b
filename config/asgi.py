"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

GC_YOUNG_THRESHOLD = 5_000  # allocations between passes over the youngest generation (Python's default: 700)

from django.conf import settings  # noqa: E402

from config.http import PooledASGIHandler  # noqa: E402

django_asgi_app = PooledASGIHandler(threads=settings.WEB_THREADS)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import get_resolver, re_path  # noqa: E402

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

# What is loaded by now (Django, the apps, the URL conf and every view: ~135k objects) lives as long as
# the process. Frozen, the collector no longer walks it in each older-generation pass, and a larger
# youngest generation makes the passes rarer: the collector's share of the web process's CPU in the
# pairing bench went from 5.2 % to 1.9 % (docs/PERFORMANCE-LOG.md, "Fifth round").
get_resolver().url_patterns  # noqa: B018 (imports the URL conf and the views now, not on the first request)
gc.freeze()
gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
