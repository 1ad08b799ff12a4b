"""The moderation API: staff only, the report queue and its resolve race, the learner view, bad input."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from conversation import clock
from moderation.documents import Suspension
from mongoadmin.documents import AdminAuditEntry
from sessions_app.documents import ConversationSession, SessionFeedback, SessionReport, UserBlock
from tests.helpers import ask
from topics.catalog import catalog_load

REPORTS = "/api/v1/moderation/reports/"
SUSPENSIONS = "/api/v1/moderation/suspensions/"


def reported(api, reporter: str = "alice", reported_user: str = "bob") -> tuple[str, str]:
    """(sessionId, reportId): two learners matched, the first reports the second."""
    ask(api, reporter)
    session_id = ask(api, reported_user).json()["sessionId"]
    body = {"reason": "abuse", "details": "shouted insults"}
    assert api(reporter).post(f"/api/v1/sessions/{session_id}/report/", body, format="json").status_code == 200
    return session_id, str(SessionReport.objects.get(session_id=session_id).id)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", REPORTS),
        ("post", REPORTS + "0123456789abcdef01234567/resolve/"),
        ("get", SUSPENSIONS),
        ("post", SUSPENSIONS),
        ("delete", SUSPENSIONS + "0123456789abcdef01234567/"),
        ("get", "/api/v1/moderation/users/bob/"),
    ],
)
def test_learners_get_403_permission_denied_and_anonymous_callers_401(api, method, path):
    refused = getattr(api("alice"), method)(path, {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert getattr(api(), method)(path, {}, format="json").status_code == 401


def test_a_report_enters_the_queue_open_and_a_staff_member_resolves_it(api):
    session_id, report_id = reported(api)
    staff = api("mod-1", staff=True)

    queue = staff.get(REPORTS, {"state": "open"}).json()
    assert queue["count"] == 1
    item = queue["results"][0]
    assert item["id"] == report_id and item["sessionId"] == session_id
    assert (item["reporterId"], item["reportedUserId"], item["state"]) == ("alice", "bob", "open")
    assert item["assignee"] is None and item["resolvedAt"] is None

    done = staff.post(f"{REPORTS}{report_id}/resolve/", {"outcome": "actioned", "notes": "warned"}, format="json")
    assert done.status_code == 200
    body = done.json()
    assert (body["state"], body["notes"], body["resolvedBy"], body["assignee"]) == (
        "actioned", "warned", "token:mod-1", "token:mod-1"
    )  # fmt: skip
    assert body["resolvedAt"].endswith("Z")
    assert staff.get(REPORTS, {"state": "open"}).json()["count"] == 0
    assert staff.get(REPORTS, {"reportedUserId": "bob"}).json()["results"][0]["state"] == "actioned"

    again = staff.post(f"{REPORTS}{report_id}/resolve/", {"outcome": "dismissed"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "not_open"
    assert SessionReport.objects.get(id=report_id).state == "actioned"
    entry = AdminAuditEntry.objects.get(document_id=report_id)
    assert (entry.username, entry.action, entry.user_id) == ("token:mod-1", "resolve_report_actioned", None)
    assert entry.before["state"] == "open" and entry.after["state"] == "actioned"


def test_two_staff_resolving_at_once_one_wins_the_other_gets_409(api):
    _session_id, report_id = reported(api)
    results: list[tuple[int, dict]] = []
    barrier = threading.Barrier(2)

    def resolve(moderator: str, outcome: str) -> None:
        client = api(moderator, staff=True)
        barrier.wait()
        response = client.post(f"{REPORTS}{report_id}/resolve/", {"outcome": outcome}, format="json")
        results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=resolve, args=args) for args in (("mod-1", "actioned"), ("mod-2", "dismissed"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(status for status, _ in results) == [200, 409]
    winner = next(body for status, body in results if status == 200)
    loser = next(body for status, body in results if status == 409)
    assert loser["code"] == "not_open"
    stored = SessionReport.objects.get(id=report_id)
    assert (stored.state, stored.resolved_by) == (winner["state"], winner["resolvedBy"])
    assert AdminAuditEntry.objects(document_id=report_id).count() == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("resolve", {"outcome": "maybe"}, "outcome"),
        ("resolve", {}, "outcome"),
        ("resolve", {"outcome": "dismissed", "notes": "x" * 2001}, "notes"),
        ("resolve", {"outcome": "dismissed", "verdict": "guilty"}, "verdict"),
        ("suspend", {"userId": "bob smith", "reason": "abuse"}, "userId"),
        ("suspend", {"userId": "bob"}, "reason"),
        ("suspend", {"userId": "bob", "reason": "abuse", "until": "2001-01-01T00:00:00Z"}, "until"),
        ("suspend", {"userId": "bob", "reason": "abuse", "until": "next tuesday"}, "until"),
        ("suspend", {"userId": "bob", "reason": "abuse", "forever": True}, "forever"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api, path, body, field):
    _session_id, report_id = reported(api)
    url = f"{REPORTS}{report_id}/resolve/" if path == "resolve" else SUSPENSIONS
    response = api("mod-1", staff=True).post(url, body, format="json")
    body = response.json()
    assert (response.status_code, body["code"], list(body["fields"])) == (400, "invalid", [field])
    assert SessionReport.objects.get(id=report_id).state == "open"
    assert api("bob").get("/api/v1/sessions/").status_code == 200


def test_until_takes_iso_8601_with_an_offset_only_and_is_stored_as_that_utc_instant(api, frozen_clock):
    """A naive time used to be read as UTC: a moderator two hours east of it suspended for two hours more."""
    staff = api("mod-1", staff=True)
    at = frozen_clock.value + dt.timedelta(days=1)
    naive = {"userId": "bob", "reason": "abuse", "until": at.strftime("%Y-%m-%dT%H:%M:%S")}
    refused = staff.post(SUSPENSIONS, naive, format="json")
    assert (refused.status_code, refused.json()["fields"]) == (
        400, {"until": ["Use an ISO 8601 date and time with a UTC offset, such as 2026-12-24T18:00:00Z."]},
    )  # fmt: skip
    assert Suspension.objects.count() == 0

    east = {**naive, "until": (at + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")}
    created = staff.post(SUSPENSIONS, east, format="json")
    assert (created.status_code, created.json()["until"]) == (201, clock.isoformat(at))
    assert Suspension.objects.get(user_id="bob").until == at


@pytest.mark.parametrize(
    ("params", "field"),
    [({"state": "closed"}, "state"), ({"reportedUserId": "a b"}, "reportedUserId")],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, params, field):
    response = api("mod-1", staff=True).get(REPORTS, params)
    body = response.json()
    assert (response.status_code, body["code"], list(body["fields"])) == (400, "invalid", [field])


def test_unknown_or_malformed_ids_are_404(api):
    staff = api("mod-1", staff=True)
    assert staff.post(f"{REPORTS}nope/resolve/", {"outcome": "dismissed"}, format="json").status_code == 404
    assert staff.delete(f"{SUSPENSIONS}0123456789abcdef01234567/").status_code == 404
    assert staff.get("/api/v1/moderation/users/not%20an%20id/").status_code == 404


def test_the_learner_view_shows_sessions_with_their_topic(api):
    """A matched session has a topic: it is shown in the session's one JSON shape (was a 500)."""
    catalog_load()
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    topic_id = ConversationSession.objects.get(id=session_id).topic_id
    assert topic_id is not None
    shown = api("mod-1", staff=True).get("/api/v1/moderation/users/bob/")
    assert shown.status_code == 200
    [session] = shown.json()["sessions"]
    assert session["id"] == session_id and session["topicId"] == topic_id
    assert (session["topic"]["id"], session["topic"]["targetLanguageCode"]) == (topic_id, "fr")
    assert session == api("bob").get(f"/api/v1/sessions/{session_id}/").json()


def test_the_learner_view_gathers_one_users_history(api):
    session_id, report_id = reported(api)  # alice reports bob
    ConversationSession.objects(id=session_id).update_one(set__status="completed")
    SessionFeedback(session_id=session_id, user_id="alice", partner_rating=2, connection_quality=5,
                    created_at=ConversationSession.objects.get(id=session_id).created_at).save()  # fmt: skip
    staff = api("mod-1", staff=True)
    staff.post(SUSPENSIONS, {"userId": "bob", "reason": "abuse"}, format="json")

    bob = staff.get("/api/v1/moderation/users/bob/").json()
    assert bob["userId"] == "bob"
    assert [s["id"] for s in bob["sessions"]] == [session_id] and bob["sessionCount"] == 1
    assert [r["id"] for r in bob["reportsReceived"]] == [report_id] and bob["reportsMade"] == []
    assert bob["openReports"] == 1
    assert bob["feedbackReceived"] == {"count": 1, "averageRating": 2.0}
    assert [(b["userId"], b["blockedUserId"]) for b in bob["blocks"]] == [("bob", "alice")]
    assert bob["suspension"]["reason"] == "abuse" and bob["suspension"]["active"] is True

    alice = staff.get("/api/v1/moderation/users/alice/").json()
    assert [r["id"] for r in alice["reportsMade"]] == [report_id] and alice["openReports"] == 0
    assert alice["feedbackReceived"] == {"count": 0, "averageRating": None} and alice["suspension"] is None
    assert UserBlock.objects(user_id="alice").count() == 1
