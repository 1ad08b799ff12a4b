"""A live session's edges (a fourth probe): a socket opened as the session starts or ends, heartbeats the
session refuses, and presence that must outlive the session."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from pymongo.errors import ServerSelectionTimeoutError

from conversation import breaker, redis_keys
from conversation.events import session_group
from conversation.redis import client as redis
from sessions_app import consumers
from sessions_app.documents import ConversationSession
from sessions_app.services import lifecycle, presence
from tests.helpers import (
    ask,
    async_redis_sends,
    http_heartbeat,
    matched_session,
    next_event,
    open_socket,
    started_session,
)


def _after_the_handshake_read(monkeypatch, then) -> None:
    """`then(session_id)` runs right after a session socket's handshake has read the session."""
    load = consumers._load_with_state

    def load_then(session_id: str, user_id: str):
        loaded = load(session_id, user_id)
        then(session_id)
        return loaded

    monkeypatch.setattr(consumers, "_load_with_state", load_then)


def _bob_joins(session_id: str) -> None:
    lifecycle.session_heartbeat(session=ConversationSession.objects.get(id=session_id), user_id="bob")


async def _frames_until_quiet(socket, quiet: float) -> list[dict]:
    frames = []
    while not await socket.receive_nothing(timeout=quiet):
        frames.append(await socket.receive_output(timeout=5))
    return frames


@pytest.mark.timeout(60)
def test_a_socket_opened_as_the_session_starts_is_told_it_started(api, monkeypatch):
    """The partner's join lands between the socket's read of the session (waiting) and its group join: the
    `session.started` it pushes reaches the socket after its `session.state` (it used to be lost for good)."""
    session_id = matched_session(api)
    assert http_heartbeat(api, "alice", session_id).status_code == 200  # alice joined (another tab, the HTTP fallback)
    _after_the_handshake_read(monkeypatch, _bob_joins)

    async def scenario():
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        state = await next_event(alice, "session.state")
        started = await next_event(alice, "session.started")
        await alice.disconnect()
        return state, started

    state, started = async_to_sync(scenario)()
    assert state["session"]["status"] == "waiting"  # as read, before the join
    assert started["session"]["status"] == "active"
    assert ConversationSession.objects.get(id=session_id).status == "active"


@pytest.mark.timeout(60)
def test_a_socket_opened_as_the_session_ends_is_told_it_ended(api, monkeypatch):
    """The partner ends the session between the socket's read (active) and its group join: the socket gets
    `session.ended`, then the 4410 close (it used to stay open, relaying signals into an ended session)."""
    session_id = started_session(api)
    _after_the_handshake_read(
        monkeypatch, lambda sid: lifecycle.session_finish(session=ConversationSession.objects.get(id=sid))
    )

    async def scenario():
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        state = await next_event(alice, "session.state")
        return state, await _frames_until_quiet(alice, quiet=1.5)

    state, frames = async_to_sync(scenario)()
    assert state["session"]["status"] == "active"
    sent = [f for f in frames if f["type"] == "websocket.send"]
    assert [f["type"] for f in frames if f["type"] != "websocket.send"] == ["websocket.close"]
    assert frames[-1] == {"type": "websocket.close", "code": 4410}
    assert any('"session.ended"' in f["text"] for f in sent)


@pytest.mark.timeout(60)
def test_a_refused_socket_hears_nothing_of_the_session_it_joined_in_its_claim(api, monkeypatch):
    """An outsider's socket is in the session's group from its claim until its refusal: what is pushed to the
    session meanwhile is not sent to it nor handled as if it were open (it raised, the session never read),
    and it leaves the group."""
    session_id = matched_session(api)
    http_heartbeat(api, "alice", session_id)
    _after_the_handshake_read(monkeypatch, _bob_joins)

    async def scenario():
        mallory = await open_socket(f"/ws/v1/sessions/{session_id}/", "mallory")
        frames = await _frames_until_quiet(mallory, quiet=1.0)
        await mallory.disconnect()  # raises what the consumer raised meanwhile
        return frames

    frames = async_to_sync(scenario)()
    assert frames == [{"type": "websocket.close", "code": 4403}]
    assert ConversationSession.objects.get(id=session_id).status == "active"  # the push went out meanwhile
    assert redis().zcard(get_channel_layer()._group_key(session_group(session_id))) == 0  # it left the group


@pytest.mark.timeout(60)
def test_refused_heartbeats_on_a_pending_invitation_do_not_buy_a_mongodb_read_each(api, monkeypatch):
    """Anyone may invite anyone and open a socket to that invitation: its heartbeats are refused
    `not_joinable` from the socket's copy, read again at most every REFUSAL_REREAD_SECONDS, as its
    signals are (each used to cost a thread hop and a MongoDB read)."""
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    body = {"participant2Id": "victim", "targetLanguageCode": "fr", "scheduledAt": at.isoformat()}
    created = api("mallory").post("/api/v1/sessions/", body, format="json")
    assert created.status_code == 201, created.json()
    reads = []
    for module in (lifecycle, consumers):
        original = module.reloaded
        monkeypatch.setattr(module, "reloaded", lambda session, original=original: reads.append(1) or original(session))

    async def scenario():
        socket = await open_socket(f"/ws/v1/sessions/{created.json()['id']}/", "mallory")
        await next_event(socket, "session.state")
        codes = []
        for _ in range(40):  # within the socket's burst: no rate limit applies
            await socket.send_json_to({"type": "heartbeat"})
            codes.append((await next_event(socket, "error"))["code"])
        await socket.disconnect()
        return codes

    started = time.monotonic()
    codes = async_to_sync(scenario)()
    elapsed = time.monotonic() - started
    assert set(codes) == {"not_joinable"}
    assert len(reads) <= 1 + elapsed / consumers.REFUSAL_REREAD_SECONDS, f"{len(reads)} reads in {elapsed:.1f} s"


def test_a_started_sessions_presence_outlives_its_maximum(api, settings):
    """Presence opens with the seed's 1800 s TTL (at the match, or a scheduled session's first join, up to 15
    minutes before its start); the start gives it the session's maximum from then, plus the sweep's minute.
    It used to run out while the session was active, and the matchmaking POST then paired the user again."""
    session_id = matched_session(api)
    keys = (redis_keys.session_active(session_id), redis_keys.user_session("alice"), redis_keys.user_session("bob"))
    assert all(1790 <= redis().ttl(key) <= 1800 for key in keys)
    assert http_heartbeat(api, "alice", session_id).status_code == 200
    for key in keys:
        redis().expire(key, 2)  # what is left when a session opened long before it starts
    assert http_heartbeat(api, "bob", session_id).json()["session"]["status"] == "active"
    expected = settings.SESSION_MAX_DURATION_SECONDS + presence.LIVE_SLACK_SECONDS
    assert all(expected - 10 <= redis().ttl(key) <= expected for key in keys)
    time.sleep(2.5)
    again = ask(api, "alice")
    assert (again.status_code, again.json()["code"]) == (409, "in_session")


@pytest.mark.timeout(60)
def test_a_socket_whose_handshake_finds_mongodb_gone_gives_back_its_slot_and_group(api, monkeypatch):
    """The claim joined the session's group and took a slot; `authorize` then finds MongoDB unreachable: the
    socket closes 1013 and gives both back (the group place stayed for the layer's group expiry)."""
    session_id = matched_session(api)

    def mongodb_gone(session_id: str, user_id: str):
        raise ServerSelectionTimeoutError("mongodb gone")

    monkeypatch.setattr(consumers, "_load_with_state", mongodb_gone)

    async def scenario():
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        return await _frames_until_quiet(alice, quiet=1.0)

    try:
        frames = async_to_sync(scenario)()
    finally:
        breaker.store_answered("mongodb")  # the 1013 opened the process's breaker
    assert frames[-1] == {"type": "websocket.close", "code": 1013}
    assert redis().zcard(get_channel_layer()._group_key(session_group(session_id))) == 0
    assert redis().zcard(redis_keys.user_sockets("alice")) == 0


def test_an_active_sessions_presence_rebuilt_after_a_redis_loss_outlives_its_maximum(api):
    session_id = started_session(api)
    keys = (redis_keys.session_active(session_id), redis_keys.user_session("alice"), redis_keys.user_session("bob"))
    redis().delete(*keys)  # Redis lost them
    presence.presence_restore(ConversationSession.objects.get(id=session_id), dt.datetime.now(dt.UTC))
    assert all(redis().ttl(key) > redis_keys.SESSION_ACTIVE_TTL_SECONDS for key in keys)  # live_ttl, not 1800


def _started_unannounced(session_id: str, at: dt.datetime) -> None:
    """The session started while its push to a socket was lost, and Redis then lost its presence."""
    ConversationSession.objects(id=session_id).update_one(set__status="active", set__started_at=at)
    redis().delete(
        redis_keys.session_active(session_id), redis_keys.user_session("alice"), redis_keys.user_session("bob")
    )


@pytest.mark.timeout(60)
def test_a_socket_whose_copy_missed_the_start_reads_it_again_before_refusing_a_heartbeat(api, frozen_clock):
    """Its copy says waiting, and past the join window would refuse every heartbeat for good (a copy is read
    again on any refusal, not only a pending invitation's): the heartbeat rebuilds presence and is answered."""
    at = frozen_clock.value + dt.timedelta(hours=1)
    body = {"participant2Id": "bob", "targetLanguageCode": "fr", "scheduledAt": at.isoformat()}
    session_id = api("alice").post("/api/v1/sessions/", body, format="json").json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    frozen_clock.advance(hours=1)  # its time: the join window is open

    async def scenario() -> list[str]:
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        assert (await next_event(alice, "session.state"))["session"]["status"] == "waiting"
        await sync_to_async(_started_unannounced)(session_id, at)
        frozen_clock.advance(minutes=11)  # past the join window
        await alice.send_json_to({"type": "heartbeat"})
        answers = [(await alice.receive_json_from(timeout=5))["type"]]
        while answers[-1] not in ("heartbeat.ack", "error"):
            answers.append((await alice.receive_json_from(timeout=5))["type"])
        await alice.disconnect()
        return answers

    assert async_to_sync(scenario)() == ["session.resync", "heartbeat.ack"]
    assert redis().exists(redis_keys.session_active(session_id))


def test_a_session_socket_opens_in_one_redis_round_trip(api, monkeypatch):
    """Its slot claim reads the suspension version and joins its groups, the session's among them (it joined
    that one in a round trip of its own, once the session was read)."""
    session_id = matched_session(api)
    sent = async_redis_sends(monkeypatch)

    async def scenario() -> int:
        warm = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")  # loads the scripts, the mirror
        await next_event(warm, "session.state")
        del sent[:]
        socket = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        await next_event(socket, "session.state")
        opened = len(sent)
        for each in (socket, warm):
            await each.disconnect()
        return opened

    assert async_to_sync(scenario)() == 1
    assert redis().zcard(get_channel_layer()._group_key(session_group(session_id))) == 0
