"""Scheduled sessions are invitations: accept, decline, the cap, expiry, blocks, what `current` shows, and the one
form of `scheduledAt` accepted."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync
from bson import ObjectId
from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError

from conversation import breaker, clock, mongo, redis_keys
from conversation.errors import Conflict
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from sessions_app import consumers
from sessions_app.documents import ConversationSession, SessionReport, UserBlock
from sessions_app.redis_scripts import Scripts
from sessions_app.services import presence, safety, scheduling
from sessions_app.services.sweeper import sessions_sweep
from tests.helpers import ask, next_event, open_socket


def booked(*user_ids: str) -> list[str | None]:
    return [v.decode() if v else None for v in redis().mget([redis_keys.session_booked(u) for u in user_ids])]


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
    """Never scheduled together again: the reported session and a pending invitation between them are cancelled."""
    reported = invite(api, "alice", "bob", soon).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{reported}/accept/").status_code == 200
    pending = invite(api, "bob", "alice", soon + dt.timedelta(hours=1)).json()["id"]
    other = invite(api, "alice", "carol", soon).json()["id"]  # not between them: untouched
    assert (
        api("bob").post(f"/api/v1/sessions/{reported}/report/", {"reason": "abuse"}, format="json").status_code == 200
    )
    for session_id in (reported, pending):
        session = ConversationSession.objects.get(id=session_id)
        assert (session.status, session.end_reason) == ("cancelled", "reported"), session_id
    assert ConversationSession.objects.get(id=other).status == "waiting"
    assert api("alice").get("/api/v1/sessions/invitations/").json()["count"] == 0
    assert booked("alice", "bob") == [None, None]


def test_only_the_invitee_may_report_an_invitation_never_accepted(api, soon):
    """Anyone may invite anyone: its sender reporting it would file a report and a block against a learner who
    never answered. The invitee may (an unwanted invitation)."""
    sent = invite(api, "mallory", "alice", soon).json()["id"]
    refused = api("mallory").post(f"/api/v1/sessions/{sent}/report/", {"reason": "abuse"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "not_reportable"
    assert not SessionReport.objects(reporter_id="mallory") and not UserBlock.objects(user_id="mallory")
    assert ConversationSession.objects.get(id=sent).status == "waiting"
    assert api("alice").post(f"/api/v1/sessions/{sent}/report/", {"reason": "spam"}, format="json").status_code == 200
    assert SessionReport.objects.get(reporter_id="alice").reported_user_id == "mallory"


def test_an_invitation_declined_is_not_reportable_by_its_sender_either(api, soon):
    sent = invite(api, "mallory", "bob", soon).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{sent}/decline/").status_code == 200
    refused = api("mallory").post(f"/api/v1/sessions/{sent}/report/", {"reason": "abuse"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "not_reportable"
    assert not SessionReport.objects(reporter_id="mallory") and not UserBlock.objects(user_id="mallory")


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


def test_an_accepted_invitation_is_both_participants_waiting_session_until_it_ends(api, soon):
    """API.md: joinable and blocking matchmaking once accepted; DESIGN.md: one waiting/active session a user."""
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    searching = ask(api, "bob")
    assert searching.status_code == 201  # a pending invitation blocks nothing
    api("bob").delete(f"/api/v1/matchmaking/requests/{searching.json()['id']}/")
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    assert booked("alice", "bob") == [session_id, session_id]
    for user in ("alice", "bob"):
        refused = ask(api, user)
        assert refused.status_code == 409 and refused.json()["code"] == "in_session", user
        assert api(user).get("/api/v1/sessions/current/").json()["id"] == session_id
    assert MatchmakingRequest.objects(user_id__in=["alice", "bob"], status="pending").count() == 0

    assert api("alice").post(f"/api/v1/sessions/{session_id}/cancel/").status_code == 200
    assert booked("alice", "bob") == [None, None]
    assert [ask(api, user).json()["status"] for user in ("alice", "bob")] == ["pending", "matched"]


def test_accepting_stops_a_search_of_either_participant(api, soon):
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    searching = ask(api, "alice").json()
    assert searching["status"] == "pending"
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    assert MatchmakingRequest.objects.get(id=searching["id"]).status == "cancelled"
    assert redis().zcard(redis_keys.matchmaking_queue("fr", "B1")) == 0
    assert ask(api, "carol").json()["status"] == "pending"  # nobody left to pair with


def test_nobody_accepts_while_either_participant_is_in_another_session(api, soon):
    ask(api, "carol")
    instant = ask(api, "bob").json()["sessionId"]  # bob and carol: an instant session
    mine = invite(api, "alice", "bob", soon).json()["id"]
    refused = api("bob").post(f"/api/v1/sessions/{mine}/accept/")
    assert refused.status_code == 409 and refused.json()["code"] == "in_session"
    theirs = invite(api, "carol", "dave", soon).json()["id"]
    refused = api("dave").post(f"/api/v1/sessions/{theirs}/accept/")
    assert refused.status_code == 409 and refused.json()["code"] == "partner_in_session"
    assert [ConversationSession.objects.get(id=i).invitation for i in (mine, theirs)] == ["pending", "pending"]
    assert booked("alice", "bob", "carol", "dave") == [None] * 4

    assert api("bob").post(f"/api/v1/sessions/{instant}/cancel/").status_code == 200
    assert api("bob").post(f"/api/v1/sessions/{mine}/accept/").status_code == 200
    assert api("dave").post(f"/api/v1/sessions/{theirs}/accept/").status_code == 200


def test_an_inviter_is_booked_by_one_acceptance_even_when_all_come_at_once(api, soon):
    invitees = [f"friend{n}" for n in range(4)]
    ids = {user: invite(api, "alice", user, soon).json()["id"] for user in invitees}
    barrier = threading.Barrier(len(invitees))

    def accept(user: str) -> tuple[int, str | None]:
        client = api(user)
        barrier.wait()
        response = client.post(f"/api/v1/sessions/{ids[user]}/accept/")
        return response.status_code, response.json().get("code")

    with ThreadPoolExecutor(len(invitees)) as pool:
        answers = sorted(pool.map(accept, invitees), key=lambda answer: answer[0])
    assert answers == [(200, None)] + [(409, "partner_in_session")] * 3
    (winner,) = ConversationSession.objects(participant1_id="alice", invitation="accepted")
    assert booked("alice", winner.participant2_id) == [str(winner.id)] * 2
    assert booked(*invitees).count(None) == 3


def test_a_session_committed_before_its_presence_is_written_still_refuses_the_acceptance(api, soon):
    """A pairing stores its session, then writes `user:session`: an acceptance in between asks MongoDB."""
    ask(api, "carol")
    ask(api, "alice")
    redis().delete(redis_keys.user_session("alice"), redis_keys.user_session("carol"))
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    refused = api("bob").post(f"/api/v1/sessions/{session_id}/accept/")
    assert refused.status_code == 409 and refused.json()["code"] == "partner_in_session"
    assert booked("alice", "bob") == [None, None]
    assert ConversationSession.objects.get(id=session_id).invitation == "pending"


def test_a_booking_lost_with_redis_is_rebuilt_and_a_no_show_ends_it(api, frozen_clock, soon):
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    doomed = [k for k in redis().scan_iter() if not k.startswith((b"_kombu", b"unacked", b"celery"))]
    redis().delete(*doomed)  # what a Redis restart without persistence leaves
    searching = ask(api, "alice")  # until the next sweep (seconds): MongoDB is not read on this path
    assert searching.status_code == 201
    api("alice").delete(f"/api/v1/matchmaking/requests/{searching.json()['id']}/")
    assert sessions_sweep().bookings_rebuilt == 1 and sessions_sweep().bookings_rebuilt == 0
    assert booked("alice", "bob") == [session_id, session_id]
    assert ask(api, "alice").json()["code"] == "in_session"

    frozen_clock.advance(hours=1, minutes=11)  # past the join window: nobody came
    assert sessions_sweep().no_shows == 1
    assert ConversationSession.objects.get(id=session_id).end_reason == "timeout"
    assert booked("alice", "bob") == [None, None]
    assert ask(api, "alice").status_code == 201


def test_accepting_a_cancelled_invitation_books_nothing_and_leaves_a_search_alone(api, soon):
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    assert api("alice").post(f"/api/v1/sessions/{session_id}/cancel/").status_code == 200
    searching = ask(api, "bob").json()
    refused = api("bob").post(f"/api/v1/sessions/{session_id}/accept/")
    assert refused.status_code == 409 and refused.json()["code"] == "not_invited"
    assert MatchmakingRequest.objects.get(id=searching["id"]).status == "pending"
    assert booked("alice", "bob") == [None, None]


NOT_ISO = "Use an ISO 8601 date and time with a UTC offset, such as 2026-12-24T18:00:00Z."
NO_SUCH_TIME = "This date and time does not exist."
# Python's \d matches every script's digits, and int() reads them: fullwidth (U+FF10..) and Arabic-Indic (U+0660..).
FULLWIDTH = {ord("0") + n: 0xFF10 + n for n in range(10)}
ARABIC_INDIC = {ord("0") + n: 0x0660 + n for n in range(10)}
HOURS_2, HOURS_5_30 = dt.timedelta(hours=2), dt.timedelta(hours=5, minutes=30)


def schedule_at(api, written: str):
    body = {"participant2Id": "bob", "targetLanguageCode": "fr", "scheduledAt": written}
    return api("alice").post("/api/v1/sessions/", body, format="json")


@pytest.mark.parametrize(
    ("spell", "message"),
    [
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%S"), NOT_ISO, id="naive"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M"), NOT_ISO, id="naive-minutes"),
        pytest.param(lambda at: (at + dt.timedelta(days=1)).date().isoformat(), NOT_ISO, id="date-only"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ").translate(FULLWIDTH), NOT_ISO, id="fullwidth"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ").translate(ARABIC_INDIC), NOT_ISO, id="arabic"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%S\x00Z"), NOT_ISO, id="nul-before-z"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ\n"), NOT_ISO, id="trailing-newline"),
        pytest.param(lambda at: at.strftime("%Y-%m-%d %H:%M:%SZ"), NOT_ISO, id="space-for-t"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dt%H:%M:%Sz"), NOT_ISO, id="lower-case"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%S+0000"), NOT_ISO, id="offset-without-colon"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%S+00"), NOT_ISO, id="offset-hours-only"),
        pytest.param(lambda at: at.strftime("%G-W%V-%uT%H:%M:%SZ"), NOT_ISO, id="week-date"),
        pytest.param(lambda at: at.strftime("%Y%m%dT%H%M%SZ"), NOT_ISO, id="basic-format"),
        pytest.param(lambda at: at.timestamp(), NOT_ISO, id="number"),
        pytest.param(lambda at: f"{at.year + 1}-02-30T18:00:00Z", NO_SUCH_TIME, id="february-30"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%S+24:00"), NO_SUCH_TIME, id="offset-24h"),
    ],
)
def test_a_scheduled_time_in_any_other_form_than_iso_8601_with_an_offset_is_a_400_naming_it(api, soon, spell, message):
    """Each of these was read as some time (a naive one as UTC) or refused with a list of formats."""
    response = schedule_at(api, spell(soon))
    body = response.json()
    assert (response.status_code, body["code"], body["fields"]) == (400, "invalid", {"scheduledAt": [message]})
    assert body["detail"] == f"scheduledAt: {message}"
    assert ConversationSession.objects.count() == 0


def test_the_reason_is_in_the_callers_language(api, soon):
    naive = soon.strftime("%Y-%m-%dT%H:%M:%S")
    body = {"participant2Id": "bob", "targetLanguageCode": "fr", "scheduledAt": naive}
    response = api("alice").post("/api/v1/sessions/", body, format="json", HTTP_ACCEPT_LANGUAGE="fr")
    french = "Utilisez une date et une heure ISO 8601 avec un décalage UTC, par exemple 2026-12-24T18:00:00Z."
    assert response.json()["fields"] == {"scheduledAt": [french]}


@pytest.mark.parametrize(
    ("spell", "meant"),
    [
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ"), lambda at: at, id="z"),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%MZ"), lambda at: at.replace(second=0), id="z-no-seconds"),
        pytest.param(lambda at: (at + HOURS_2).strftime("%Y-%m-%dT%H:%M:%S+02:00"), lambda at: at, id="plus-2h"),
        pytest.param(
            lambda at: (at - HOURS_5_30).strftime("%Y-%m-%dT%H:%M:%S.250-05:30"),
            lambda at: at + dt.timedelta(milliseconds=250),
            id="minus-5h30-fraction",
        ),
        pytest.param(  # nanoseconds (Go's RFC3339Nano): cut to microseconds, stored to the millisecond
            lambda at: at.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
            lambda at: at + dt.timedelta(milliseconds=123),
            id="nanoseconds",
        ),
        pytest.param(lambda at: at.strftime("%Y-%m-%dT%H:%M:%S-00:00"), lambda at: at, id="minus-zero"),
    ],
)
def test_an_iso_8601_time_with_an_offset_is_stored_as_the_utc_instant_it_names(api, soon, spell, meant):
    response = schedule_at(api, spell(soon))
    assert response.status_code == 201, response.json()
    stored = mongo.db()["conversation_session"].find_one({"_id": ObjectId(response.json()["id"])})
    assert stored["scheduledAt"] == meant(soon)
    assert stored["scheduledAt"].utcoffset() == dt.timedelta(0)
    assert response.json()["scheduledAt"] == clock.isoformat(meant(soon))


def test_two_acceptances_of_one_invitation_at_once_keep_its_booking(api, soon):
    """A double tap: both calls read the invitation pending; the one that loses must not unbook the winner."""
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    read_by_the_second = ConversationSession.objects.get(id=session_id)
    scheduling.invitation_accept(session=ConversationSession.objects.get(id=session_id), user_id="bob")
    with pytest.raises(Conflict) as lost:
        scheduling.invitation_accept(session=read_by_the_second, user_id="bob")
    assert lost.value.code == "not_invited"
    assert booked("alice", "bob") == [session_id, session_id]
    assert ask(api, "bob").json()["code"] == "in_session"


def test_an_acceptance_whose_booking_reply_was_lost_leaves_a_short_claim_its_retry_takes_over(api, soon, monkeypatch):
    """Not knowing whether it wrote the booking, the call gives nothing back: its claim runs out within
    ACCEPTING_SECONDS (it used to last until the join deadline, 29 days), and the retry goes through."""
    session_id = invite(api, "alice", "bob", soon + dt.timedelta(days=29)).json()["id"]
    book = Scripts.book

    def reply_lost(self, **kwargs):
        book(self, **kwargs)
        raise RedisConnectionError("reply lost")

    monkeypatch.setattr(Scripts, "book", reply_lost)
    try:
        assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 503
    finally:
        breaker.store_answered("redis")  # only one reply was lost: Redis is fine
    assert ConversationSession.objects.get(id=session_id).invitation == "pending"
    assert 0 < redis().ttl(redis_keys.session_booked("alice")) <= scheduling.ACCEPTING_SECONDS
    monkeypatch.undo()
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    assert booked("alice", "bob") == [session_id, session_id]
    assert redis().ttl(redis_keys.session_booked("alice")) > 28 * 86400


def test_a_refused_acceptance_leaves_every_search_alone(api, soon):
    ask(api, "carol")
    ask(api, "bob")  # bob and carol: an instant session, its presence not written yet (MongoDB refuses)
    redis().delete(redis_keys.user_session("bob"), redis_keys.user_session("carol"))
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    searching = ask(api, "alice", targetLanguageCode="de").json()
    refused = api("bob").post(f"/api/v1/sessions/{session_id}/accept/")
    assert refused.status_code == 409 and refused.json()["code"] == "in_session"
    assert MatchmakingRequest.objects.get(id=searching["id"]).status == "pending"


def test_a_booking_left_by_an_end_whose_redis_step_failed_is_healed_where_it_stops_someone(api, soon, monkeypatch):
    session_id = invite(api, "alice", "bob", soon + dt.timedelta(days=20)).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200

    def redis_blip(_session):
        raise RedisConnectionError("blip")

    with monkeypatch.context() as failing:
        failing.setattr(presence, "presence_close", redis_blip)
        assert api("alice").post(f"/api/v1/sessions/{session_id}/cancel/").status_code == 200  # the end stands
    assert booked("alice", "bob") == [session_id, session_id]
    assert ask(api, "bob").json()["status"] == "pending"
    other = invite(api, "carol", "alice", soon).json()["id"]
    assert api("alice").post(f"/api/v1/sessions/{other}/accept/").status_code == 200
    assert booked("alice", "bob", "carol") == [other, None, other]


def test_a_booking_the_rebuild_writes_back_as_a_cancel_ends_it_is_healed(api, soon, monkeypatch):
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    redis().delete(redis_keys.session_bookings_marker(), *(redis_keys.session_booked(u) for u in ("alice", "bob")))
    restore = presence.booking_restore

    def cancelled_meanwhile(session, now):  # the rebuild holds the document it read when the cancel lands
        assert api("alice").post(f"/api/v1/sessions/{session_id}/cancel/").status_code == 200
        restore(session, now)

    monkeypatch.setattr(presence, "booking_restore", cancelled_meanwhile)
    assert sessions_sweep().bookings_rebuilt == 1
    assert booked("alice", "bob") == [session_id, session_id]
    assert ask(api, "alice").json()["status"] == "pending"
    assert booked("alice") == [None]


def test_a_suspension_ends_an_accepted_invitation_and_its_bookings(api, soon):
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    staff = api("staff", staff=True)
    body = {"userId": "alice", "reason": "abuse"}
    assert staff.post("/api/v1/moderation/suspensions/", body, format="json").status_code == 201
    assert ConversationSession.objects.get(id=session_id).end_reason == "reported"
    assert booked("alice", "bob") == [None, None]
    assert ask(api, "bob").json()["status"] == "pending"


def test_signals_wait_for_the_join_window_and_the_first_join_is_no_resync(api, frozen_clock, soon, monkeypatch):
    """Nothing is relayed in a session nobody may join yet (as a heartbeat is refused there); a scheduled
    session's first join writes its presence, which is its opening, not a `session.resync`."""
    monkeypatch.setattr(consumers, "REFUSAL_REREAD_SECONDS", 0.0)  # its own test below
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    path = f"/ws/v1/sessions/{session_id}/"

    async def signal_heard(alice, bob) -> tuple[dict, bool]:
        await alice.send_json_to({"type": "signal", "payload": {"sdp": "offer"}})
        reply = await alice.receive_json_from(timeout=3) if not await alice.receive_nothing(timeout=0.3) else {}
        heard = not await bob.receive_nothing(timeout=0.3) and (await bob.receive_json_from())["type"] == "signal"
        return reply, heard

    async def scenario():
        from asgiref.sync import sync_to_async

        alice, bob = await open_socket(path, "alice"), await open_socket(path, "bob")
        for socket in (alice, bob):
            await next_event(socket, "session.state")
        pending = await signal_heard(alice, bob)
        await sync_to_async(api("bob").post)(f"/api/v1/sessions/{session_id}/accept/")
        too_early = await signal_heard(alice, bob)
        frozen_clock.advance(minutes=56)  # the window opens 5 minutes before
        in_window = await signal_heard(alice, bob)
        await alice.send_json_to({"type": "heartbeat"})
        first_join = await alice.receive_json_from(timeout=3)
        await bob.send_json_to({"type": "heartbeat"})
        for socket in (alice, bob):
            await next_event(socket, "session.started")
        frozen_clock.advance(minutes=20)  # running, long past the join window
        running = await signal_heard(alice, bob)
        for socket in (alice, bob):
            await socket.disconnect()
        return pending, too_early, in_window, first_join, running

    pending, too_early, in_window, first_join, running = async_to_sync(scenario)()
    assert (pending[0].get("code"), pending[1]) == ("not_joinable", False)
    assert (too_early[0].get("code"), too_early[1]) == ("not_joinable", False)
    assert in_window == ({}, True)
    assert first_join["type"] == "heartbeat.ack"
    assert running == ({}, True)


def test_a_double_tap_whose_second_call_fails_leaves_the_first_ones_booking(api, soon, monkeypatch):
    """The second acceptance waits for the invitation's lock instead of racing the first: whatever becomes
    of it (here, it gives up waiting), it never gives back a booking the first one made."""
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    read_by_the_second = ConversationSession.objects.get(id=session_id)
    monkeypatch.setattr(scheduling, "ACCEPT_LOCK_WAIT_SECONDS", 0.1)
    held_elsewhere, second = scheduling._held_elsewhere, []

    def second_tap_meanwhile(session, now=None):
        if not second:  # the first call, booked and about to store: the second arrives and fails
            try:
                scheduling.invitation_accept(session=read_by_the_second, user_id="bob")
            except (Conflict, ConnectionFailure) as exc:
                second.append(exc)
            return None
        raise ConnectionFailure("MongoDB went away")  # (without the lock, the second gets here)

    monkeypatch.setattr(scheduling, "_held_elsewhere", second_tap_meanwhile)
    scheduling.invitation_accept(session=ConversationSession.objects.get(id=session_id), user_id="bob")
    monkeypatch.setattr(scheduling, "_held_elsewhere", held_elsewhere)
    assert getattr(second[0], "code", None) == "invitation_in_progress"
    assert ConversationSession.objects.get(id=session_id).invitation == "accepted"
    assert booked("alice", "bob") == [session_id, session_id]


def test_a_bookings_rebuild_cut_short_runs_again(api, soon, monkeypatch):
    ids = [invite(api, "alice", f"friend{n}", soon + dt.timedelta(hours=n)).json()["id"] for n in range(2)]
    for session_id in ids:
        ConversationSession.objects(id=session_id).update_one(set__invitation="accepted")  # as if before bookings
    restore, calls = presence.booking_restore, []

    def fails_once(session, now):
        calls.append(session.id)
        if len(calls) == 1:
            raise RedisConnectionError("Redis went away")
        restore(session, now)

    monkeypatch.setattr(presence, "booking_restore", fails_once)
    with pytest.raises(RedisConnectionError):
        sessions_sweep()
    assert sessions_sweep().bookings_rebuilt == 2 and sessions_sweep().bookings_rebuilt == 0
    assert booked("friend0", "friend1") == ids


def test_an_instant_session_left_behind_by_a_failed_store_holds_nobody(api, soon, frozen_clock):
    """Still waiting long past its join timeout (its timer was never armed): an acceptance goes through."""
    ask(api, "carol")
    left = ask(api, "bob").json()["sessionId"]
    redis().delete(redis_keys.user_session("bob"), redis_keys.user_session("carol"), redis_keys.session_deadlines())
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    refused = api("bob").post(f"/api/v1/sessions/{session_id}/accept/")
    assert refused.status_code == 409  # within its join timeout it may still be announced
    frozen_clock.advance(minutes=3)
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    assert ConversationSession.objects.get(id=left).status == "waiting"


def test_an_acceptance_stands_when_cancelling_the_searches_fails(api, soon, monkeypatch):
    """Stored as accepted: a failing receiver of `session_booked` is logged, not a 503 over a done deed."""
    from matchmaking import handlers

    session_id = invite(api, "alice", "bob", soon).json()["id"]

    def redis_gone(**kwargs):
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(handlers, "requests_pending", redis_gone)
    try:
        accepted = api("bob").post(f"/api/v1/sessions/{session_id}/accept/")
    finally:
        breaker.store_answered("redis")  # had it been a 503, the breaker would stay open for the next tests
    assert accepted.status_code == 200 and accepted.json()["invitation"] == "accepted"


def test_refused_signals_in_a_pending_invitation_cost_one_read_a_while(api, soon, monkeypatch):
    """A socket on an invitation not accepted yet re-reads it before a refusal, at most every
    REFUSAL_REREAD_SECONDS: a burst of signals cannot buy a MongoDB read each."""
    session_id = invite(api, "alice", "bob", soon).json()["id"]
    reads = []
    reloaded = consumers.reloaded

    def counted(session):
        reads.append(session.id)
        return reloaded(session)

    monkeypatch.setattr(consumers, "reloaded", counted)

    async def scenario() -> list[str]:
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        await next_event(alice, "session.state")
        codes = []
        for _ in range(10):
            await alice.send_json_to({"type": "signal", "payload": {"sdp": "offer"}})
            codes.append((await next_event(alice, "error"))["code"])
        await alice.disconnect()
        return codes

    assert async_to_sync(scenario)() == ["not_joinable"] * 10
    assert len(reads) == 1


def test_an_accepted_invitation_whose_timer_was_never_written_is_ended_and_holds_nobody(api, frozen_clock, soon):
    """Its timer's write failed after its insert: past its join window it stops nobody, and the sweep ends it."""
    left = invite(api, "alice", "bob", soon).json()["id"]
    redis().zrem(redis_keys.session_deadlines(), f"{left}:join")
    assert api("bob").post(f"/api/v1/sessions/{left}/accept/").status_code == 200
    frozen_clock.advance(hours=1, minutes=12)  # past scheduledAt + 10 min, and a minute more
    later = invite(api, "carol", "bob", frozen_clock.value + dt.timedelta(hours=1)).json()["id"]
    assert api("bob").post(f"/api/v1/sessions/{later}/accept/").status_code == 200
    assert booked("bob") == [later]
    assert sessions_sweep().no_shows == 1
    session = ConversationSession.objects.get(id=left)
    assert (session.status, session.end_reason) == ("cancelled", "timeout")
    assert booked("alice", "bob") == [None, later]


def test_an_ending_between_the_store_and_the_lengthening_is_not_undone(api, soon, monkeypatch):
    session_id = invite(api, "alice", "bob", soon + dt.timedelta(days=20)).json()["id"]
    confirm = presence.booking_confirm

    def cancelled_first(session, now):
        assert api("alice").post(f"/api/v1/sessions/{session_id}/cancel/").status_code == 200
        confirm(session, now)

    monkeypatch.setattr(presence, "booking_confirm", cancelled_first)
    assert api("bob").post(f"/api/v1/sessions/{session_id}/accept/").status_code == 200
    assert booked("alice", "bob") == [None, None]


def test_an_acceptance_whose_claim_ran_out_before_its_store_stops(api, soon, monkeypatch):
    """A store slower than ACCEPTING_SECONDS: somebody may hold a participant by now, so nothing is stored."""
    session_id = invite(api, "alice", "bob", soon).json()["id"]

    def claim_ran_out():
        redis().delete(*(redis_keys.session_booked(user) for user in ("alice", "bob")))

    _between_claim_and_store(monkeypatch, claim_ran_out)
    refused = api("bob").post(f"/api/v1/sessions/{session_id}/accept/")
    assert refused.status_code == 409 and refused.json()["code"] == "invitation_in_progress"
    assert ConversationSession.objects.get(id=session_id).invitation == "pending"
    assert booked("alice", "bob") == [None, None]


def _between_claim_and_store(monkeypatch, then) -> None:
    """Runs `then` inside an acceptance, once it has booked and before it stores (a call landing in between)."""
    held_elsewhere = scheduling._held_elsewhere

    def hooked(session, now):
        then()
        return held_elsewhere(session, now)

    monkeypatch.setattr(scheduling, "_held_elsewhere", hooked)


def _racing_the_insert(monkeypatch, then) -> None:
    """Runs `then` once, after an invitation's checks and before its insert (a call landing in between)."""
    open_count = scheduling.invitations_open_count

    def hooked(**kwargs):
        monkeypatch.setattr(scheduling, "invitations_open_count", open_count)
        then()
        return open_count(**kwargs)

    monkeypatch.setattr(scheduling, "invitations_open_count", hooked)


def test_an_invitation_sent_as_a_report_blocks_the_pair_does_not_survive(api, soon, monkeypatch):
    """The report blocks the pair and ends their live sessions between the invitation's checks and its insert."""
    _racing_the_insert(monkeypatch, lambda: safety.users_block(user_id="alice", other_id="bob", session_id=None,
                                                                  now=clock.now()))  # fmt: skip
    refused = invite(api, "bob", "alice", soon)
    assert refused.status_code == 400 and "participant2Id" in refused.json()["fields"]
    assert ConversationSession.objects(participant1_id="bob").count() == 0


def test_an_acceptance_whose_invitation_is_cancelled_under_it_is_told_so(api, soon, monkeypatch):
    """The cancel removed the claim: 409 not_invited (there is nothing to accept), not a 'try again'."""
    session_id = invite(api, "alice", "bob", soon).json()["id"]

    def cancelled_meanwhile():
        assert api("alice").post(f"/api/v1/sessions/{session_id}/cancel/").status_code == 200

    _between_claim_and_store(monkeypatch, cancelled_meanwhile)
    refused = api("bob").post(f"/api/v1/sessions/{session_id}/accept/")
    assert refused.status_code == 409 and refused.json()["code"] == "not_invited"
    assert ConversationSession.objects.get(id=session_id).status == "cancelled"
    assert booked("alice", "bob") == [None, None]
