"""The channel layer against the real Redis: a socket closing mid-read loses no push meant for another."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from conversation.channel_layer import CancelSafeRedisChannelLayer
from conversation.redis import client as redis_client


def _blocked_reads() -> int:
    return sum(1 for c in redis_client().client_list() if c.get("cmd") == "bzpopmin")


def _send_from_another_process(channel: str, message: dict) -> None:
    """Sends as another web process would, while this process's event loop is held still."""
    other = CancelSafeRedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    sender = threading.Thread(target=asyncio.run, args=(other.send(channel, message),))
    sender.start()
    sender.join()


def test_a_socket_closing_while_its_read_pops_another_sockets_push_does_not_lose_it():
    layer = get_channel_layer()
    assert isinstance(layer, CancelSafeRedisChannelLayer)

    async def scenario() -> dict:
        closing, waiting = await layer.new_channel(), await layer.new_channel()
        before = _blocked_reads()
        # The closing socket's receive holds the process's one blocking read of both sockets' messages.
        reader = asyncio.ensure_future(layer.receive(closing))
        deadline = time.monotonic() + 5
        while _blocked_reads() <= before:
            assert time.monotonic() < deadline, "the layer never blocked on its read"
            await asyncio.sleep(0.02)
        _send_from_another_process(waiting, {"type": "event.push", "event": {"type": "session.started"}})
        time.sleep(0.2)  # Redis has popped it for the blocked read; the reply waits unread in this process
        reader.cancel()  # the socket closes before its loop reads that reply
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        return await asyncio.wait_for(layer.receive(waiting), timeout=3)

    assert async_to_sync(scenario)() == {"type": "event.push", "event": {"type": "session.started"}}


def test_a_message_read_for_a_closed_channel_is_not_kept_in_the_process():
    """channels-redis buffered it for good: each closed socket that still had a push on its way leaked it."""
    layer = get_channel_layer()

    async def scenario() -> tuple[dict, bool]:
        gone, alive = await layer.new_channel(), await layer.new_channel()
        reading = asyncio.ensure_future(layer.receive(gone))  # the socket's receive loop, then it closes
        await asyncio.sleep(0.05)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        layer.forget(gone)
        await layer.send(gone, {"type": "event.push", "n": 1})  # a push already on its way
        await layer.send(alive, {"type": "event.push", "n": 2})
        received = await asyncio.wait_for(layer.receive(alive), 5)  # the process's read takes both
        return received, gone in layer.receive_buffer

    received, kept = async_to_sync(scenario)()
    assert received["n"] == 2
    assert not kept


def test_a_socket_that_closes_leaves_its_channel_forgotten():
    from tests.helpers import open_socket

    layer = get_channel_layer()

    async def run() -> tuple[int, int]:
        before = len(layer._live)
        socket = await open_socket("/ws/v1/matchmaking/", "alice")
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
        during = len(layer._live)
        await socket.disconnect()
        return during - before, len(layer._live) - before

    during, after = async_to_sync(run)()
    assert (during, after) == (1, 0)
