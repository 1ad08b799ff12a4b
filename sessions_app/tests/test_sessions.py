"""Live sessions over real WebSockets (Channels Redis layer), Redis presence and MongoDB state."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from bson import ObjectId
from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError

from conversation import breaker, redis_keys, restrictions
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from sessions_app.documents import ConversationSession, SessionFeedback, SessionReport, UserBlock
from sessions_app.services import lifecycle, presence, safety
from sessions_app.services.sweeper import sessions_sweep
from tests.helpers import ask, http_heartbeat, matched_session, next_event, open_socket, started_session


def live_keys(session_id: str) -> list[int]:
    return [redis().exists(k) for k in (f"session:active:{session_id}", "user:session:alice", "user:session:bob")]


def test_heartbeats_join_and_start_the_session_over_sockets(api):
    session_id = matched_session(api)
    path = f"/ws/v1/sessions/{session_id}/"

    async def scenario():
        alice = await open_socket(path, "alice")
        state = await next_event(alice, "session.state")
        await alice.send_json_to({"type": "heartbeat"})
        ack = await next_event(alice, "heartbeat.ack")
        bob = await open_socket(path, "bob")
        await bob.send_json_to({"type": "heartbeat"})
        joined = await next_event(alice, "partner.joined")
        started = [await next_event(alice, "session.started"), await next_event(bob, "session.started")]
        await bob.send_json_to({"type": "signal", "payload": {"sdp": "offer-xyz"}})
        relayed = await next_event(alice, "signal")
        await alice.disconnect()
        await bob.disconnect()
        return state, ack, joined, started, relayed

    state, ack, joined, started, relayed = async_to_sync(scenario)()
    assert state["session"]["status"] == "waiting"
    assert ack["serverTime"].endswith("Z")
    assert joined["userId"] == "bob"
    assert started[0]["session"]["status"] == started[1]["session"]["status"] == "active"
    assert relayed == {"type": "signal", "from": "bob", "payload": {"sdp": "offer-xyz"}}
    session = ConversationSession.objects.get(id=session_id)
    assert session.status == "active" and session.started_at is not None
    hash_ = redis().hgetall(f"session:active:{session_id}")
    assert hash_[b"status"] == b"active"
    assert float(hash_[b"lastHeartbeat1"]) > 0 and float(hash_[b"lastHeartbeat2"]) > 0


def test_a_join_before_the_pairing_publishes_presence_survives_the_publication():
    """A participant who read the match from MongoDB first joins before the pairing's `_announce`."""
    session = lifecycle.session_open(
        session_id=ObjectId(), participant1_id="alice", participant2_id="bob", language="fr", level="B1",
        topic_id=None, planned_minutes=10,
    )  # fmt: skip
    session = lifecycle.session_heartbeat(session=session, user_id="bob")  # no hash yet: builds it, joins
    lifecycle.session_publish(session=session)  # the pairing process, a moment later
    lifecycle.session_heartbeat(session=session, user_id="alice")
    assert ConversationSession.objects.get(id=session.id).status == "active"
    hash_ = redis().hgetall(redis_keys.session_active(str(session.id)))
    assert hash_[b"status"] == b"active" and float(hash_[b"lastHeartbeat2"]) > 0


@pytest.fixture
def pushes(monkeypatch) -> list[list[str]]:
    """The event types of each push sent from sync code, a list per call to Redis (they still go out)."""
    layer = get_channel_layer()
    sent: list[list[str]] = []
    send = layer.group_send_many_blocking

    def recorded(sends):
        sent.append([message["event"]["type"] for _, message in sends])
        return send(sends)

    monkeypatch.setattr(layer, "group_send_many_blocking", recorded)
    return sent


def test_the_heartbeat_that_starts_the_session_sends_its_events_in_one_push(api, pushes):
    """The second joiner's `partner.joined` travels with `session.started` (one call to Redis), in that order."""
    session_id = matched_session(api)
    pushes.clear()  # the pairing's own

    async def scenario():
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        assert (await alice.receive_json_from(timeout=5))["type"] == "session.state"
        await sync_to_async(http_heartbeat)(api, "alice", session_id)
        await sync_to_async(http_heartbeat)(api, "bob", session_id)
        seen = [(await alice.receive_json_from(timeout=5)) for _ in range(2)]
        await alice.disconnect()
        return seen

    seen = async_to_sync(scenario)()
    assert pushes == [["partner.joined"], ["partner.joined", "session.started"]]
    assert [(e["type"], e.get("userId")) for e in seen] == [("partner.joined", "bob"), ("session.started", None)]
    assert ConversationSession.objects.get(id=session_id).status == "active"


def test_a_stored_start_is_announced_even_when_redis_fails_to_take_its_timers(
    api, pushes, monkeypatch, frozen_clock, settings
):
    """The start is in MongoDB: `session.started` goes out, the failure answers 503, the sweep sets the timers."""
    session_id = matched_session(api)
    pushes.clear()  # the pairing's own

    def redis_gone(session):
        raise RedisConnectionError("Redis went away")

    with monkeypatch.context() as failing:
        failing.setattr(presence, "presence_mark_active", redis_gone)
        http_heartbeat(api, "alice", session_id)
        try:
            assert http_heartbeat(api, "bob", session_id).status_code == 503
        finally:
            breaker.store_answered("redis")  # the 503 opened the process's breaker: Redis is in fact fine
    assert pushes == [["partner.joined"], ["partner.joined", "session.started"]]
    session = ConversationSession.objects.get(id=session_id)
    assert session.status == "active"
    # The start's timers were not set; the sweep at the join deadline, still there, sets them.

    def deadlines() -> dict[str, float]:
        return {m.decode(): at for m, at in redis().zrange(redis_keys.session_deadlines(), 0, -1, withscores=True)}

    assert f"{session_id}:join" in deadlines() and f"{session_id}:max" not in deadlines()
    settings.SESSION_HEARTBEAT_TIMEOUT_SECONDS = 3600  # both stay live meanwhile
    frozen_clock.advance(seconds=settings.SESSION_JOIN_TIMEOUT_SECONDS + 1)
    assert sessions_sweep().starts_completed == 1
    started = session.started_at.replace(tzinfo=dt.UTC).timestamp()
    assert {k: v for k, v in deadlines().items() if k.startswith(session_id)} == {
        f"{session_id}:max": started + settings.SESSION_MAX_DURATION_SECONDS,
        f"{session_id}:time_up": started + 60 * session.planned_duration_minutes,
    }
    assert redis().hget(redis_keys.session_active(session_id), "status") == b"active"
    assert sessions_sweep().starts_completed == 0


def test_http_heartbeat_fallback_does_the_same(api):
    session_id = matched_session(api)
    first = http_heartbeat(api, "alice", session_id).json()
    assert first["session"]["status"] == "waiting" and first["serverTime"].endswith("Z")
    second = http_heartbeat(api, "bob", session_id).json()
    assert second["session"]["status"] == "active"


def test_end_completes_clears_presence_and_tells_both(api, frozen_clock):
    session_id = started_session(api)
    frozen_clock.advance(seconds=95)

    async def scenario():
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        bob = await open_socket(f"/ws/v1/sessions/{session_id}/", "bob")
        ended = await sync_to_async(api("alice").post)(f"/api/v1/sessions/{session_id}/end/")
        events = [await next_event(alice, "session.ended"), await next_event(bob, "session.ended")]
        closes = [(await socket.receive_output(timeout=3)).get("code") for socket in (alice, bob)]
        await alice.disconnect()
        await bob.disconnect()
        return ended, events, closes

    ended, events, closes = async_to_sync(scenario)()
    assert ended.status_code == 200
    assert closes == [4410, 4410]  # right after `session.ended`
    body = ended.json()
    assert (body["status"], body["endReason"], body["actualDurationSeconds"]) == ("completed", "completed", 95)
    assert all(e["session"]["status"] == "completed" for e in events)
    assert live_keys(session_id) == [0, 0, 0]
    again = api("bob").post(f"/api/v1/sessions/{session_id}/end/")
    assert again.status_code == 409 and again.json()["code"] == "not_active"


def test_an_end_whose_presence_cannot_be_cleared_is_still_told_and_the_sweep_clears_it(
    api, pushes, monkeypatch, frozen_clock, settings
):
    """Ended in MongoDB: 200 and `session.ended` all the same; the sweep that finds its heartbeats clears the rest."""
    session_id = started_session(api)
    pushes.clear()

    def redis_gone(session):
        raise RedisConnectionError("Redis went away")

    with monkeypatch.context() as failing:
        failing.setattr(presence, "presence_close", redis_gone)
        ended = api("alice").post(f"/api/v1/sessions/{session_id}/end/")
    assert ended.status_code == 200 and ended.json()["status"] == "completed"
    assert pushes == [["session.ended"] * 3]  # the session's group and both users'
    assert live_keys(session_id) == [1, 1, 1]  # left behind: alice and bob would be "in session"
    frozen_clock.advance(seconds=settings.SESSION_HEARTBEAT_TIMEOUT_SECONDS + 1)
    sessions_sweep()
    assert live_keys(session_id) == [0, 0, 0]
    assert ask(api, "alice").status_code == 201


def test_clearing_presence_is_one_pipeline_with_no_script_check(api):
    """The session's end clears its presence in one round trip: the conditional deletes travel in the
    pipeline as EVAL (a registered script's call there makes redis-py send SCRIPT EXISTS first, alone)."""
    session_id = started_session(api)
    session = ConversationSession.objects.get(id=session_id)
    redis().set(redis_keys.user_session("bob"), "a-later-session")  # no longer this session's: kept
    with redis().monitor() as monitor:
        presence.presence_close(session)
        redis().echo("end-of-close")
        commands = []
        while (command := monitor.next_command()["command"]) != "ECHO end-of-close":
            commands.append(command)
    # MONITOR shows every client's commands: the script calls naming the participants' pointers are the close's.
    calls = [c.split()[0] for c in commands if c.startswith("EVAL") and redis_keys.user_session("") in c]
    assert not [c for c in commands if c.startswith("SCRIPT EXISTS")]
    assert calls == ["EVAL", "EVAL"]  # one conditional delete per participant
    assert redis().get(redis_keys.user_session("bob")) == b"a-later-session"
    assert live_keys(session_id)[:2] == [0, 0]  # the session's presence and alice's pointer are gone


def test_cancel_only_while_waiting(api):
    session_id = matched_session(api)
    cancelled = api("bob").post(f"/api/v1/sessions/{session_id}/cancel/").json()
    assert cancelled["status"] == "cancelled" and cancelled["endReason"] is None
    assert live_keys(session_id) == [0, 0, 0]
    again = api("bob").post(f"/api/v1/sessions/{session_id}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "not_waiting"
    assert ask(api, "alice").status_code == 201  # free to queue again


def test_silent_partner_is_disconnected_then_reconnects_then_drops(api, frozen_clock, settings):
    session_id = started_session(api)

    async def scenario():
        bob = await open_socket(f"/ws/v1/sessions/{session_id}/", "bob")
        frozen_clock.advance(seconds=settings.SESSION_HEARTBEAT_TIMEOUT_SECONDS - 5)
        await sync_to_async(http_heartbeat)(api, "bob", session_id)  # bob keeps beating, alice is silent
        frozen_clock.advance(seconds=6)
        first = await sync_to_async(sessions_sweep)()
        second = await sync_to_async(sessions_sweep)()
        disconnected = await next_event(bob, "partner.disconnected")
        await sync_to_async(http_heartbeat)(api, "alice", session_id)
        reconnected = await next_event(bob, "partner.reconnected")
        grace = settings.SESSION_HEARTBEAT_TIMEOUT_SECONDS + settings.SESSION_RECONNECT_GRACE_SECONDS
        frozen_clock.advance(seconds=grace)
        await sync_to_async(http_heartbeat)(api, "bob", session_id)
        dropped = await sync_to_async(sessions_sweep)()
        ended = await next_event(bob, "session.ended")
        await bob.disconnect()
        return first, second, disconnected, reconnected, dropped, ended

    first, second, disconnected, reconnected, dropped, ended = async_to_sync(scenario)()
    assert (first.disconnected, second.disconnected) == (1, 0)
    assert disconnected["userId"] == reconnected["userId"] == "alice"
    assert dropped.dropped == 1
    assert ended["session"]["endReason"] == "dropped"
    session = ConversationSession.objects.get(id=session_id)
    assert (session.status, session.end_reason) == ("completed", "dropped")
    assert session.actual_duration_seconds == int((session.ended_at - session.started_at).total_seconds())
    assert live_keys(session_id) == [0, 0, 0]


def test_session_past_the_maximum_ends_with_timeout(api, frozen_clock, settings):
    session_id = started_session(api)
    for _ in range(2):
        frozen_clock.advance(seconds=settings.SESSION_MAX_DURATION_SECONDS / 2 + 1)
        http_heartbeat(api, "alice", session_id)
        http_heartbeat(api, "bob", session_id)
    result = sessions_sweep()
    assert result.timed_out == 1
    session = ConversationSession.objects.get(id=session_id)
    assert (session.status, session.end_reason) == ("completed", "timeout")


def test_time_up_is_announced_once_at_the_planned_duration(api, frozen_clock):
    session_id = started_session(api)

    async def scenario():
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        frozen_clock.advance(minutes=10, seconds=1)
        for user in ("alice", "bob"):
            await sync_to_async(http_heartbeat)(api, user, session_id)
        results = [await sync_to_async(sessions_sweep)() for _ in range(2)]
        event = await next_event(alice, "session.time_up")
        await alice.disconnect()
        return results, event

    results, event = async_to_sync(scenario)()
    assert [r.time_ups for r in results] == [1, 0]
    assert event["sessionId"] == session_id
    assert ConversationSession.objects.get(id=session_id).status == "active"


def test_no_show_cancels_and_puts_who_came_back_at_the_head_of_the_queue(api, frozen_clock, settings):
    safety.users_block(user_id="dave", other_id="carol", session_id=None, now=frozen_clock.value)
    ask(api, "dave")
    frozen_clock.advance(seconds=1)
    ask(api, "carol")  # blocked from dave: both wait, dave first
    session_id = ask(api, "erin").json()["sessionId"]
    session = ConversationSession.objects.get(id=session_id)
    assert (session.participant1_id, session.participant2_id) == ("dave", "erin")

    async def scenario():
        socket = await open_socket("/ws/v1/matchmaking/", "dave")
        await sync_to_async(http_heartbeat)(api, "dave", session_id)  # erin never comes
        frozen_clock.advance(seconds=settings.SESSION_JOIN_TIMEOUT_SECONDS + 1)
        result = await sync_to_async(sessions_sweep)()
        told = await next_event(socket, "request.requeued")
        await socket.disconnect()
        return result, told

    result, told = async_to_sync(scenario)()
    assert result.no_shows == 1
    ended = ConversationSession.objects.get(id=session_id)
    assert (ended.status, ended.end_reason) == ("cancelled", "timeout")
    assert told["request"]["userId"] == "dave" and told["request"]["status"] == "pending"
    head = redis().zrange("matchmaking:fr:B1", 0, 0)[0]
    assert b'"userId":"dave"' in head  # ahead of carol, who was waiting before him
    assert MatchmakingRequest.objects(user_id="erin", status="pending").count() == 0


def test_racing_endings_produce_one_outcome(api):
    session_id = started_session(api)
    session = ConversationSession.objects.get(id=session_id)
    outcomes = []
    barrier = threading.Barrier(4)

    def end(reason):
        barrier.wait()
        outcomes.append(lifecycle.session_end(session=session, status="completed", reason=reason))

    threads = [threading.Thread(target=end, args=(r,)) for r in ("completed", "dropped", "timeout", "reported")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    assert ConversationSession.objects.get(id=session_id).end_reason == winners[0].end_reason


def test_outsiders_are_refused_everywhere(api):
    session_id = matched_session(api)
    for path in ("", "heartbeat/", "end/", "cancel/", "report/", "recording/", "recording/upload-url/"):
        method = api("mallory").get if path in ("", "recording/") else api("mallory").post
        assert method(f"/api/v1/sessions/{session_id}/{path}", {"reason": "x"}, format="json").status_code == 404
    assert api("mallory").put(f"/api/v1/sessions/{session_id}/recording-consent/", {"consent": True},
                              format="json").status_code == 404  # fmt: skip
    assert api("alice").get("/api/v1/sessions/zzz/").status_code == 404

    async def close_code(path: str, user: str) -> tuple[int, int]:
        """The close code, and how many socket slots the user holds once it arrives (the handshake took
        one before it knew the answer: a refused socket gives it back before it closes)."""
        from channels.testing import WebsocketCommunicator

        from config.asgi import application
        from conversation.auth import mint_token

        communicator = WebsocketCommunicator(application, f"{path}?token={mint_token(user)}")
        await communicator.connect()
        output = await communicator.receive_output(timeout=3)
        sent = []
        while output["type"] == "websocket.send":  # 4410 comes after `session.ended`
            sent.append(json.loads(output["text"])["type"])
            output = await communicator.receive_output(timeout=3)
        slots = redis().zcard(redis_keys.user_sockets(user))
        await communicator.disconnect()  # let the consumer finish before this event loop closes
        assert sent in ([], ["session.ended"])
        return output.get("code"), slots

    assert async_to_sync(close_code)(f"/ws/v1/sessions/{session_id}/", "mallory") == (4403, 0)
    assert async_to_sync(close_code)(f"/ws/v1/sessions/{ObjectId()}/", "alice") == (4404, 0)
    api("alice").post(f"/api/v1/sessions/{session_id}/cancel/")
    assert async_to_sync(close_code)(f"/ws/v1/sessions/{session_id}/", "alice") == (4410, 0)


def test_history_and_current(api):
    session_id = matched_session(api)
    assert api("alice").get("/api/v1/sessions/current/").json()["id"] == session_id
    api("alice").post(f"/api/v1/sessions/{session_id}/cancel/")
    assert api("alice").get("/api/v1/sessions/current/").status_code == 404
    second = matched_session(api)
    listing = api("bob").get("/api/v1/sessions/").json()
    assert [s["id"] for s in listing["results"]] == [second, session_id]
    cancelled = api("bob").get("/api/v1/sessions/?status=cancelled").json()
    assert [s["id"] for s in cancelled["results"]] == [session_id]
    assert api("bob").get("/api/v1/sessions/?status=bogus").status_code == 400
    assert api("carol").get("/api/v1/sessions/").json()["count"] == 0


def test_report_ends_the_session_and_blocks_the_pair(api):
    session_id = started_session(api)
    response = api("alice").post(f"/api/v1/sessions/{session_id}/report/", {"reason": "abuse"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["endReason"]) == ("completed", "reported")
    assert SessionReport.objects.get(session_id=session_id).reported_user_id == "bob"
    assert UserBlock.objects(user_id="bob", blocked_user_id="alice").count() == 1
    ask(api, "alice")
    assert ask(api, "bob").json()["status"] == "pending"
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    scheduled = api("alice").post("/api/v1/sessions/", {"participant2Id": "bob", "targetLanguageCode": "fr",
                                                        "scheduledAt": future}, format="json")  # fmt: skip
    assert scheduled.status_code == 400 and "participant2Id" in scheduled.json()["fields"]
    missing = api("alice").post(f"/api/v1/sessions/{session_id}/report/", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["fields"]


def test_a_participant_reports_a_session_once(api):
    """A repeat stores nothing more (409 already_reported): one learner cannot fill the moderation queue."""
    session_id = started_session(api)
    report = f"/api/v1/sessions/{session_id}/report/"
    assert api("alice").post(report, {"reason": "abuse", "details": "x" * 1900}, format="json").status_code == 200
    for _ in range(3):
        again = api("alice").post(report, {"reason": "spam"}, format="json")
        assert again.status_code == 409 and again.json()["code"] == "already_reported"
    assert [(r.reporter_id, r.reason) for r in SessionReport.objects(session_id=session_id)] == [("alice", "abuse")]
    assert api("bob").post(report, {"reason": "abuse"}, format="json").status_code == 200  # the other side's own
    assert SessionReport.objects(session_id=session_id).count() == 2


def test_the_same_report_sent_many_times_at_once_is_stored_once(api):
    session_id = started_session(api)
    report = f"/api/v1/sessions/{session_id}/report/"
    barrier = threading.Barrier(6)

    def send(_n: int) -> tuple[int, str | None]:
        client = api("alice")
        barrier.wait()
        response = client.post(report, {"reason": "abuse"}, format="json")
        return response.status_code, response.json().get("code")

    with ThreadPoolExecutor(6) as pool:
        answers = sorted(pool.map(send, range(6)), key=lambda answer: answer[0])
    assert answers == [(200, None)] + [(409, "already_reported")] * 5
    assert SessionReport.objects(session_id=session_id).count() == 1


def test_a_report_whose_block_failed_is_stored_by_its_retry(api, monkeypatch):
    """The block's Redis flag fails (503): nothing is stored, and the retry blocks, ends and stores it."""
    session_id = started_session(api)
    report = f"/api/v1/sessions/{session_id}/report/"

    def redis_gone(**kwargs):
        raise RedisConnectionError("Redis went away")

    with monkeypatch.context() as failing:
        failing.setattr(restrictions, "blocks_publish", redis_gone)
        try:
            assert api("alice").post(report, {"reason": "abuse"}, format="json").status_code == 503
        finally:
            breaker.store_answered("redis")  # the 503 opened the process's breaker: Redis is in fact fine
    assert SessionReport.objects(session_id=session_id).count() == 0
    assert ConversationSession.objects.get(id=session_id).status == "active"
    assert api("alice").post(report, {"reason": "abuse"}, format="json").status_code == 200
    session = ConversationSession.objects.get(id=session_id)
    assert (session.status, session.end_reason) == ("completed", "reported")
    assert SessionReport.objects(session_id=session_id).count() == 1
    ask(api, "alice")
    assert ask(api, "bob").json()["status"] == "pending"  # the flag is set: never paired again


def test_a_repeated_report_does_not_put_back_a_block_staff_lifted(api):
    session_id = started_session(api)
    report = f"/api/v1/sessions/{session_id}/report/"
    assert api("alice").post(report, {"reason": "abuse"}, format="json").status_code == 200
    UserBlock.objects(session_id=session_id).delete()  # staff lifted it (moderation.services.block_lift)
    again = api("alice").post(report, {"reason": "abuse"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_reported"
    assert UserBlock.objects(session_id=session_id).count() == 0


def test_scheduling_validates_and_opens_a_join_window(api, frozen_clock):
    now = frozen_clock.value
    post = api("alice").post
    assert post("/api/v1/sessions/", {"participant2Id": "alice", "targetLanguageCode": "fr",
                                      "scheduledAt": (now + dt.timedelta(hours=1)).isoformat()},
                format="json").status_code == 400  # fmt: skip
    for when in (now - dt.timedelta(minutes=1), now + dt.timedelta(days=31)):
        bad = post("/api/v1/sessions/", {"participant2Id": "bob", "targetLanguageCode": "fr",
                                         "scheduledAt": when.isoformat()}, format="json")  # fmt: skip
        assert bad.status_code == 400 and "scheduledAt" in bad.json()["fields"]
    at = now + dt.timedelta(hours=2)
    created = post("/api/v1/sessions/", {"participant2Id": "bob", "targetLanguageCode": "fr",
                                         "scheduledAt": at.isoformat(), "plannedDurationMinutes": 15},
                   format="json")  # fmt: skip
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["participant1Id"], body["plannedDurationMinutes"]) == ("waiting", "alice", 15)
    assert api("bob").get("/api/v1/sessions/").json()["results"][0]["id"] == body["id"]
    assert body["invitation"] == "pending"
    unanswered = http_heartbeat(api, "alice", body["id"])
    assert unanswered.status_code == 409 and unanswered.json()["code"] == "not_joinable"
    assert api("bob").post(f"/api/v1/sessions/{body['id']}/accept/").json()["invitation"] == "accepted"
    early = http_heartbeat(api, "alice", body["id"])
    assert early.status_code == 409 and early.json()["code"] == "not_joinable"
    frozen_clock.advance(hours=2, minutes=-4)
    assert http_heartbeat(api, "alice", body["id"]).status_code == 200
    assert http_heartbeat(api, "bob", body["id"]).json()["session"]["status"] == "active"


def test_scheduled_session_nobody_joined_is_cancelled_after_the_window(api, frozen_clock):
    at = frozen_clock.value + dt.timedelta(hours=1)
    body = api("alice").post("/api/v1/sessions/", {"participant2Id": "bob", "targetLanguageCode": "fr",
                                                   "scheduledAt": at.isoformat()}, format="json").json()  # fmt: skip
    assert api("bob").post(f"/api/v1/sessions/{body['id']}/accept/").status_code == 200
    frozen_clock.advance(hours=1, minutes=9)
    assert sessions_sweep().no_shows == 0
    frozen_clock.advance(minutes=2)
    assert sessions_sweep().no_shows == 1
    session = ConversationSession.objects.get(id=body["id"])
    assert (session.status, session.end_reason) == ("cancelled", "timeout")


def test_feedback_after_the_end_once_per_participant(api):
    session_id = started_session(api)
    body = {"partnerRating": 5, "connectionQuality": 4, "topicRating": 3, "talkAgain": True, "levelFeltRight": True}
    early = api("alice").post(f"/api/v1/sessions/{session_id}/feedback/", body, format="json")
    assert early.status_code == 409 and early.json()["code"] == "not_ended"
    api("alice").post(f"/api/v1/sessions/{session_id}/end/")
    assert api("alice").post(f"/api/v1/sessions/{session_id}/feedback/", body, format="json").status_code == 201
    twice = api("alice").post(f"/api/v1/sessions/{session_id}/feedback/", body, format="json")
    assert twice.status_code == 409 and twice.json()["code"] == "feedback_exists"
    assert api("mallory").post(f"/api/v1/sessions/{session_id}/feedback/", body, format="json").status_code == 404
    bad = api("bob").post(f"/api/v1/sessions/{session_id}/feedback/", {**body, "partnerRating": 9}, format="json")
    assert bad.status_code == 400 and "partnerRating" in bad.json()["fields"]


def test_a_cancelled_session_takes_no_feedback_and_says_why(api):
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    api("alice").post(f"/api/v1/sessions/{session_id}/cancel/")
    body = {"partnerRating": 5, "connectionQuality": 4, "topicRating": 3, "talkAgain": True, "levelFeltRight": True}
    refused = api("alice").post(f"/api/v1/sessions/{session_id}/feedback/", body, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "not_ended"
    assert "cancelled" in refused.json()["detail"]
    assert SessionFeedback.objects(session_id=session_id).count() == 0


@pytest.mark.timeout(60)
def test_oversized_socket_frames_are_refused(api):
    session_id = matched_session(api)

    async def scenario():
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        await alice.send_to(text_data="x" * 20_000)
        output = await alice.receive_output(timeout=3)
        while output["type"] != "websocket.close":
            output = await alice.receive_output(timeout=3)
        await alice.disconnect()
        return output["code"]

    assert async_to_sync(scenario)() == 1009
    assert redis_keys.session_active(session_id)


def test_presence_lost_with_redis_is_rebuilt_from_mongodb(api, frozen_clock, settings):
    session_id = started_session(api)
    ask(api, "carol", targetLanguageCode="es")  # waiting in another queue
    doomed = [k for k in redis().scan_iter() if not k.startswith((b"_kombu", b"unacked", b"celery"))]
    redis().delete(*doomed)  # what a Redis restart without persistence leaves

    result = sessions_sweep()
    assert result.rebuilt == 1 and sessions_sweep().rebuilt == 0
    hash_ = redis().hgetall(f"session:active:{session_id}")
    assert hash_[b"status"] == b"active" and hash_[b"participant1Id"] == b"alice"
    assert live_keys(session_id) == [1, 1, 1]
    assert redis().zscore(redis_keys.session_heartbeats(), f"{session_id}:1") == frozen_clock.value.timestamp()
    assert http_heartbeat(api, "alice", session_id).json()["session"]["status"] == "active"

    # Nobody comes back: the rebuilt session is dropped, not left active without heartbeats.
    frozen_clock.advance(seconds=settings.SESSION_HEARTBEAT_TIMEOUT_SECONDS + settings.SESSION_RECONNECT_GRACE_SECONDS)
    http_heartbeat(api, "bob", session_id)
    frozen_clock.advance(seconds=1)
    assert sessions_sweep().dropped == 1
    assert ConversationSession.objects.get(id=session_id).end_reason == "dropped"


def test_heartbeats_of_two_sessions_in_one_loop_turn_each_get_their_own_beat():
    from conversation.redis import async_client
    from sessions_app.redis_scripts import Beat, aheartbeat

    one, two, gone = (str(ObjectId()) for _ in range(3))
    redis().hset(
        redis_keys.session_active(one), mapping={"status": "active", "lastHeartbeat1": 100, "lastHeartbeat2": 200}
    )
    redis().hset(redis_keys.session_active(two), mapping={"status": "waiting"})
    redis().sadd(redis_keys.session_disconnected(), f"{two}:2")

    async def scenario():
        return await asyncio.gather(
            aheartbeat(async_client(), session_id=one, slot=1, now=1000.5),
            aheartbeat(async_client(), session_id=two, slot=2, now=1001.5),
            aheartbeat(async_client(), session_id=gone, slot=1, now=1002.5),
        )

    assert async_to_sync(scenario)() == [
        Beat(status="active", previous=100.0, partner_last=200.0, was_disconnected=False),
        Beat(status="waiting", previous=0.0, partner_last=0.0, was_disconnected=True),
        None,  # no presence: the consumer takes the full path that rebuilds it
    ]
    assert redis().hget(redis_keys.session_active(one), "lastHeartbeat1") == b"1000.5"
    assert redis().hget(redis_keys.session_active(two), "lastHeartbeat2") == b"1001.5"
    assert redis().zmscore(redis_keys.session_heartbeats(), [f"{one}:1", f"{two}:2", f"{gone}:1"]) == [
        1000.5,
        1001.5,
        None,
    ]
    assert not redis().exists(redis_keys.session_active(gone))
    assert redis().smembers(redis_keys.session_disconnected()) == set()
