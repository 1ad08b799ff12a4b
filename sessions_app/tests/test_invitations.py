"""Scheduled sessions are invitations: accept, decline, the cap, expiry, blocks, and what `current` shows."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import async_to_sync

from conversation import redis_keys
from conversation.redis import client as redis
from sessions_app.documents import ConversationSession, UserBlock
from sessions_app.services import scheduling
from sessions_app.services.sweeper import sessions_sweep
from tests.helpers import ask, next_event, open_socket


def invite(api, inviter: str, invitee: str, at: dt.datetime):
    body = {"participant2Id": invitee, "targetLanguageCode": "fr", "scheduledAt": at.isoformat()}
    return api(inviter).post("/api/v1/sessions/", body, format="json")


@pytest.fixture
def soon(frozen_clock) -> dt.datetime:
    return frozen_clock.value + dt.timedelta(hours=1)


def test_an_invitation_is_pending_until_the_invitee_accepts(api, soon):
    created = invite(api, "alice", "bob", soon)
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["invitation"], body["participant1Id"]) == ("waiting", "pending", "alice")
    # Not anyone's current session while unanswered: nobody can fill another's calendar.
    assert api("bob").get("/api/v1/sessions/current/").status_code == 404
    received = api("bob").get("/api/v1/sessions/invitations/").json()
    assert [s["id"] for s in received["results"]] == [body["id"]]
    assert api("alice").get("/api/v1/sessions/invitations/").json()["count"] == 0

    wrong = api("alice").post(f"/api/v1/sessions/{body['id']}/accept/")
    assert wrong.status_code == 409 and wrong.json()["code"] == "not_invited"
    accepted = api("bob").post(f"/api/v1/sessions/{body['id']}/accept/")
    assert accepted.status_code == 200 and accepted.json()["invitation"] == "accepted"
    assert api("bob").get("/api/v1/sessions/current/").json()["id"] == body["id"]
    assert api("bob").get("/api/v1/sessions/invitations/").json()["count"] == 0
    again = api("bob").post(f"/api/v1/sessions/{body['id']}/accept/")
    assert again.status_code == 409 and again.json()["code"] == "not_invited"
    assert ConversationSession.objects.get(id=body["id"]).invitation == "accepted"


def test_declining_cancels_the_session(api, soon):
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    assert api("alice").post(f"/api/v1/sessions/{session_id}/decline/").json()["code"] == "not_invited"
    declined = api("bob").post(f"/api/v1/sessions/{session_id}/decline/")
    assert declined.status_code == 200
    assert (declined.json()["status"], declined.json()["invitation"], declined.json()["endReason"]) == (
        "cancelled", "declined", None,
    )  # fmt: skip
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").json()["code"] == "not_invited"
    assert api("carol").post(f"/api/v1/sessions/{session_id}/decline/").status_code == 404


def test_an_inviter_holds_at_most_the_configured_number_of_open_invitations(api, soon, settings):
    settings.SESSION_MAX_OPEN_INVITATIONS = 3
    ids = [invite(api, "mallory", f"victim{n}", soon).json()["id"] for n in range(3)]
    refused = invite(api, "mallory", "victim", soon)
    assert refused.status_code == 409 and refused.json()["code"] == "too_many_invitations"
    assert ConversationSession.objects(participant1_id="mallory").count() == 3
    # An answered invitation frees its place.
    api("victim0").post(f"/api/v1/sessions/{ids[0]}/decline/")
    assert invite(api, "mallory", "victim", soon).status_code == 201


def test_an_unanswered_invitation_is_cancelled_at_its_time_once(api, frozen_clock, soon):
    pending = invite(api, "alice", "bob", soon).json()["id"]
    accepted = invite(api, "alice", "carol", soon).json()["id"]
    api("carol").post(f"/api/v1/sessions/{accepted}/accept/")
    frozen_clock.advance(minutes=59)
    assert sessions_sweep().invitations_expired == 0
    frozen_clock.advance(minutes=1)
    late = api("bob").post(f"/api/v1/sessions/{pending}/accept/")
    assert late.status_code == 409 and late.json()["code"] == "not_invited"
    assert sessions_sweep().invitations_expired == 1
    assert sessions_sweep().invitations_expired == 0
    session = ConversationSession.objects.get(id=pending)
    assert (session.status, session.end_reason) == ("cancelled", "timeout")
    assert ConversationSession.objects.get(id=accepted).status == "waiting"


@pytest.mark.parametrize(("blocker", "blocked"), [("alice", "bob"), ("bob", "alice")])
def test_nobody_invites_across_a_block_either_way(api, soon, frozen_clock, blocker, blocked):
    UserBlock(user_id=blocker, blocked_user_id=blocked, created_at=frozen_clock.value).save()
    refused = invite(api, "alice", "bob", soon)
    assert refused.status_code == 400 and "participant2Id" in refused.json()["fields"]
    assert ConversationSession.objects.count() == 0


def test_the_invitee_and_the_inviter_hear_of_it_on_their_lobby_sockets(api, soon):
    async def scenario():
        bob = await open_socket("/ws/v1/matchmaking/", "bob")
        alice = await open_socket("/ws/v1/matchmaking/", "alice")
        try:
            from asgiref.sync import sync_to_async

            created = await sync_to_async(invite)(api, "alice", "bob", soon)
            received = await next_event(bob, "invitation.received")
            assert received["session"]["id"] == created.json()["id"]
            await sync_to_async(api("bob").post)(f"/api/v1/sessions/{created.json()['id']}/accept/")
            accepted = await next_event(alice, "invitation.accepted")
            assert accepted["session"]["invitation"] == "accepted"
        finally:
            await bob.disconnect()
            await alice.disconnect()

    async_to_sync(scenario)()


def test_an_accepted_invitations_join_timer_outlives_a_quiet_week(api, frozen_clock):
    """Its timer may wait 30 days in the timer index, whose 7-day TTL every sweep renews."""
    at = frozen_clock.value + scheduling.MAX_AHEAD - dt.timedelta(minutes=1)
    session_id = invite(api, "alice", "bob", at).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    deadlines = redis_keys.session_deadlines()
    assert redis().zscore(deadlines, f"{session_id}:join") is not None
    redis().expire(deadlines, 5)  # as it would stand after nearly a week without a timer written
    sessions_sweep()
    assert redis().ttl(deadlines) > redis_keys.SESSION_INDEX_TTL_SECONDS - 60


def test_an_invitation_sent_while_another_of_the_inviter_holds_the_lock_is_409(api, soon, monkeypatch):
    """Not a 500 (redis-py's LockError), and the thread waits a bounded time."""
    monkeypatch.setattr(scheduling, "INVITE_LOCK_WAIT_SECONDS", 0.1)
    held = redis().lock(redis_keys.invitation_lock("alice"), timeout=30)
    assert held.acquire(blocking=False)
    try:
        refused = invite(api, "alice", "bob", soon)
    finally:
        held.release()
    assert refused.status_code == 409 and refused.json()["code"] == "invitation_in_progress"
    assert ConversationSession.objects(participant1_id="alice").count() == 0
    assert invite(api, "alice", "bob", soon).status_code == 201


def test_a_report_cancels_the_sessions_the_pair_has_scheduled(api, soon):
    """Never scheduled together again: an accepted invitation and a pending one between them are cancelled."""
    ask(api, "alice")
    reported = ask(api, "bob").json()["sessionId"]
    pending = invite(api, "bob", "alice", soon).json()["id"]
    accepted = invite(api, "alice", "bob", soon + dt.timedelta(hours=1)).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{accepted}/accept/").status_code == 200
    other = invite(api, "alice", "carol", soon).json()["id"]  # not between them: untouched
    assert (
        api("bob").post(f"/api/v1/sessions/{reported}/report/", {"reason": "abuse"}, format="json").status_code == 200
    )
    for session_id in (reported, pending, accepted):
        session = ConversationSession.objects.get(id=session_id)
        assert (session.status, session.end_reason) == ("cancelled", "reported"), session_id
    assert ConversationSession.objects.get(id=other).status == "waiting"
    assert api("alice").get("/api/v1/sessions/invitations/").json()["count"] == 0


def test_invitations_are_rate_limited_even_when_each_is_cancelled(api, soon, settings):
    """The open-invitation cap bounds what waits; the hourly limit bounds what a loop can send."""
    settings.SESSION_INVITATIONS_PER_HOUR = 3
    for _ in range(3):
        sent = invite(api, "alice", "bob", soon)
        assert sent.status_code == 201 and int(sent["RateLimit-Remaining"]) >= 0
        assert api("alice").post(f"/api/v1/sessions/{sent.json()['id']}/cancel/").status_code == 200
    refused = invite(api, "alice", "bob", soon)
    assert refused.status_code == 429 and refused["RateLimit-Remaining"] == "0" and int(refused["Retry-After"]) > 0
    assert ConversationSession.objects(participant1_id="alice").count() == 3
    assert invite(api, "carol", "bob", soon).status_code == 201  # per user
