"""`/ws/v1/sessions/{id}/`: presence by heartbeat, WebRTC signal relay, session events."""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.utils.translation import gettext_lazy as _

from conversation import clock
from conversation.consumers import CLOSE_FORBIDDEN, CLOSE_GONE, CLOSE_NOT_FOUND, EventConsumer
from conversation.documents import Where, reloaded
from conversation.errors import Conflict
from conversation.events import session_group
from conversation.lookups import parse_object_id
from conversation.redis import async_client
from sessions_app.documents import LIVE_STATUSES, WAITING, ConversationSession
from sessions_app.payloads import session_json
from sessions_app.redis_scripts import aheartbeat
from sessions_app.services import lifecycle


def _load(session_id: str) -> ConversationSession | None:
    oid = parse_object_id(session_id)
    return Where(ConversationSession, id=oid).first() if oid else None


def _load_with_state(session_id: str, user_id: str) -> tuple[ConversationSession | None, dict | None]:
    """The session, and its `session.state` payload when `user_id` is a participant and it is live (waiting or
    active): one thread hop for both."""
    session = _load(session_id)
    live_participant = session is not None and session.slot_of(user_id) is not None and session.status in LIVE_STATUSES
    return session, session_json(session) if live_participant else None


REFUSAL_REREAD_SECONDS = 2.0  # how often a socket whose copy of its session refuses a frame reads it again


class SessionConsumer(EventConsumer):
    session: ConversationSession
    state: dict  # the session as loaded at the handshake, sent as `session.state` once the socket is open
    client_messages = frozenset({"heartbeat", "signal"})
    # The session's group comes from the URL, so the socket joins it in its slot claim, before `authorize`
    # reads the session: what is pushed to the session after that read (the partner's join that starts it,
    # an ending) reaches this socket, after its `session.state`. A socket refused after the claim leaves
    # at once, and sends nothing after its close frame.
    joins_with_claim = True
    reread_after = 0.0  # monotonic time before which a refusing copy of the session is not read again (`_join_refusal`)

    async def authorize(self) -> int | None:
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        session, state = await sync_to_async(_load_with_state, thread_sensitive=False)(session_id, self.user.id)
        if session is None:
            return CLOSE_NOT_FOUND
        slot = session.slot_of(self.user.id)
        if slot is None:
            return CLOSE_FORBIDDEN
        if state is None:
            return CLOSE_GONE
        self.session, self.state = session, state
        self.session_id, self.slot = str(session.id), slot  # read on every heartbeat
        return None

    def groups_for(self) -> list[str]:
        session_id = parse_object_id(self.scope["url_route"]["kwargs"]["session_id"])
        return [session_group(str(session_id))] if session_id else []  # a malformed id joins nothing: 4404

    async def refuse(self, code: int) -> None:
        """4410 always comes after a `session.ended` with the session as MongoDB has it (shared/API.md)."""
        if code == CLOSE_GONE:
            session_id = self.scope["url_route"]["kwargs"]["session_id"]
            session = await sync_to_async(_load, thread_sensitive=False)(session_id)
            if session is not None:
                payload = await sync_to_async(session_json, thread_sensitive=False)(session)
                await self.accept()
                await self.send_json({"type": "session.ended", "session": payload})
        await super().refuse(code)

    async def on_open(self) -> None:
        await self.send_json({"type": "session.state", "session": self.state})

    async def on_heartbeat(self, content) -> None:
        now = clock.now()
        beat = await aheartbeat(async_client(), session_id=self.session_id, slot=self.slot, now=now.timestamp())
        if beat is None and (refusal := await self._join_refusal()):
            # Not open for joining (an invitation not accepted, outside its window): refused as a signal is,
            # from the socket's copy, so that a refused heartbeat cannot buy a MongoDB read each either.
            if self.session.status in LIVE_STATUSES:
                await self.send_error(refusal.code, refusal.detail)
            else:  # ended since: `session.ended`, then 4410, as SessionGone does below
                await self.refuse(CLOSE_GONE)
            return
        try:
            if beat is None:  # presence missing: the full path writes it, rebuilds it or says why not
                # A scheduled session gets its presence at its first join: that is its opening, not a loss.
                opening = self.session.scheduled_at is not None and self.session.status == WAITING
                self.session = await sync_to_async(lifecycle.session_heartbeat, thread_sensitive=False)(
                    session=self.session, user_id=self.user.id, now=now
                )
                await self.resync(announce=not opening)
            elif lifecycle.heartbeat_needs_effects(session=self.session, beat=beat):
                self.session = await sync_to_async(lifecycle.heartbeat_effects, thread_sensitive=False)(
                    session=self.session, user_id=self.user.id, beat=beat, now=now
                )
        except lifecycle.SessionGone:
            # The ending's own `session.ended` may not have reached this socket yet: say it ourselves.
            await self.refuse(CLOSE_GONE)
            return
        except Conflict as exc:
            await self.send_error(exc.code, exc.detail)
            return
        await self.send_json({"type": "heartbeat.ack", "serverTime": clock.isoformat(now)})

    async def resync(self, *, announce: bool = True) -> None:
        """After the full heartbeat path wrote presence (a scheduled session's opening, or a rebuild after Redis
        lost it): rejoin the groups, and with `announce` (a rebuild) send the client the current session."""
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        if announce:
            payload = await sync_to_async(session_json, thread_sensitive=False)(self.session)
            await self.send_json({"type": "session.resync", "session": payload})

    async def on_signal(self, content) -> None:
        payload = content.get("payload")
        if not isinstance(payload, dict):
            await self.send_error("bad_message", _("A signal needs an object payload."))
            return
        if refusal := await self._join_refusal():
            await self.send_error(refusal.code, refusal.detail)  # as a heartbeat would be: nothing relayed
            return
        try:
            await self.channel_layer.group_send(
                session_group(str(self.session.id)),
                {"type": "event.push", "event": {"type": "signal", "from": self.user.id, "payload": payload},
                 "exclude": self.channel_name},
            )  # fmt: skip
        except (OverflowError, UnicodeEncodeError, ValueError):
            # msgpack (the layer's format) refused it, nothing was sent: an integer past 64 bits, an unpaired
            # surrogate, or nesting that reaches the interpreter's recursion limit deeper in the stack than
            # the frame's decoding did (ValueError).
            await self.send_error(
                "bad_message",
                _(
                    "This payload cannot be relayed: it holds an integer beyond 64 bits, an unpaired surrogate "
                    "or nesting too deep."
                ),
            )  # fmt: skip

    async def _join_refusal(self) -> Conflict | None:
        """`lifecycle.join_refusal`, before a signal or a heartbeat with no presence to beat; None at once for an
        instant session (joinable until it ends: its frames cost nothing more). The cached session follows
        `session.started` and `session.ended`, but an acceptance is not pushed to this socket, and a push may
        be lost (Redis lost the group): a copy that refuses is read again, at most every
        REFUSAL_REREAD_SECONDS (a refused frame must not buy a MongoDB read)."""
        if self.session.scheduled_at is None:
            return None
        refusal = lifecycle.join_refusal(self.session, clock.now())
        if refusal is not None and time.monotonic() >= self.reread_after:
            self.reread_after = time.monotonic() + REFUSAL_REREAD_SECONDS
            self.session = await sync_to_async(reloaded, thread_sensitive=False)(self.session)
            refusal = lifecycle.join_refusal(self.session, clock.now())
        return refusal

    async def event_push(self, message) -> None:
        event = message["event"]
        if event.get("type", "").startswith("partner.") and event.get("userId") == self.user.id:
            return  # news about ourselves is for the partner
        if event.get("type") == "signal" and event.get("from") == self.user.id:
            return  # our own signal, seen from another of our sockets
        await super().event_push(message)

    async def after_push(self, event: dict) -> None:
        if event.get("type") in {"session.started", "session.ended"}:
            self.session.status = event["session"]["status"]  # keep the cached state in step
        if event.get("type") == "session.ended":
            await self.close(code=CLOSE_GONE)  # API.md: `session.ended`, then the close with 4410
