"""Matchmaking over the real Redis, MongoDB-wire server and Channels Redis layer."""

from __future__ import annotations

import datetime as dt
import json

from asgiref.sync import async_to_sync
from bson import ObjectId
from rest_framework.settings import api_settings

from conversation import clock, idempotency, redis_keys, restrictions
from conversation.redis import client as redis
from matchmaking import serializers, views
from matchmaking.documents import MatchmakingRequest
from matchmaking.services import closing, pairing, queue
from matchmaking.services import requests as mm
from matchmaking.views import RequestCreateView
from sessions_app.documents import ConversationSession, UserBlock
from sessions_app.services import lifecycle
from tests.helpers import ask, next_event, open_socket, request_body
from topics.catalog import catalog_load
from topics.documents import Topic

QUEUE = "matchmaking:fr:B1"


def test_first_request_waits_in_the_seeds_queue_shape(api):
    response = ask(api, "alice", preferredTopicId=None)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["userId"] == "alice"
    assert body["expiresAt"].endswith("Z")
    members = redis().zrange(QUEUE, 0, -1, withscores=True)
    assert len(members) == 1
    member, score = members[0]
    assert json.loads(member) == {
        "userId": "alice", "learningProfileId": "lp-1", "preferredTopicId": None, "preferredDuration": 10,
    }  # fmt: skip
    stored = MatchmakingRequest.objects.get(id=body["id"])
    assert abs(score - stored.created_at.timestamp()) < 0.01
    assert 0 < redis().ttl(QUEUE) <= 120
    raw = MatchmakingRequest._get_collection().find_one({"_id": ObjectId(body["id"])})
    assert (raw["expiresAt"] - raw["createdAt"]).total_seconds() == 120
    assert {"userId", "learningProfileId", "targetLanguageCode", "userLevel", "preferredDuration", "status",
            "createdAt", "expiresAt"} <= set(raw)  # fmt: skip


def test_two_learners_are_paired_and_both_notified(api):
    catalog_load()

    async def scenario():
        alice_ws = await open_socket("/ws/v1/matchmaking/", "alice")
        bob_ws = await open_socket("/ws/v1/matchmaking/", "bob")
        from asgiref.sync import sync_to_async

        first = await sync_to_async(ask)(api, "alice", preferredDuration=15)
        second = await sync_to_async(ask)(api, "bob", preferredDuration=10)
        alice_event = await next_event(alice_ws, "match.found")
        bob_event = await next_event(bob_ws, "match.found")
        await alice_ws.disconnect()
        await bob_ws.disconnect()
        return first.json(), second.json(), alice_event, bob_event

    first, second, alice_event, bob_event = async_to_sync(scenario)()
    assert first["status"] == "pending"
    assert second["status"] == "matched" and second["matchedWithUserId"] == "alice"
    session_id = second["sessionId"]
    assert alice_event["session"]["id"] == session_id == bob_event["session"]["id"]
    assert alice_event["request"]["userId"] == "alice" and alice_event["request"]["matchedWithUserId"] == "bob"

    session = ConversationSession.objects.get(id=session_id)
    assert session.status == "waiting" and session.planned_duration_minutes == 10
    assert {session.participant1_id, session.participant2_id} == {"alice", "bob"}
    assert session.recording_consent.participant1 is False and session.recording_consent.participant2 is False
    topic = Topic.objects.get(id=session.topic_id)
    assert (topic.target_language_code, topic.level, topic.is_active) == ("fr", "B1", True)
    assert alice_event["session"]["topic"]["promptQuestions"]

    hash_ = {k.decode(): v.decode() for k, v in redis().hgetall(f"session:active:{session_id}").items()}
    assert hash_ == {"participant1Id": "alice", "participant2Id": "bob", "status": "waiting",
                     "lastHeartbeat1": "0", "lastHeartbeat2": "0"}  # fmt: skip
    assert 1790 < redis().ttl(f"session:active:{session_id}") <= 1800
    for user in ("alice", "bob"):
        assert redis().get(f"user:session:{user}").decode() == session_id
        assert 1790 < redis().ttl(f"user:session:{user}") <= 1800
        assert MatchmakingRequest.objects.get(user_id=user).status == "matched"
    assert redis().zcard(QUEUE) == 0


def test_a_second_pending_request_is_refused(api):
    assert ask(api, "alice").status_code == 201
    response = ask(api, "alice")
    assert response.status_code == 409 and response.json()["code"] == "request_pending"
    assert MatchmakingRequest.objects(user_id="alice").count() == 1


def test_a_user_in_a_session_cannot_queue(api):
    ask(api, "alice")
    ask(api, "bob")
    response = ask(api, "alice")
    assert response.status_code == 409 and response.json()["code"] == "in_session"


def test_bad_input_gets_field_errors(api):
    response = ask(api, "alice", targetLanguageCode="xx", userLevel="D1", preferredDuration=7)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["fields"]) == {"targetLanguageCode", "userLevel", "preferredDuration"}
    response = ask(api, "alice", preferredTopicId="not-an-id")
    assert response.status_code == 400 and "preferredTopicId" in response.json()["fields"]
    response = ask(api, "alice", surprise=1)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "surprise: Unknown field.",
        "code": "invalid",
        "fields": {"surprise": ["Unknown field."]},
    }
    assert MatchmakingRequest.objects.count() == 0


def _block(a: str, b: str) -> None:
    for x, y in ((a, b), (b, a)):
        UserBlock(user_id=x, blocked_user_id=y, created_at=_now()).save()


def test_same_topic_then_duration_then_longest_waiting_is_preferred(api):
    catalog_load()
    topic = Topic.objects(target_language_code="fr", level="B1").first()
    waiters = ("w-old", "w-duration", "w-topic")
    for i, a in enumerate(waiters):  # waiters who may not pair with each other, so all three wait
        for b in waiters[i + 1 :]:
            _block(a, b)
    ask(api, "w-old", preferredDuration=5)
    ask(api, "w-duration", preferredDuration=20)
    ask(api, "w-topic", preferredDuration=5, preferredTopicId=str(topic.id))
    assert redis().zcard(QUEUE) == 3
    matched = ask(api, "newcomer", preferredDuration=20, preferredTopicId=str(topic.id)).json()
    assert matched["matchedWithUserId"] == "w-topic"
    assert ConversationSession.objects.get(id=matched["sessionId"]).topic_id == str(topic.id)
    assert ask(api, "second", preferredDuration=20).json()["matchedWithUserId"] == "w-duration"
    assert ask(api, "third", preferredDuration=20).json()["matchedWithUserId"] == "w-old"


def test_blocked_users_are_never_paired(api):
    _block("alice", "bob")
    ask(api, "alice")
    assert ask(api, "bob").json()["status"] == "pending"
    assert ask(api, "carol").json()["matchedWithUserId"] == "alice"


def _now():
    from conversation import clock

    return clock.now()


def _later():
    import datetime as dt

    return _now() + pairing.RECONCILE_GRACE + dt.timedelta(seconds=1)


def test_cancel_leaves_the_queue_and_notifies(api):
    async def scenario():
        socket = await open_socket("/ws/v1/matchmaking/", "alice")
        from asgiref.sync import sync_to_async

        created = (await sync_to_async(ask)(api, "alice")).json()
        cancelled = await sync_to_async(api("alice").delete)(f"/api/v1/matchmaking/requests/{created['id']}/")
        event = await next_event(socket, "request.cancelled")
        await socket.disconnect()
        return created, cancelled, event

    created, cancelled, event = async_to_sync(scenario)()
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert event["request"]["id"] == created["id"]
    assert redis().zcard(QUEUE) == 0
    again = api("alice").delete(f"/api/v1/matchmaking/requests/{created['id']}/")
    assert again.status_code == 409 and again.json()["code"] == "not_pending"
    assert ask(api, "alice").status_code == 201  # the pending guard was released


def test_requests_are_private_and_ids_checked(api):
    created = ask(api, "alice").json()
    assert api("bob").get(f"/api/v1/matchmaking/requests/{created['id']}/").status_code == 404
    assert api("bob").delete(f"/api/v1/matchmaking/requests/{created['id']}/").status_code == 404
    assert api("alice").get("/api/v1/matchmaking/requests/nonsense/").status_code == 404
    assert api("alice").get(f"/api/v1/matchmaking/requests/{ObjectId()}/").status_code == 404
    assert api("alice").get("/api/v1/matchmaking/requests/current/").json()["id"] == created["id"]
    assert api("bob").get("/api/v1/matchmaking/requests/current/").status_code == 404


def test_queues_overview_counts_waiting_learners(api):
    ask(api, "alice")
    ask(api, "carol", targetLanguageCode="es", userLevel="A2")
    rows = {(r["targetLanguageCode"], r["level"]): r for r in api("x").get("/api/v1/matchmaking/queues/").json()}
    assert rows.keys() == {("fr", "B1"), ("es", "A2")}
    assert rows[("fr", "B1")]["waiting"] == 1 and rows[("fr", "B1")]["oldestWaitSeconds"] >= 0


def test_expiry_marks_expired_dequeues_and_notifies(api, frozen_clock):
    async def scenario():
        socket = await open_socket("/ws/v1/matchmaking/", "alice")
        from asgiref.sync import sync_to_async

        created = (await sync_to_async(ask)(api, "alice")).json()
        frozen_clock.advance(seconds=121)
        expired = await sync_to_async(closing.requests_expire)()
        again = await sync_to_async(closing.requests_expire)()
        event = await next_event(socket, "request.expired")
        await socket.disconnect()
        return created, expired, again, event

    created, expired, again, event = async_to_sync(scenario)()
    assert (expired, again) == (1, 0)
    assert MatchmakingRequest.objects.get(id=created["id"]).status == "expired"
    assert event["request"]["status"] == "expired"
    assert redis().zcard(QUEUE) == 0


def test_an_expired_request_is_not_matched(api, frozen_clock):
    ask(api, "alice")
    frozen_clock.advance(seconds=125)
    assert ask(api, "bob").json()["status"] == "pending"


def test_reconciler_restores_a_request_lost_between_the_stores(api):
    alice = ask(api, "alice").json()
    redis().delete(QUEUE)  # Redis lost it (restart, or a crash after a pop)
    assert pairing.queues_reconcile() == 0  # too young: it may be mid-creation in a web process
    assert pairing.queues_reconcile(now=_later()) == 1
    assert pairing.queues_reconcile(now=_later()) == 0
    score = redis().zscore(QUEUE, json.dumps(
        {"userId": "alice", "learningProfileId": "lp-1", "preferredTopicId": None, "preferredDuration": 10},
        separators=(",", ":"),
    ))  # fmt: skip
    assert abs(score - MatchmakingRequest.objects.get(id=alice["id"]).created_at.timestamp()) < 0.01
    assert ask(api, "bob").json()["matchedWithUserId"] == "alice"


def test_reconciler_pairs_two_restored_requests(api):
    ask(api, "alice")
    redis().delete(QUEUE)
    # bob arrives while alice is missing from Redis: he waits, then the reconciler pairs them.
    assert ask(api, "bob").json()["status"] == "pending"
    pairing.queues_reconcile(now=_later())
    assert MatchmakingRequest.objects.get(user_id="alice").matched_with_user_id == "bob"


def test_relaxation_pairs_adjacent_levels_only_after_the_wait(api, frozen_clock, settings):
    ask(api, "alice", userLevel="B1")
    assert ask(api, "bob", userLevel="B2").json()["status"] == "pending"
    assert ask(api, "carol", userLevel="C1").json()["status"] == "pending"
    frozen_clock.advance(seconds=settings.MATCHMAKING_RELAX_AFTER_SECONDS + 1)
    assert pairing.queues_relax() >= 1
    alice = MatchmakingRequest.objects.get(user_id="alice")
    assert alice.status == "matched" and alice.matched_with_user_id == "bob"
    assert MatchmakingRequest.objects.get(user_id="carol").status == "pending"


def test_relaxation_that_pops_a_partner_gone_meanwhile_leaves_the_request_in_its_queue(api, frozen_clock, settings):
    """The relax pass's pop takes the waiting request's own member out too; with the partner gone, it goes back."""
    ask(api, "alice", userLevel="B1")
    assert ask(api, "bob", userLevel="B2").json()["status"] == "pending"
    alice = MatchmakingRequest.objects.get(user_id="alice")
    # bob's request expired in MongoDB; the expiry pass has not taken his member out of Redis yet.
    MatchmakingRequest.objects(user_id="bob").update_one(set__status="expired")
    frozen_clock.advance(seconds=settings.MATCHMAKING_RELAX_AFTER_SECONDS + 1)
    assert pairing.queues_relax() == 0
    assert MatchmakingRequest.objects.get(user_id="alice").status == "pending"
    assert redis().zscore(QUEUE, queue.member_of(alice).encode()) == alice.created_at.replace(tzinfo=dt.UTC).timestamp()
    assert redis().zcard("matchmaking:fr:B2") == 0
    assert ask(api, "carol", userLevel="B1").json()["matchedWithUserId"] == "alice"  # found by the next arrival


def test_never_two_levels_apart(api, frozen_clock):
    ask(api, "alice", userLevel="A2")
    frozen_clock.advance(seconds=60)
    assert ask(api, "bob", userLevel="B2").json()["status"] == "pending"
    pairing.queues_relax()
    assert MatchmakingRequest.objects(status="matched").count() == 0


def test_users_who_just_met_are_paired_again_only_if_nobody_else_waits(api):
    redis().zadd(redis_keys.recently_met("alice"), {"bob": _now().timestamp()})
    redis().zadd(redis_keys.recently_met("bob"), {"alice": _now().timestamp()})
    ask(api, "bob")
    assert ask(api, "alice").json()["matchedWithUserId"] == "bob"  # nobody else: allowed
    redis().delete("user:session:alice", "user:session:bob")
    _block("bob", "dave")  # so that both wait
    ask(api, "bob")
    ask(api, "dave")
    assert ask(api, "alice").json()["matchedWithUserId"] == "dave"


def test_idempotency_key_replays_the_first_response(api):
    client = api("alice")
    body = {"learningProfileId": "lp", "targetLanguageCode": "fr", "userLevel": "B1", "preferredDuration": 10}
    first = client.post("/api/v1/matchmaking/requests/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post("/api/v1/matchmaking/requests/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert MatchmakingRequest.objects(user_id="alice").count() == 1


def test_an_idempotency_key_in_progress_is_held_a_minute_and_its_answer_a_day(api, monkeypatch):
    """A process that dies mid-call leaves its marker: it lapses within a minute, not with the stored answer."""
    slot = redis_keys.idempotency("alice", "k-2")
    seen_during_call = []
    create = views.request_create

    def watched(**kwargs):
        seen_during_call.append((redis().get(slot), redis().ttl(slot)))
        return create(**kwargs)

    monkeypatch.setattr(views, "request_create", watched)
    created = api("alice").post(
        "/api/v1/matchmaking/requests/", request_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert created.status_code == 201
    [(marker, ttl)] = seen_during_call
    assert marker.startswith(idempotency.IN_PROGRESS) and 0 < ttl <= idempotency.IN_PROGRESS_SECONDS
    assert json.loads(redis().get(slot))["status"] == 201
    assert redis().ttl(slot) > idempotency.RETENTION_SECONDS - 60


def test_a_call_that_outlived_its_idempotency_marker_leaves_the_next_calls_slot_alone(api, monkeypatch):
    """Its marker lapsed and a retry took the key: the slow call's answer must not replace the retry's marker."""
    slot = redis_keys.idempotency("alice", "k-3")
    create = views.request_create

    def slow(**kwargs):
        redis().set(slot, idempotency.IN_PROGRESS + b":the-retry", ex=60)  # the marker lapsed; a retry took it
        return create(**kwargs)

    monkeypatch.setattr(views, "request_create", slow)
    body = request_body()
    assert (
        api("alice").post("/api/v1/matchmaking/requests/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code
        == 201
    )
    assert redis().get(slot) == idempotency.IN_PROGRESS + b":the-retry"


def test_rate_limit_answers_429(api, settings, frozen_clock):
    settings.MATCHMAKING_RATE_LIMIT_PER_MINUTE = 3
    client = api("alice")
    codes = []
    for _ in range(5):
        created = ask(api, "alice")
        codes.append(created.status_code)
        if created.status_code == 201:
            client.delete(f"/api/v1/matchmaking/requests/{created.json()['id']}/")
    assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429]


def _sent_to_redis(monkeypatch) -> list[bytes]:
    """Every write the blocking Redis clients send from now on (any thread's), one entry per round trip."""
    from redis.connection import AbstractConnection

    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(command if isinstance(command, bytes) else b"".join(bytes(part) for part in command))
        return send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def test_a_creation_is_counted_against_the_rate_limit_in_its_first_round_trip(api, settings, monkeypatch, frozen_clock):
    """The call's count and its user's exact suspension check travel with the request's first reads (its
    live session, who waits): no round trip of their own, the same headers, and still 429 before 409 past
    the limit."""
    settings.MATCHMAKING_RATE_LIMIT_PER_MINUTE = 2
    monkeypatch.setattr(restrictions, "AUTH_CHECK_AGE", 60.0)  # authentication's copy stays trusted
    sent = _sent_to_redis(monkeypatch)
    created = ask(api, "alice")
    assert created.status_code == 201 and created["RateLimit-Remaining"] == "1"
    counting = [packed for packed in sent if b"rl:mm:alice:" in packed]
    assert len(counting) == 1 and b"ZCOUNT" in counting[0] and b"user:session:alice" in counting[0]
    assert b"restrict:blocker:alice" in counting[0]
    sent.clear()
    pending = ask(api, "alice")  # counted: the window's second call, whose 409 says so too
    assert pending.json()["code"] == "request_pending" and pending["RateLimit-Remaining"] == "0"
    checks = [packed for packed in sent if b"restrict:version" in packed]
    assert len(checks) == 1 and b"rl:mm:alice:" in checks[0]  # authentication sent none of its own
    refused = ask(api, "alice")
    assert refused.status_code == 429 and refused["RateLimit-Remaining"] == "0"
    assert MatchmakingRequest.objects(user_id="alice").count() == 1
    live = ConversationSession(participant1_id="bob", participant2_id="erin", target_language_code="fr").save()
    redis().set(redis_keys.user_session("bob"), str(live.id))  # bob is in a live session
    assert [ask(api, "bob").json()["code"] for _ in range(3)] == ["in_session", "in_session", "rate_limited"]
    invalid = ask(api, "carol", userLevel="Z9")  # refused by validation, counted all the same
    assert invalid.status_code == 400 and invalid["RateLimit-Remaining"] == "1"


def test_a_caller_past_the_limit_costs_no_topic_read(api, settings, monkeypatch, frozen_clock):
    """A named topic is looked up in MongoDB while validating: such a call is counted first, alone."""
    settings.MATCHMAKING_RATE_LIMIT_PER_MINUTE = 1
    looked_up: list[str] = []
    real = serializers.topic_get_active
    monkeypatch.setattr(serializers, "topic_get_active", lambda **kw: looked_up.append(kw["topic_id"]) or real(**kw))
    unknown = str(ObjectId())
    first = ask(api, "alice", preferredTopicId=unknown)
    assert first.status_code == 400 and "preferredTopicId" in first.json()["fields"]
    assert looked_up == [unknown]
    refused = ask(api, "alice", preferredTopicId=unknown)
    assert refused.status_code == 429 and looked_up == [unknown]  # refused before the lookup


def test_invalid_bodies_count_against_the_rate_limit_too(api, settings, frozen_clock):
    settings.MATCHMAKING_RATE_LIMIT_PER_MINUTE = 2
    client = api("alice")
    bad = [client.post("/api/v1/matchmaking/requests/", {"userLevel": "Z9"}, format="json") for _ in range(2)]
    assert [r.status_code for r in bad] == [400, 400]
    assert ask(api, "alice").status_code == 429  # the window is spent by the two invalid calls
    third = client.post("/api/v1/matchmaking/requests/", {"userLevel": "Z9"}, format="json")
    assert third.status_code == 429  # past the limit, 429 before 400, as ever
    assert not MatchmakingRequest.objects(user_id="alice")


def test_a_lone_arrival_reads_the_queues_median_wait_once_in_a_while(api, monkeypatch):
    """The median of recent times to match moves slowly: a process reads it once per queue every
    WAIT_MEDIAN_CACHE_SECONDS, not on every arrival that finds nobody waiting."""
    redis().lpush(redis_keys.match_waits("fr", "B1"), "30.000", "10.000", "20.000")
    sent = _sent_to_redis(monkeypatch)
    first = ask(api, "alice").json()
    api("alice").delete(f"/api/v1/matchmaking/requests/{first['id']}/")
    second = ask(api, "bob").json()
    assert first["estimatedWaitSeconds"] == second["estimatedWaitSeconds"] == 20
    assert sum(b"LRANGE" in packed for packed in sent) == 1
    monkeypatch.setattr(queue._medians, "seconds", 0.0)
    redis().lpush(redis_keys.match_waits("fr", "B1"), "90.000", "90.000")
    api("bob").delete(f"/api/v1/matchmaking/requests/{second['id']}/")
    assert ask(api, "carol").json()["estimatedWaitSeconds"] == 30  # read again once the copy is old


def test_estimated_wait_comes_from_recent_matches(api):
    ask(api, "a1")
    ask(api, "a2")
    ask(api, "b1")
    assert ask(api, "b2").json()["estimatedWaitSeconds"] == 0  # someone is waiting right now
    third = ask(api, "c1").json()
    assert third["estimatedWaitSeconds"] is not None


def test_cancel_racing_a_match_never_half_matches(api):
    """Our own request is cancelled between the partner's commit and ours: the partner is restored."""
    ask(api, "alice")
    bob = MatchmakingRequest(
        user_id="bob", learning_profile_id="lp", target_language_code="fr", user_level="B1",
        preferred_duration=10, status="pending", created_at=_now(), expires_at=_now(),
    )  # fmt: skip
    bob.expires_at = bob.created_at.replace(year=bob.created_at.year + 1)
    bob.save()
    original_open = lifecycle.session_open

    def open_then_cancel(**kwargs):
        session = original_open(**kwargs)
        MatchmakingRequest.objects(id=bob.id).update_one(set__status="cancelled")
        return session

    lifecycle.session_open = open_then_cancel
    try:
        result = pairing.request_pair(request=bob)
    finally:
        lifecycle.session_open = original_open
    assert result.status == "cancelled"
    alice = MatchmakingRequest.objects.get(user_id="alice")
    assert alice.status == "pending" and alice.session_id is None and alice.matched_with_user_id is None
    assert redis().zcard(QUEUE) == 1
    assert ConversationSession.objects.count() == 0


def test_an_idle_socket_still_receives_events_after_the_layers_blocking_read(api):
    """channels-redis blocks 5 s per read; a socket idle longer must keep its receive loop."""

    async def scenario():
        import asyncio

        socket = await open_socket("/ws/v1/matchmaking/", "alice")
        await asyncio.sleep(6.5)
        from asgiref.sync import sync_to_async

        await sync_to_async(ask)(api, "alice")
        await sync_to_async(ask)(api, "bob")
        event = await next_event(socket, "match.found")
        await socket.disconnect()
        return event

    assert async_to_sync(scenario)()["request"]["userId"] == "alice"


def test_the_create_view_authenticates_as_the_rest_of_the_api():
    """It builds its own authenticators (to trust the suspension copy): the same classes as the settings'."""
    authenticators = RequestCreateView().get_authenticators()
    assert [type(a) for a in authenticators] == api_settings.DEFAULT_AUTHENTICATION_CLASSES
    assert authenticators[0].service_checks_suspension


def test_a_no_show_requeue_leaves_out_a_learner_suspended_meanwhile(api):
    """The sweeper requeues who came to a session the partner never joined; a suspension since (here the
    mirror only, as another process's would be first seen) leaves them out, and raises nothing."""
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    session = ConversationSession.objects.get(id=session_id)
    ended = lifecycle.session_end(session=session, status="cancelled", reason="timeout")  # as the sweep does
    restrictions.restriction_publish(user_id="alice", until=restrictions.UNTIL_LIFTED)
    for user_id in ("alice", "bob"):
        mm.request_requeue_after_no_show(user_id=user_id, session=ended, now=clock.now())
    assert MatchmakingRequest.objects(user_id="bob", status="pending").count() == 1  # not suspended: requeued
    assert not MatchmakingRequest.objects(user_id="alice", status="pending")


def test_a_live_session_key_left_by_an_ended_session_stops_nobody(api):
    """An ending that lands between a pairing's insert and its announcement leaves `user:session` written
    again by the announcement, for 30 minutes: healed where it stops someone."""
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    ConversationSession.objects(id=session_id).update_one(set__status="cancelled")  # the keys stayed
    assert redis().get(redis_keys.user_session("alice")) == session_id.encode()
    assert ask(api, "alice").json()["status"] == "pending"
    assert redis().get(redis_keys.user_session("alice")) is None
    at = (clock.now() + dt.timedelta(hours=1)).isoformat()
    body = {"participant2Id": "bob", "targetLanguageCode": "fr", "scheduledAt": at}
    invitation = api("dave").post("/api/v1/sessions/", body, format="json").json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{invitation}/accept/").status_code == 200
