"""Suspensions: every effect on the real stores and real sockets, in one process and across two web processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from redis.exceptions import ConnectionError as RedisConnectionError

from config.asgi import application
from conversation import breaker, clock, redis_keys, restrictions
from conversation.auth import mint_token
from conversation.events import access_group, user_group
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from matchmaking.services import requests as mm
from moderation.documents import Suspension
from mongoadmin.documents import AdminAuditEntry
from sessions_app.documents import ConversationSession
from sessions_app.services import scheduling
from tests.helpers import after_the_first_read, ask, next_event, open_socket
from tests.processes import http, web_servers

SUSPENSIONS = "/api/v1/moderation/suspensions/"


def suspend(api, user_id: str = "bob", **extra):
    response = api("mod-1", staff=True).post(
        SUSPENSIONS, {"userId": user_id, "reason": "abuse", **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def suspend_elsewhere(api, user_id: str) -> None:
    """A suspension made by another web process: this process keeps the copy it held (the one that suspends
    drops its own at once)."""
    copy = restrictions._snapshot
    suspend(api, user_id)
    restrictions._snapshot = copy


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 3) -> int:
    """The close code the server sent, skipping events before it."""
    while True:
        message = await communicator.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return message.get("code", 1000)


def test_a_suspended_learner_is_refused_out_of_the_queue_and_their_lobby_socket_closes_4403(api):
    assert ask(api, "bob").json()["status"] == "pending"
    queue = redis_keys.matchmaking_queue("fr", "B1")
    assert redis().zcard(queue) == 1

    async def scenario():
        lobby = await open_socket("/ws/v1/matchmaking/", "bob")
        await asyncio.sleep(0.1)
        await asyncio.get_running_loop().run_in_executor(None, suspend, api)
        cancelled = await next_event(lobby, "request.cancelled")
        code = await closed_with(lobby)
        late = WebsocketCommunicator(application, f"/ws/v1/matchmaking/?token={mint_token('bob')}")
        await late.connect()
        late_code = await closed_with(late)
        # The refused handshake had claimed a slot and joined the user's groups in one call: both given back.
        groups = [get_channel_layer()._group_key(group("bob")) for group in (user_group, access_group)]
        await late.disconnect()
        await lobby.disconnect()
        held = redis().zcard(redis_keys.user_sockets("bob")), [redis().zcard(key) for key in groups]
        return cancelled, code, late_code, held

    cancelled, code, late_code, held = async_to_sync(scenario)()
    assert cancelled["request"]["status"] == "cancelled"
    assert code == 4403 and late_code == 4403
    assert held == (0, [0, 0])
    refused = api("bob").get("/api/v1/sessions/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "suspended"
    assert ask(api, "bob").status_code == 403
    assert MatchmakingRequest.objects.get(user_id="bob").status == "cancelled"
    assert redis().zcard(queue) == 0
    assert api("alice").get("/api/v1/sessions/").status_code == 200  # nobody else is touched


def test_live_sessions_end_reported_the_partner_is_told_and_the_suspended_socket_closes_4403(api):
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    path = f"/ws/v1/sessions/{session_id}/"

    async def scenario():
        alice = await open_socket(path, "alice")
        bob = await open_socket(path, "bob")
        await next_event(alice, "session.state")
        await next_event(bob, "session.state")
        await asyncio.get_running_loop().run_in_executor(None, suspend, api)
        ended = await next_event(alice, "session.ended")
        return ended, await closed_with(alice), await closed_with(bob)

    ended, alice_code, bob_code = async_to_sync(scenario)()
    assert (ended["session"]["status"], ended["session"]["endReason"]) == ("cancelled", "reported")
    assert alice_code == 4410 and bob_code == 4403
    session = ConversationSession.objects.get(id=session_id)
    assert (session.status, session.end_reason) == ("cancelled", "reported")
    assert not any(
        redis().exists(k) for k in (f"session:active:{session_id}", "user:session:alice", "user:session:bob")
    )
    assert api("alice").get("/api/v1/sessions/current/").status_code == 404


def test_an_active_session_completes_reported_and_scheduled_ones_are_cancelled(api, frozen_clock):
    ask(api, "alice")
    live_id = ask(api, "bob").json()["sessionId"]
    for user in ("alice", "bob"):
        api(user).post(f"/api/v1/sessions/{live_id}/heartbeat/")
    later = (frozen_clock.value + dt.timedelta(days=2)).isoformat()
    scheduled = api("carol").post(
        "/api/v1/sessions/", {"participant2Id": "bob", "targetLanguageCode": "fr", "scheduledAt": later}, format="json"
    )
    assert scheduled.status_code == 201
    frozen_clock.advance(seconds=90)

    suspend(api)

    live = ConversationSession.objects.get(id=live_id)
    assert (live.status, live.end_reason, live.actual_duration_seconds) == ("completed", "reported", 90)
    invitation = ConversationSession.objects.get(id=scheduled.json()["id"])
    assert (invitation.status, invitation.end_reason) == ("cancelled", "reported")


def test_lifting_works_at_once_and_until_passing_ends_it_without_any_task(api, frozen_clock):
    suspension = suspend(api)
    assert api("bob").get("/api/v1/sessions/").status_code == 403
    lifted = api("mod-1", staff=True).delete(f"{SUSPENSIONS}{suspension['id']}/")
    assert lifted.status_code == 200 and lifted.json()["liftedBy"] == "token:mod-1"
    assert lifted.json()["active"] is False
    assert api("bob").get("/api/v1/sessions/").status_code == 200
    assert ask(api, "bob").status_code == 201
    again = api("mod-1", staff=True).delete(f"{SUSPENSIONS}{suspension['id']}/")
    assert again.status_code == 409 and again.json()["code"] == "already_lifted"

    until = frozen_clock.value + dt.timedelta(minutes=10)
    suspend(api, "carol", until=until.isoformat())
    assert api("carol").get("/api/v1/sessions/").status_code == 403
    frozen_clock.advance(minutes=9, seconds=59)
    assert api("carol").get("/api/v1/sessions/").status_code == 403
    frozen_clock.advance(seconds=2)
    assert api("carol").get("/api/v1/sessions/").status_code == 200
    listed = api("mod-1", staff=True).get(SUSPENSIONS, {"active": "true"}).json()
    assert listed["count"] == 0
    assert api("mod-1", staff=True).get(SUSPENSIONS, {"userId": "carol"}).json()["count"] == 1


def test_a_suspension_whose_redis_step_failed_takes_effect_on_the_staff_retry(api, monkeypatch):
    """Stored and audited, then Redis fails (503): the retry carries out its effects, then answers 409."""
    assert ask(api, "bob").json()["status"] == "pending"

    def redis_gone(**kwargs):
        raise RedisConnectionError("Redis went away")

    with monkeypatch.context() as failing:
        failing.setattr(restrictions, "restriction_publish", redis_gone)
        try:
            first = api("mod-1", staff=True).post(SUSPENSIONS, {"userId": "bob", "reason": "abuse"}, format="json")
        finally:
            breaker.store_answered("redis")  # the 503 opened the process's breaker: Redis is in fact fine
    assert first.status_code == 503
    assert Suspension.objects(user_id="bob").count() == 1
    assert AdminAuditEntry.objects(action="suspend").count() == 1
    assert MatchmakingRequest.objects.get(user_id="bob").status == "pending"

    retry = api("mod-1", staff=True).post(SUSPENSIONS, {"userId": "bob", "reason": "abuse"}, format="json")
    assert retry.status_code == 409 and retry.json()["code"] == "already_suspended"
    assert Suspension.objects(user_id="bob").count() == 1
    assert AdminAuditEntry.objects(action="suspend").count() == 1
    assert api("bob").get("/api/v1/sessions/").json()["code"] == "suspended"
    assert MatchmakingRequest.objects.get(user_id="bob").status == "cancelled"
    assert redis().zcard(redis_keys.matchmaking_queue("fr", "B1")) == 0


def test_staff_suspending_one_learner_at_once_leave_one_suspension(api):
    """Check then insert under the user's lock: lifting the one suspension lets the user work again."""

    def suspend_once(_index: int) -> int:
        return (
            api("mod-1", staff=True).post(SUSPENSIONS, {"userId": "bob", "reason": "abuse"}, format="json").status_code
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = sorted(pool.map(suspend_once, range(6)))
    assert codes == [201, 409, 409, 409, 409, 409]
    [suspension] = Suspension.objects(user_id="bob")
    assert api("mod-1", staff=True).delete(f"{SUSPENSIONS}{suspension.id}/").status_code == 200
    assert api("bob").get("/api/v1/sessions/").status_code == 200


def test_staff_cannot_suspend_themselves(api):
    refused = api("mod-1", staff=True).post(SUSPENSIONS, {"userId": "mod-1", "reason": "oops"}, format="json")
    assert refused.status_code == 400 and list(refused.json()["fields"]) == ["userId"]
    assert Suspension.objects(user_id="mod-1").count() == 0


def test_a_second_suspension_of_a_suspended_user_is_409(api):
    suspend(api)
    again = api("mod-1", staff=True).post(SUSPENSIONS, {"userId": "bob", "reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_suspended"
    assert Suspension.objects(user_id="bob").count() == 1


# MONITOR sees every client: a pooled connection's handshake, a Celery worker's broker poll (another test's
# worker may still run), and the once-a-second metrics flush (conversation/metrics.py) are not the request's.
BACKGROUND_COMMANDS = (
    "HELLO", "CLIENT", "BRPOP", "BLPOP", "HINCRBY metrics:", "HINCRBYFLOAT metrics:", "EXPIRE metrics:",
    "LPUSH _kombu", "SMEMBERS _kombu", "PUBLISH",
    "PING redis-py-health-check",  # kombu's broker connections check themselves every 25 s
)  # fmt: skip


def _restriction_commands_of_a_request(api) -> list[str]:
    """The Redis commands one authenticated request sends, less the background's."""
    with redis().monitor() as monitor:
        assert api("bob").get("/api/v1/topics/").status_code == 200
        redis().echo("end-of-request")
        commands = []
        while (command := monitor.next_command()["command"]) != "ECHO end-of-request":
            if not command.startswith(BACKGROUND_COMMANDS):
                commands.append(command)
    return commands


def test_a_request_costs_at_most_one_redis_command_and_no_mongodb_read(api, monkeypatch):
    """Authentication trusts the process's copy for AUTH_CHECK_AGE after its version was last confirmed."""
    suspend(api, "carol")
    api("bob").get("/api/v1/sessions/")  # this process's copy is current now
    loads = []
    original = restrictions._loader
    monkeypatch.setattr(restrictions, "_loader", lambda user_id: loads.append(1) or original(user_id))
    monkeypatch.setattr(restrictions, "AUTH_CHECK_AGE", 60.0)
    assert _restriction_commands_of_a_request(api) == []  # confirmed within the age: no command
    monkeypatch.setattr(restrictions, "AUTH_CHECK_AGE", 0.0)
    # Older than the age: suspensions and blocks in one command; the topics list itself reads MongoDB only.
    assert _restriction_commands_of_a_request(api) == ["MGET restrict:version restrict:blocks restrict:blocker:bob"]
    assert loads == []


def test_a_request_that_may_change_state_checks_exactly(api, monkeypatch, settings):
    """A read's authentication trusts a copy up to AUTH_CHECK_AGE old; a learner suspended by another
    process since this one last confirmed its copy is refused 403 by any request that may change state:
    the matchmaking POST in its own first round trip (nothing stored, 403 before its rate limit's 429),
    the others in authentication."""
    settings.MATCHMAKING_RATE_LIMIT_PER_MINUTE = 0  # every matchmaking call is past the limit
    monkeypatch.setattr(restrictions, "AUTH_CHECK_AGE", 60.0)
    assert api("bob").get("/api/v1/sessions/").status_code == 200  # this process's copy: bob is free
    stale = restrictions._snapshot

    def not_told() -> None:
        """This process's copy, as before the suspension, looks just confirmed."""
        stale.checked_at = time.monotonic()
        monkeypatch.setattr(restrictions, "_snapshot", stale)

    restrictions.restriction_publish(user_id="bob", until=restrictions.UNTIL_LIFTED)  # as another process would
    not_told()
    assert api("bob").get("/api/v1/sessions/").status_code == 200  # a read trusts the copy
    refused = ask(api, "bob")
    assert refused.status_code == 403 and refused.json()["code"] == "suspended"
    assert not MatchmakingRequest.objects(user_id="bob")
    not_told()
    scheduled = api("bob").post("/api/v1/sessions/", {}, format="json")
    assert scheduled.status_code == 403 and scheduled.json()["code"] == "suspended"


def test_the_mirror_is_rebuilt_from_mongodb_when_redis_lost_it(api):
    suspend(api)
    redis().delete(redis_keys.restrictions_hash(), redis_keys.restrictions_version())
    assert api("bob").get("/api/v1/sessions/").status_code == 403
    assert redis().hget(redis_keys.restrictions_hash(), "bob") == b"0.0"
    assert api("alice").get("/api/v1/sessions/").status_code == 200


def test_while_another_process_rebuilds_the_mirror_each_check_reads_only_its_own_user(api, monkeypatch):
    """Requests arriving during someone else's rebuild are answered from MongoDB, not with a full read each."""
    suspend(api)
    suspend(api, "carol", until=(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat())
    redis().delete(redis_keys.restrictions_hash())
    redis().set(redis_keys.restrictions_version(), restrictions.REBUILDING + "elsewhere", px=5000)
    reads = []  # whose suspensions each read asked for; None is a read of all of them
    original = restrictions._loader
    monkeypatch.setattr(restrictions, "_loader", lambda user_id: reads.append(user_id) or original(user_id))
    assert api("bob").get("/api/v1/sessions/").status_code == 403
    assert api("carol").get("/api/v1/sessions/").status_code == 403
    assert api("alice").get("/api/v1/sessions/").status_code == 200
    assert reads == ["bob", "carol", "alice"]
    assert redis().get(redis_keys.restrictions_version()) == b"rebuilding:elsewhere"  # the claim holder's work


def test_a_suspended_learner_still_queued_is_never_paired(api):
    """A suspension racing a request (the queue cleaned before the request arrived): pairing skips them."""
    assert ask(api, "bob").json()["status"] == "pending"
    restrictions.restriction_publish(user_id="bob", until=restrictions.UNTIL_LIFTED)  # mirror only: bob stays queued
    assert ask(api, "alice").json()["status"] == "pending"
    assert MatchmakingRequest.objects(status="matched").count() == 0


@pytest.mark.timeout(90)
def test_it_takes_effect_within_a_second_on_every_web_process_and_lifts_as_fast(api):
    bob = mint_token("bob")
    staff = mint_token("mod-1", staff=True)
    with web_servers(2) as (first, second):
        assert http("GET", f"{second}/api/v1/sessions/", bob)[0] == 200

        async def scenario():
            ws_url = second.replace("http", "ws") + f"/ws/v1/matchmaking/?token={bob}"
            async with websockets.connect(ws_url) as socket:
                await socket.send(json.dumps({"type": "ping"}))
                assert json.loads(await socket.recv())["type"] == "pong"
                loop = asyncio.get_running_loop()
                started = time.monotonic()
                status, body = await loop.run_in_executor(
                    None,
                    http,
                    "POST",
                    f"{first}/api/v1/moderation/suspensions/",
                    staff,
                    {"userId": "bob", "reason": "x"},
                )
                assert status == 201
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(socket.recv(), timeout=max(0.05, 1 - (time.monotonic() - started)))
                closed_after = time.monotonic() - started
                # The handshake above confirmed that process's copy just before the POST: it may answer
                # from it for up to AUTH_CHECK_AGE, the worst case.
                refused_after = None
                while refused_after is None and time.monotonic() - started < 1:
                    code, _ = await loop.run_in_executor(None, http, "GET", f"{second}/api/v1/sessions/", bob)
                    refused_after = time.monotonic() - started if code == 403 else None
                return body["id"], refused_after, closed.value.rcvd.code, closed_after

        suspension_id, refused_after, close_code, closed_after = asyncio.run(scenario())
        assert close_code == 4403 and closed_after < 1
        assert refused_after is not None and refused_after < 1
        print(f"socket closed on the other process after {closed_after:.3f}s, refused after {refused_after:.3f}s")
        started = time.monotonic()
        assert http("DELETE", f"{first}/api/v1/moderation/suspensions/{suspension_id}/", staff)[0] == 200
        lifted_after = None  # the other process may answer from its copy for up to AUTH_CHECK_AGE
        while lifted_after is None and time.monotonic() - started < 1:
            code, _ = http("GET", f"{second}/api/v1/sessions/", bob)
            lifted_after = time.monotonic() - started if code == 200 else None
        assert lifted_after is not None and lifted_after < 1
        print(f"lifted on the other process after {lifted_after:.3f}s")


@pytest.mark.parametrize("suspended", ["alice", "bob"])
def test_an_invitation_sent_as_either_user_is_suspended_does_not_survive(api, monkeypatch, suspended):
    """The suspension lands between the invitation's checks and its insert, and ends the user's live sessions
    before it: the invitation, checked again once stored, is taken back."""
    open_count = scheduling.invitations_open_count

    def then_suspended(**kwargs):
        monkeypatch.setattr(scheduling, "invitations_open_count", open_count)
        suspend(api, suspended)
        return open_count(**kwargs)

    monkeypatch.setattr(scheduling, "invitations_open_count", then_suspended)
    later = (clock.now() + dt.timedelta(days=2)).isoformat()
    body = {"participant2Id": "bob", "targetLanguageCode": "fr", "scheduledAt": later}
    refused = api("alice").post("/api/v1/sessions/", body, format="json")
    if suspended == "alice":
        assert refused.status_code == 403 and refused.json()["code"] == "suspended"
    else:
        assert refused.status_code == 400 and "participant2Id" in refused.json()["fields"]
    assert ConversationSession.objects(participant1_id="alice").count() == 0


def test_a_matchmaking_request_stored_as_its_user_is_suspended_is_refused_and_cancelled(api, monkeypatch):
    """The suspension's cancel of the user's requests ran just before, or just after, the request's insert."""
    stored = mm.insert

    def then_suspended(document):
        stored(document)
        suspend(api, "bob")

    monkeypatch.setattr(mm, "insert", then_suspended)
    refused = ask(api, "bob")
    assert refused.status_code == 403 and refused.json()["code"] == "suspended"
    assert MatchmakingRequest.objects.get(user_id="bob").status == "cancelled"
    assert redis().zcard(redis_keys.matchmaking_queue("fr", "B1")) == 0


def test_a_pairing_whose_user_another_process_suspended_meanwhile_is_undone(api, monkeypatch):
    """Suspended by another web process just after this POST's check, its clean-up done before the insert:
    this process's copy still says 'not suspended' when the pairing starts. The suspensions' version, read
    again once the session is stored, has moved: the pairing checks both users exactly and stops."""
    ask(api, "alice")

    after_the_first_read(monkeypatch, lambda: suspend_elsewhere(api, "bob"))
    refused = ask(api, "bob")
    assert refused.status_code == 403 and refused.json()["code"] == "suspended"
    assert ConversationSession.objects.count() == 0
    assert MatchmakingRequest.objects.get(user_id="bob").status == "cancelled"
    assert MatchmakingRequest.objects.get(user_id="alice").status == "pending"
    assert redis().zcard(redis_keys.matchmaking_queue("fr", "B1")) == 1  # alice, at her place


def test_a_pairing_compares_the_version_its_own_check_read_not_the_processs_latest(api, monkeypatch):
    """Suspended by another process after the POST's check; before the pairing's second look, another call in
    this process refreshes the copy to the new version. The pairing still sees that its own check predates it."""
    ask(api, "alice")

    after_the_first_read(monkeypatch, lambda: suspend_elsewhere(api, "bob"))
    checked = restrictions.blocks_checked

    def then_another_call_refreshes_the_copy(user_id, **kwargs):
        monkeypatch.setattr(restrictions, "blocks_checked", checked)
        restrictions.is_suspended("zed")  # an exact check: the process's copy is at the new version now
        return checked(user_id, **kwargs)

    monkeypatch.setattr(restrictions, "blocks_checked", then_another_call_refreshes_the_copy)
    refused = ask(api, "bob")
    assert refused.status_code == 403 and refused.json()["code"] == "suspended"
    assert ConversationSession.objects.count() == 0


def test_a_pairing_checked_without_a_suspensions_version_checks_again(api, monkeypatch):
    """The check ran while the mirror was missing (it answered without a version), and a suspension made then
    writes none either: a version still missing after the insert tells nothing, so both users are checked."""
    ask(api, "alice")

    def suspended_while_the_mirror_was_missing():
        suspend(api, "bob")
        redis().delete(redis_keys.restrictions_version())
        restrictions._snapshot = restrictions._Snapshot(None, {}, time.monotonic())  # answered without a version

    after_the_first_read(monkeypatch, suspended_while_the_mirror_was_missing)
    refused = ask(api, "bob")
    assert refused.status_code == 403 and refused.json()["code"] == "suspended"
    assert ConversationSession.objects.count() == 0


def test_a_suspension_of_someone_else_during_a_pairing_does_not_stop_it(api, monkeypatch):
    """The version moved, so both users are checked exactly: neither is suspended, the pair stands."""
    ask(api, "alice")

    after_the_first_read(monkeypatch, lambda: suspend_elsewhere(api, "zed"))
    assert ask(api, "bob").json()["matchedWithUserId"] == "alice"
