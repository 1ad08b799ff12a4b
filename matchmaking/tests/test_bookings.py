"""Matchmaking against accepted invitations (bookings, `sess:booked:{userId}`), over the real Redis and
MongoDB-wire server: a booked user is never paired nor queued, whichever of the acceptance and the
matchmaking POST comes first, and the two never both fail (ARCHITECTURE.md, Sessions)."""

from __future__ import annotations

import datetime as dt

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from conversation import breaker, clock, redis_keys
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from matchmaking.redis_scripts import QueueMember
from matchmaking.services import closing, pairing
from sessions_app.documents import ConversationSession
from sessions_app.services import presence, scheduling
from tests.helpers import after_the_first_read, ask

QUEUE = redis_keys.matchmaking_queue("fr", "B1")


def _invitation(api, inviter: str, invitee: str, *, days: int = 0) -> str:
    at = clock.now() + dt.timedelta(days=days, hours=1)
    body = {"participant2Id": invitee, "targetLanguageCode": "fr", "scheduledAt": at.isoformat()}
    return api(inviter).post("/api/v1/sessions/", body, format="json").json()["id"]


def _accepted(api, inviter: str, invitee: str) -> str:
    session_id = _invitation(api, inviter, invitee)
    assert api(invitee).post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    return session_id


def _claimed(invitation: str) -> None:
    """An acceptance's booking of both participants, before it stores anything (then it stands or gives up)."""
    assert presence.booking_claim(ConversationSession.objects.get(id=invitation), ttl_seconds=30) == (True, None)


def _given_up(invitation: str) -> None:
    session = ConversationSession.objects.get(id=invitation)
    redis().delete(*(redis_keys.session_booked(user_id) for user_id in session.participants))


def _stood(invitation: str) -> None:
    ConversationSession.objects(id=invitation).update_one(set__invitation="accepted")


def _queued() -> list[str]:
    return [QueueMember.decode(raw).user_id for raw in redis().zrange(QUEUE, 0, -1)]


def _refused(answer) -> bool:
    return answer.status_code == 409 and answer.json()["code"] == "in_session"


def test_an_arrival_that_accepted_an_invitation_after_its_check_is_not_paired(api, monkeypatch):
    """Its first read found no booking; the acceptance came, found no request to cancel, and then the request
    was stored. The pairing reads the bookings: the request is cancelled, the partner goes back to its place."""
    waiting = ask(api, "alice").json()
    after_the_first_read(monkeypatch, lambda: _accepted(api, "dave", "bob"))
    assert _refused(ask(api, "bob"))
    assert MatchmakingRequest.objects.get(user_id="bob").status == "cancelled"
    assert ConversationSession.objects(invitation=None).count() == 0
    assert MatchmakingRequest.objects.get(id=waiting["id"]).status == "pending"
    assert ask(api, "carol").json()["matchedWithUserId"] == "alice"


@pytest.mark.parametrize("acceptance", ["gave up", "stood"])
def test_a_pairing_that_runs_into_its_users_acceptance_on_its_way_waits_for_it(api, monkeypatch, acceptance):
    """The acceptance has booked, not stored yet; if it gives up (it saw this pairing's session), the pairing
    goes through; if it stands, the request is cancelled. Never both, never neither."""
    waiting = ask(api, "alice").json()
    invitation = _invitation(api, "dave", "bob")
    after_the_first_read(monkeypatch, lambda: _claimed(invitation))
    settle = _stood if acceptance == "stood" else _given_up
    monkeypatch.setattr(pairing, "_wait_for_acceptance", lambda: settle(invitation))
    arrival = ask(api, "bob")
    instant = ConversationSession.objects(invitation=None)
    if acceptance == "stood":
        assert _refused(arrival)
        assert instant.count() == 0
        assert MatchmakingRequest.objects.get(id=waiting["id"]).status == "pending"
    else:
        assert arrival.json()["matchedWithUserId"] == "alice"
        assert instant.count() == 1


def test_a_request_stored_after_its_users_acceptance_with_nobody_to_pair_is_refused_not_queued(api, monkeypatch):
    """Its first read found no booking; the acceptance came, found no request to cancel, and then the request
    was stored with nobody waiting: the pairing step reads the booking instead of queueing it."""
    after_the_first_read(monkeypatch, lambda: _accepted(api, "dave", "bob"))
    assert _refused(ask(api, "bob"))
    assert MatchmakingRequest.objects.get(user_id="bob").status == "cancelled"
    assert _queued() == []
    assert ask(api, "carol").json()["status"] == "pending"
    assert ConversationSession.objects(invitation=None).count() == 0


@pytest.mark.parametrize("acceptance", ["gave up", "stood"])
def test_a_lone_arrival_whose_users_acceptance_is_on_its_way_waits_for_it(api, monkeypatch, acceptance):
    """Booked after the request's check, not stored yet, nobody waiting: the request is queued if the
    acceptance gives up, refused if it stands."""
    invitation = _invitation(api, "dave", "bob")
    after_the_first_read(monkeypatch, lambda: _claimed(invitation))
    waits = []

    def settled():
        waits.append(1)
        (_stood if acceptance == "stood" else _given_up)(invitation)

    monkeypatch.setattr(pairing, "_wait_for_acceptance", settled)
    searching = ask(api, "bob")
    assert len(waits) == 1
    if acceptance == "stood":
        assert _refused(searching)
        assert MatchmakingRequest.objects.get(user_id="bob").status == "cancelled"
        assert _queued() == []
    else:
        assert searching.status_code == 201 and searching.json()["status"] == "pending"
        assert _queued() == ["bob"]


def test_the_reconciler_does_not_queue_again_a_request_whose_user_has_booked(api):
    """Alice's request was lost from Redis, and her acceptance's cancel missed it: the reconciler cancels it."""
    alice = ask(api, "alice").json()
    redis().delete(QUEUE)
    invitation = _invitation(api, "dave", "alice")
    _stood(invitation)
    redis().set(redis_keys.session_booked("alice"), invitation)
    pairing.queues_reconcile(now=clock.now() + pairing.RECONCILE_GRACE + dt.timedelta(seconds=1))
    assert MatchmakingRequest.objects.get(id=alice["id"]).status == "cancelled"
    assert _queued() == []


def test_a_stale_booking_met_by_the_pairing_step_is_deleted_and_the_request_queued(api, monkeypatch):
    """Written after the request's check for a session that has ended (a rebuild racing a cancel)."""
    session_id = _accepted(api, "alice", "bob")
    ConversationSession.objects(id=session_id).update_one(set__status="cancelled")
    redis().delete(redis_keys.session_booked("alice"))
    after_the_first_read(monkeypatch, lambda: redis().set(redis_keys.session_booked("alice"), session_id))
    assert ask(api, "alice").json()["status"] == "pending"
    assert redis().get(redis_keys.session_booked("alice")) is None
    assert ask(api, "carol").json()["matchedWithUserId"] == "alice"


def test_a_booking_whose_session_ended_without_clearing_it_stops_nobody(api):
    """Its end's Redis step failed (or a rebuild wrote it back just as a cancel ended it): healed on read."""
    session_id = _accepted(api, "alice", "bob")
    ConversationSession.objects(id=session_id).update_one(set__status="cancelled")  # ended; the booking stayed
    assert redis().get(redis_keys.session_booked("alice")) == session_id.encode()
    assert ask(api, "alice").json()["status"] == "pending"
    assert redis().get(redis_keys.session_booked("alice")) is None
    assert ask(api, "bob").json()["matchedWithUserId"] == "alice"


def test_a_partner_whose_acceptance_is_on_its_way_is_tried_again_not_passed_over(api, monkeypatch):
    """Alice waits and is accepting dave's invitation as bob arrives: if her acceptance gives up (it saw bob's
    pairing), bob and alice are paired a moment later; neither call fails for the other."""
    ask(api, "alice")
    invitation = _invitation(api, "dave", "alice")
    _claimed(invitation)
    monkeypatch.setattr(pairing, "_wait_for_acceptance", lambda: _given_up(invitation))
    assert ask(api, "bob").json()["matchedWithUserId"] == "alice"
    assert ConversationSession.objects(invitation=None).count() == 1


def test_an_acceptances_claim_is_short_until_stored(api, monkeypatch):
    """Booked, then the process dies before storing or giving it back: the claim runs out within half a
    minute by itself. Stored, the booking lasts until the join deadline."""
    invitation = _invitation(api, "dave", "alice", days=20)
    ttls = []
    held_elsewhere = scheduling._held_elsewhere

    def between_claim_and_store(session, now):
        ttls.append(redis().ttl(redis_keys.session_booked("alice")))
        return held_elsewhere(session, now)

    monkeypatch.setattr(scheduling, "_held_elsewhere", between_claim_and_store)
    assert api("alice").post(f"/api/v1/sessions/{invitation}/accept/").status_code == 200
    assert 0 < ttls[0] <= scheduling.ACCEPTING_SECONDS
    assert redis().ttl(redis_keys.session_booked("alice")) > 19 * 86400


def test_a_partner_stuck_accepting_does_not_hold_up_its_queue(api, monkeypatch):
    """Alice waits with an acceptance's claim that will never be stored: a pairing waits for her once, then
    tries the others; her member keeps its place."""
    ask(api, "alice")
    _claimed(_invitation(api, "dave", "alice"))
    waits = []
    monkeypatch.setattr(pairing, "_wait_for_acceptance", lambda: waits.append(1))
    assert ask(api, "bob").json()["status"] == "pending"
    assert ask(api, "carol").json()["matchedWithUserId"] == "bob"
    assert len(waits) == 2 * pairing.ACCEPTANCE_WAITS  # for alice, in each pairing
    assert MatchmakingRequest.objects.get(user_id="alice", status="pending")


def test_a_pairing_whose_redis_step_fails_leaves_no_session_behind(api, monkeypatch):
    """Its session stored, then the round trip that arms its join timer fails: no timer would ever end it."""
    waiting = ask(api, "alice").json()

    def redis_gone(*args, **kwargs):
        raise RedisConnectionError("Redis went away")

    with monkeypatch.context() as failing:
        failing.setattr(presence, "bookings_keys", redis_gone)
        try:
            assert ask(api, "bob").status_code == 503
        finally:
            breaker.store_answered("redis")
    assert ConversationSession.objects.count() == 0
    assert MatchmakingRequest.objects.get(id=waiting["id"]).status == "pending"
    assert _queued() == ["alice"]  # back at her place


def test_a_request_its_users_acceptance_cancelled_while_it_waited_is_not_queued_again(api, monkeypatch):
    ask(api, "alice")
    invitation = _invitation(api, "dave", "bob")
    after_the_first_read(monkeypatch, lambda: _claimed(invitation))

    def still_on_its_way():  # ... and on the last wait it stands: its cancel of bob's search ran
        for request in MatchmakingRequest.objects(user_id="bob", status="pending"):
            closing.request_cancel(request=request)

    monkeypatch.setattr(pairing, "_wait_for_acceptance", still_on_its_way)
    ask(api, "bob")
    assert MatchmakingRequest.objects.get(user_id="bob").status == "cancelled"
    assert _queued() == ["alice"]
