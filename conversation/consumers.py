"""Base WebSocket consumer: authentication, close codes, size limit, event push, store outages.

Nothing is sent after the close frame (the ASGI server would raise), and a store that cannot be
reached at the handshake closes it with 1013 (try again later) instead of an HTTP 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from conversation import breaker, restrictions
from conversation.errors import STORE_ERRORS, error_body, store_name
from conversation.events import CLOSE_TYPE, PUSH_TYPE, access_group
from conversation.socket_limits import (
    RENEW_EVERY_SECONDS,
    TokenBucket,
    socket_claim,
    socket_release,
    socket_renew,
)

log = logging.getLogger(__name__)


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def _finite(number: str) -> float:
    if not math.isfinite(value := float(number)):  # 1e999
        raise ValueError(f"{number} is not a finite number")
    return value


# Frames are JSON as RFC 8259 has it: Python's parser also takes NaN and Infinity, which a relayed `signal`
# would hand the partner as text no JSON parser reads. One decoder, so a frame costs no decoder of its own.
_FRAME_DECODER = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite)
_NOT_JSON = object()  # what a frame that is not JSON decodes to (`null` decodes to None)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_GONE = 4410
CLOSE_TOO_BIG = 1009
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_TOO_MANY_SOCKETS = 4429


def scope_language(scope: dict) -> str:
    """A socket's language from its handshake, as LocaleMiddleware reads a request's: cookie, else Accept-Language."""
    headers = dict(scope.get("headers") or [])
    handshake = HttpRequest()
    handshake.COOKIES = parse_cookie(headers.get(b"cookie", b"").decode("latin1"))
    handshake.META["HTTP_ACCEPT_LANGUAGE"] = headers.get(b"accept-language", b"").decode("latin1")
    return translation.get_language_from_request(handshake)


class EventConsumer(AsyncJsonWebsocketConsumer):
    """Accepts an authenticated socket, then pushes group events as JSON.

    Refusals are sent as a close frame after accepting, so clients see the
    4xxx code instead of a bare handshake failure.
    """

    groups_joined: list[str]
    language: str
    # Message types a client may send, each handled by `on_<type>(content)`; the other `on_*` are lifecycle hooks.
    client_messages: frozenset[str] = frozenset()
    # True where `groups_for` needs nothing `authorize` reads (the user's own groups, a session's from its URL):
    # the socket joins them in its slot claim's round trip, before `authorize`. Otherwise it joins once authorized.
    joins_with_claim = False
    accepted = False
    closed = False

    async def __call__(self, scope, receive, send):
        async def send_until_closed(message) -> None:
            # Every frame passes here, whichever helper sent it: an event racing the close frame is
            # dropped (the ASGI server would raise "Unexpected ASGI message 'websocket.send'").
            if self.closed:
                return
            if message["type"] == "websocket.close":
                self.closed = True
            await send(message)

        # The channel layer's receive loop runs beside the handlers: with Redis down it raises before
        # (or while) `connect` runs, and uvicorn would answer the handshake with an HTTP 500.
        give_back = False
        try:
            await super().__call__(scope, receive, send_until_closed)
        except STORE_ERRORS as exc:
            store = store_name(exc)
            breaker.store_failed(store)
            log.warning("socket closed 1013: %s unreachable (%r)", store, exc)
            await self.close_unavailable()
            # What it took in Redis before another store failed (MongoDB, in `authorize`) is given back below.
            give_back = store != "redis"
        except Exception:
            give_back = True
            raise
        finally:
            # channels calls no `disconnect` when the consumer fails: stop renewing the per-user slot, which
            # would count against the user's socket cap until the token expires, and give it back at once with
            # its group places (unless Redis is what failed: they then run out with the slot's lease and the
            # group).
            if getattr(self, "guard", None) is not None:
                self.guard.cancel()
            if give_back and (getattr(self, "claimed", False) or getattr(self, "groups_joined", None)):
                try:
                    await self.leave()
                except Exception:
                    log.warning("a failed socket's slot could not be given back", exc_info=True)
            # Messages still on their way to this socket would stay buffered in the process for good.
            if (forget := getattr(self.channel_layer, "forget", None)) and getattr(self, "channel_name", None):
                forget(self.channel_name)

    async def close_unavailable(self) -> None:
        if not self.accepted:
            await self.accept()
        await self.close(code=CLOSE_TRY_AGAIN_LATER)

    async def accept(self, subprotocol=None, headers=None) -> None:
        if self.accepted or self.closed:
            return
        self.accepted = True
        await super().accept(subprotocol, headers)

    async def dispatch(self, message) -> None:
        """channels' own dispatch, without its thread hop to close Django's SQL connections first.

        That hop ran before every frame and every push (a fifth of a heartbeat's CPU); sockets never
        touch the SQL database (tokens authenticate, documents are in MongoDB). A handler that ever
        needs it calls it through `channels.db.database_sync_to_async`, which closes them itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message) -> None:
        # channels' own, without the same thread hop (see `dispatch`); its class-level `groups` is unused here.
        self.closed = True
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def send_error(self, code: str, detail) -> None:
        """A socket `error` event: the one error body, with `type`, in the socket's language."""
        with translation.override(getattr(self, "language", None)):
            body = error_body(code, detail)
        await self.send_json({"type": "error", **body})

    async def connect(self) -> None:
        self.groups_joined = []
        self.language = scope_language(self.scope)
        # Every message of this socket is handled in this task, and the threads it starts copy its
        # context: error details (ours and the services') come in the socket's language without an
        # override around each frame.
        translation.activate(self.language)
        self.claimed = self.over_rate = False
        self.guard: asyncio.Task | None = None
        self.frames = TokenBucket(
            rate=settings.WEBSOCKET_MAX_MESSAGES_PER_SECOND, burst_seconds=settings.WEBSOCKET_RATE_BURST_SECONDS
        )
        self.user = self.scope.get("user")
        if breaker.open_store():
            await self.close_unavailable()
            return
        if self.user is None:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        # One round trip: the socket's slot, the suspension mirror's version the check needs, and where
        # `authorize` reads nothing the groups depend on, the groups. A socket refused after it
        # (suspended, not allowed here, over the cap) gives back what it took in one more.
        early = self.socket_groups() if self.joins_with_claim else []
        self.claimed, version = await socket_claim(
            user_id=self.user.id,
            socket_id=self.channel_name,
            also_get=restrictions.version_key(),
            join=self.channel_layer.membership(early, self.channel_name),
        )
        self.groups_joined = early if self.claimed else []
        if await restrictions.ais_suspended(self.user.id, version=version):
            code: int | None = CLOSE_FORBIDDEN
        else:
            code = await self.authorize() or (None if self.claimed else CLOSE_TOO_MANY_SOCKETS)
        if code is not None:
            await self.leave()
            await self.refuse(code)
            return
        if not self.groups_joined:
            groups = self.socket_groups()
            await self.channel_layer.group_add_many(groups, self.channel_name)
            self.groups_joined = groups
        await self.accept()
        self.guard = asyncio.create_task(self.guard_token_and_lease())
        await self.on_open()

    async def guard_token_and_lease(self) -> None:
        """Closes the socket with 4401 when its token expires; meanwhile keeps its per-user slot leased."""
        expires_at = self.user.expires_at or time.time()
        while (remaining := expires_at - time.time()) > 0:
            await asyncio.sleep(min(remaining, RENEW_EVERY_SECONDS))
            if time.time() < expires_at:
                try:
                    await socket_renew(user_id=self.user.id, socket_id=self.channel_name)
                except Exception:  # a Redis blip must not kill the timer that enforces the token's expiry
                    log.warning("socket lease renewal failed", exc_info=True)
        await self.close(code=CLOSE_UNAUTHENTICATED)

    def socket_groups(self) -> list[str]:
        """Every group this socket joins: its own (`groups_for`) and the user's access group."""
        return [*self.groups_for(), access_group(self.user.id)]

    async def leave(self) -> None:
        """Gives the socket's slot back and leaves its groups, in one round trip. Should Redis fail here, a
        slot runs out with its lease, and a group place with its group (what is pushed to it is dropped:
        the channel is forgotten when the socket closes)."""
        claimed, joined = self.claimed, self.groups_joined
        self.claimed, self.groups_joined = False, []
        if claimed or joined:
            await socket_release(
                user_id=self.user.id if claimed else None,
                socket_id=self.channel_name,
                leave=self.channel_layer.membership(joined, self.channel_name),
            )

    async def refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.guard is not None:
            self.guard.cancel()
        await self.leave()

    async def websocket_receive(self, message) -> None:
        if self.over_rate or not self.frames.take():
            if not self.over_rate:  # told once; frames already on the wire behind it are dropped
                self.over_rate = True
                limit = settings.WEBSOCKET_MAX_MESSAGES_PER_SECOND
                detail = _("More than %(limit)d messages a second.") % {"limit": limit}
                await self.send_error("rate_limited", detail)
                await self.close(code=CLOSE_POLICY)
            return
        text = message.get("text")
        # The limit is in bytes: a text frame of multi-byte characters weighs more than its length.
        size = len(text.encode("utf-8", "surrogatepass")) if text is not None else len(message.get("bytes") or b"")
        if size > settings.WEBSOCKET_MAX_MESSAGE_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        await super().websocket_receive(message)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if not text_data:  # binary or empty frames: channels would raise and kill the socket with 1011
            await self.send_error("bad_message", _("Expected a JSON text frame."))
            return
        await super().receive(text_data=text_data, **kwargs)

    async def receive_json(self, content, **kwargs) -> None:
        if content is _NOT_JSON:
            await self.send_error("bad_message", _("Expected a JSON text frame."))
            return
        kind = content.get("type") if isinstance(content, dict) else None
        handler = getattr(self, f"on_{kind}") if isinstance(kind, str) and kind in self.client_messages else None
        if handler is None:
            await self.send_error("bad_message", _("Unknown message type."))
            return
        await handler(content)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return _FRAME_DECODER.decode(text_data)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeper than the parser's stack
            return _NOT_JSON

    async def event_push(self, message) -> None:
        # Closed (staff closed it, or a refused socket whose group places, joined in its claim, took a push
        # meanwhile): nothing more is sent nor handled.
        if self.closed or (message.get("exclude") and message["exclude"] == self.channel_name):
            return
        await self.send_json(message["event"])
        await self.after_push(message["event"])

    async def access_close(self, message) -> None:
        """Staff closed every socket of this user (a suspension): nothing more is sent on this one (the close
        frame sets `closed`)."""
        await self.close(code=message["code"])

    # Hooks for subclasses.
    async def authorize(self) -> int | None:
        return None

    def groups_for(self) -> list[str]:
        return []

    async def on_open(self) -> None:
        return None

    async def after_push(self, event: dict) -> None:
        return None


class UnknownPathConsumer(EventConsumer):
    """Any other socket path: 4404 (URLRouter would raise, and uvicorn answer the handshake with a 500)."""

    async def authorize(self) -> int | None:
        return CLOSE_NOT_FOUND


assert (PUSH_TYPE, CLOSE_TYPE) == ("event.push", "access.close")  # the handler names above derive from them
