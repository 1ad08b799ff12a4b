"""The channel layer against the real Redis: a socket closing mid-read loses no push meant for another."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import msgpack
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from conversation import events, redis_keys
from conversation.channel_layer import CancelSafeRedisChannelLayer
from conversation.redis import client as redis_client
from conversation.socket_limits import socket_release


def _blocked_reads() -> int:
    return sum(1 for c in redis_client().client_list() if c.get("cmd") == "bzpopmin")


async def _blocked_receive(layer: CancelSafeRedisChannelLayer, channel: str) -> asyncio.Future:
    """`layer.receive(channel)` started, once its process's read blocks in Redis."""
    before = _blocked_reads()
    reader = asyncio.ensure_future(layer.receive(channel))
    deadline = time.monotonic() + 5
    while _blocked_reads() <= before:
        assert time.monotonic() < deadline, "the layer never blocked on its read"
        await asyncio.sleep(0.02)
    return reader


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
        # The closing socket's receive holds the process's one blocking read of both sockets' messages.
        reader = await _blocked_receive(layer, closing)
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


def test_a_lobby_socket_opens_in_one_redis_round_trip_and_closes_in_one(monkeypatch):
    """The handshake's slot claim also reads the suspension version and joins the socket's groups; the
    close gives the slot back and leaves the groups together (two round trips each before)."""
    from tests.helpers import async_redis_sends, open_socket

    layer = get_channel_layer()
    redis = redis_client()
    groups = [layer._group_key(g) for g in (events.user_group("alice"), events.access_group("alice"))]
    sent = async_redis_sends(monkeypatch)

    async def run() -> tuple[int, list, int, list]:
        warm = await open_socket("/ws/v1/matchmaking/", "alice")  # loads the scripts, builds the mirror
        del sent[:]
        socket = await open_socket("/ws/v1/matchmaking/", "alice")
        opened, members = len(sent), [redis.zcard(key) for key in groups]
        await socket.disconnect()
        closed = len(sent) - opened
        await warm.disconnect()
        return opened, members, closed, [redis.zcard(key) for key in groups]

    opened, members, closed, left = async_to_sync(run)()
    assert (opened, closed) == (1, 1)
    assert members == [2, 2]  # both sockets in the user's groups
    assert left == [0, 0]
    assert redis.zcard(redis_keys.user_sockets("alice")) == 0


def _other_process_layer(**overrides) -> CancelSafeRedisChannelLayer:
    return CancelSafeRedisChannelLayer(**(settings.CHANNEL_LAYERS["default"]["CONFIG"] | overrides))


def test_a_socket_joins_its_groups_at_once_and_leaves_them_with_its_slot():
    """`group_add_many` writes what channels-redis' group_add writes; a `membership` names the same keys,
    so the slot release leaves the groups in its own round trip (conversation/socket_limits.py)."""
    layer = get_channel_layer()
    redis = redis_client()
    groups = ["user.a", "access.a"]

    async def scenario() -> tuple[list, list, list]:
        channel = await layer.new_channel()
        await layer.group_add_many(groups, channel)
        joined = [redis.zscore(layer._group_key(g), channel) is not None for g in groups]
        ttls = [redis.ttl(layer._group_key(g)) for g in groups]
        await socket_release(user_id=None, socket_id=channel, leave=layer.membership(groups, channel))
        left = [redis.zscore(layer._group_key(g), channel) for g in groups]
        return joined, ttls, left

    joined, ttls, left = async_to_sync(scenario)()
    assert joined == [True, True]
    assert all(0 < ttl <= layer.group_expiry for ttl in ttls)
    assert left == [None, None]


def test_a_group_send_reaches_each_member_once_in_every_process_and_drops_expired_members():
    layer = get_channel_layer()
    redis = redis_client()
    other = _other_process_layer()

    async def scenario() -> tuple[dict, dict, dict]:
        mine, also_mine = await layer.new_channel(), await layer.new_channel()
        theirs = await other.new_channel()
        await layer.group_add_many(["session.s1"], mine)
        await layer.group_add_many(["session.s1"], also_mine)
        await other.group_add("session.s1", theirs)
        stale = await other.new_channel()  # a member older than the group's expiry: its process died
        redis.zadd(layer._group_key("session.s1"), {stale: time.time() - layer.group_expiry - 10})
        await layer.group_send("session.s1", {"type": "event.push", "n": 7})
        # Each socket reads as a consumer does, from its start (a channel nobody reads is a closed socket's).
        got = await asyncio.wait_for(asyncio.gather(*(layer.receive(c) for c in (mine, also_mine))), 3)
        theirs_got = await asyncio.wait_for(other.receive(theirs), 3)
        return got[0], got[1], theirs_got, stale

    mine, also_mine, theirs, stale = async_to_sync(scenario)()
    assert mine == also_mine == theirs == {"type": "event.push", "n": 7}
    assert redis.zscore(layer._group_key("session.s1"), stale) is None
    # One message per process queue, holding the channels it is for: read, nothing is left in Redis.
    assert [k for k in redis.scan_iter(match=f"{layer.prefix}specific.*") if redis.zcard(k)] == []


def test_a_group_send_skips_a_channel_at_capacity_and_still_reaches_the_others():
    sender = _other_process_layer(capacity=1)  # capacity is the sender's rule
    stuck_process, reader = _other_process_layer(), _other_process_layer()

    async def scenario() -> tuple[list, dict]:
        stuck, free = await stuck_process.new_channel(), await reader.new_channel()
        await sender.group_add_many(["user.b"], stuck)
        await sender.group_add_many(["user.b"], free)
        await sender.send(stuck, {"type": "event.push", "n": 1})  # a socket not reading: its queue is full
        await sender.group_send("user.b", {"type": "event.push", "n": 2})
        key = stuck_process.prefix + stuck_process.non_local_name(stuck)
        queued = [sender.deserialize(m)["n"] for m in redis_client().zrange(key, 0, -1)]
        return queued, await asyncio.wait_for(reader.receive(free), 3)

    queued, received = async_to_sync(scenario)()
    assert queued == [1]
    assert received == {"type": "event.push", "n": 2}


def test_a_read_takes_what_waits_in_one_round_trip_and_leaves_no_backup_behind():
    """channels-redis reads a message in four calls (restore script, BZPOPMIN, backup ZADD, ZPOPMIN); here a
    read is one round trip (a BZPOPMIN and a ZPOPMIN of what else waits), and what it took beyond the first
    message is handed over by the next reads, in order, with no call at all."""
    layer = get_channel_layer()
    redis = redis_client()
    names = ("bzpopmin", "zpopmin", "evalsha", "zadd")

    def calls() -> dict[str, int]:
        stats = redis.info("commandstats")
        return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names}

    async def scenario() -> tuple[list, dict, dict, list]:
        channel = await layer.new_channel()
        for n in range(3):
            await layer.send(channel, {"type": "event.push", "n": n})
        before = calls()
        received = [(await asyncio.wait_for(layer.receive(channel), 3))["n"] for _ in range(3)]
        waiting = calls()
        # And one sent while the read blocks on the empty queue.
        reading = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.1)
        _send_from_another_process(channel, {"type": "event.push", "n": 3})
        received.append((await asyncio.wait_for(reading, 3))["n"])
        after = calls()
        left = [k for k in redis.scan_iter(match=f"{layer.prefix}specific.*") if redis.exists(k)]
        return received, {n: waiting[n] - before[n] for n in names}, {n: after[n] - waiting[n] for n in names}, left

    received, three_waiting, one_sent_later, left = async_to_sync(scenario)()
    assert received == [0, 1, 2, 3]
    # Three messages waiting: one round trip took them all; no script.
    assert three_waiting == {"bzpopmin": 1, "zpopmin": 1, "evalsha": 0, "zadd": 0}
    # The read that blocked: one round trip again; the one ZADD is the other process's send.
    assert one_sent_later == {"bzpopmin": 1, "zpopmin": 1, "evalsha": 0, "zadd": 1}
    assert left == []


def test_a_read_cancelled_mid_flight_gives_back_everything_it_took_in_order():
    """A read that took several messages for another socket, then was cancelled before its reply was read:
    each goes back, and the next reader gets them in the order sent."""
    layer = get_channel_layer()

    async def scenario() -> list:
        closing, waiting = await layer.new_channel(), await layer.new_channel()
        reader = await _blocked_receive(layer, closing)
        # Sent in one call, so that the blocked BZPOPMIN takes the first and its ZPOPMIN the other two.
        other = CancelSafeRedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
        messages = [{"type": "event.push", "n": n} for n in range(3)]

        async def send_three() -> None:
            group = "cancelled-read"
            await other.group_add(group, waiting)
            await other.group_send_many([(group, message) for message in messages])

        sender = threading.Thread(target=asyncio.run, args=(send_three(),))
        sender.start()
        sender.join()
        time.sleep(0.2)  # Redis has popped them for the blocked read; the reply waits unread in this process
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        return [(await asyncio.wait_for(layer.receive(waiting), timeout=3))["n"] for _ in range(3)]

    assert async_to_sync(scenario)() == [0, 1, 2]


def test_a_send_to_several_groups_reaches_each_groups_members_in_the_order_sent():
    layer = get_channel_layer()

    async def scenario() -> tuple[list, list]:
        session_socket, lobby = await layer.new_channel(), await layer.new_channel()
        await layer.group_add_many(["session.s2", "access.u"], session_socket)
        await layer.group_add_many(["user.u", "access.u"], lobby)
        await layer.group_send_many(
            [
                (group, {"type": "event.push", "n": n})
                for n, group in enumerate(["session.s2", "user.u", "access.u", "user.nobody"])
            ]
        )
        reads = await asyncio.wait_for(
            asyncio.gather(*(layer.receive(c) for c in (session_socket, session_socket, lobby, lobby))), 3
        )
        return [r["n"] for r in reads[:2]], [r["n"] for r in reads[2:]]

    session_socket_got, lobby_got = async_to_sync(scenario)()
    assert session_socket_got == [0, 2]  # its session group's push, then the access group's
    assert lobby_got == [1, 2]


def test_a_push_from_a_thread_is_sent_from_that_thread_while_the_event_loop_is_busy():
    """A request's or a socket's sync work pushes without handing the send to the event loop and waiting
    for it there: the push completes, in order, while the loop is held still."""
    layer = get_channel_layer()

    async def scenario() -> list:
        channel = await layer.new_channel()
        await layer.group_add_many(["session.s3", "user.v"], channel)
        loop_held, pushed = threading.Event(), threading.Event()

        def work() -> None:
            loop_held.wait(5)
            events.push("session.s3", "partner.joined", {"userId": "v"})
            events.push_each([("user.v", "session.ended", {"n": 1}), ("session.s3", "session.ended", {"n": 2})])
            pushed.set()

        thread_done = asyncio.ensure_future(sync_to_async(work, thread_sensitive=False)())
        await asyncio.sleep(0.05)  # the task hands `work` to a thread
        loop_held.set()
        held = pushed.wait(5)  # this blocks the event loop: a push that needs it would not finish in time
        await thread_done
        reads = await asyncio.wait_for(asyncio.gather(*(layer.receive(channel) for _ in range(3))), 3)
        return [held, *[(r["event"]["type"], r["event"].get("n")) for r in reads]]

    held, *received = async_to_sync(scenario)()
    assert held
    assert received == [("partner.joined", None), ("session.ended", 1), ("session.ended", 2)]


def _queued(layer: CancelSafeRedisChannelLayer, channel: str) -> list[bytes]:
    return redis_client().zrange(layer.prefix + layer.non_local_name(channel), 0, -1)


def test_a_group_send_in_one_call_writes_the_bytes_channels_redis_writes():
    """The one-call send builds each queue's message in Lua: the same msgpack as channels-redis' own
    serializer, for short and long channel names, a queue with 16 channels and a message of 16 entries."""
    layer = get_channel_layer()
    assert layer._one_call
    process = "specific." + "p" * 40 + "!"  # a long process name: channel names over 31 bytes
    crowded = [f"{process}{n:02d}" for n in range(16)]  # one queue, 16 channels: msgpack's array 16
    alone = "specific.q!only"
    message = {"type": "event.push", **{f"k{n}": n for n in range(15)}}  # 16 entries: msgpack's map 16

    async def scenario() -> None:
        for channel in [*crowded, alone]:
            await layer.group_add_many(["session.bytes"], channel)
        await layer.group_send("session.bytes", message)

    async_to_sync(scenario)()
    (crowded_raw,), (alone_raw,) = _queued(layer, crowded[0]), _queued(layer, alone)
    prefix = layer._serializer.random_prefix_length
    members = redis_client().zrange(layer._group_key("session.bytes"), 0, -1)
    in_group_order = [m.decode() for m in members if m.decode().startswith(process)]
    assert crowded_raw[prefix:] == msgpack.packb({**message, "__asgi_channel__": in_group_order})
    assert alone_raw[prefix:] == msgpack.packb({**message, "__asgi_channel__": [alone]})
    assert layer.deserialize(alone_raw) == {**message, "__asgi_channel__": [alone]}


def test_a_layer_the_one_call_send_cannot_serve_sends_in_two_calls():
    """Encrypted messages (or several hosts, or capacities per channel) are built in Python, as before."""
    sealed = _other_process_layer(symmetric_encryption_keys=["a secret"])
    assert not sealed._one_call

    async def scenario() -> dict:
        channel = await sealed.new_channel()
        await sealed.group_add_many(["user.sealed"], channel)
        await sealed.group_send("user.sealed", {"type": "event.push", "n": 1})
        return await asyncio.wait_for(sealed.receive(channel), 3)

    assert async_to_sync(scenario)() == {"type": "event.push", "n": 1}
    sealed.group_send_many_blocking([("user.sealed", {"type": "event.push", "n": 2})])
    (raw,) = [m for m in redis_client().scan_iter(match=f"{sealed.prefix}specific.*") if not m.endswith(b"$inflight")]
    assert sealed.deserialize(redis_client().zrange(raw, 0, -1)[0])["n"] == 2
