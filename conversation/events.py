"""Every event pushed to clients goes through here (Channels groups over Redis).

A user's matchmaking sockets share the group `user.<hash>`, a session's sockets
share `session.<id>`, so a web process pushes to sockets held by any other.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

PUSH_TYPE = "event.push"


def user_group(user_id: str) -> str:
    # Group names allow only [A-Za-z0-9._-]; user ids may hold other characters.
    return "user." + hashlib.sha1(user_id.encode()).hexdigest()


def session_group(session_id: str) -> str:
    return f"session.{session_id}"


def access_group(user_id: str) -> str:
    """Every socket of a user, whatever it is for, so staff can close them all (a suspension)."""
    return "access." + hashlib.sha1(user_id.encode()).hexdigest()


CLOSE_TYPE = "access.close"


def close_user_sockets(user_id: str, *, code: int) -> None:
    """Closes every socket `user_id` holds on any web process with `code` (the handler is EventConsumer's)."""
    _send([(access_group(user_id), {"type": CLOSE_TYPE, "code": code})], "closing the sockets of a user")


def _message(event_type: str, payload: dict[str, Any], exclude: str | None) -> dict[str, Any]:
    return {"type": PUSH_TYPE, "event": {"type": event_type, **payload}, "exclude": exclude}


async def apush(group: str, event_type: str, payload: dict[str, Any], *, exclude: str | None = None) -> None:
    layer = get_channel_layer()
    try:
        await layer.group_send(group, _message(event_type, payload, exclude))
    except Exception:
        log.exception("push %s to %s failed", event_type, group)


def push(group: str, event_type: str, payload: dict[str, Any], *, exclude: str | None = None) -> None:
    """`apush` from sync code (a request, a socket's thread, a Celery task): sent from this thread."""
    _send([(group, _message(event_type, payload, exclude))], f"push {event_type} to {group}")


def push_each(messages: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Several (group, type, payload) pushes in one call to Redis, whatever their number."""
    sends = [(g, _message(t, p, None)) for g, t, p in messages]
    _send(sends, "push " + ", ".join(f"{t} to {g}" for g, t, _ in messages))


def _send(sends: list[tuple[str, dict[str, Any]]], what: str) -> None:
    # From the calling thread over a blocking connection: no hop to the event loop and back
    # (CancelSafeRedisChannelLayer.group_send_many_blocking). Must not run on an event loop's thread.
    try:
        get_channel_layer().group_send_many_blocking(sends)
    except Exception:
        log.exception("%s failed", what)
