"""The moderation back office: the queue with counts and bulk resolve, suspensions, blocks, the learner view."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from matchmaking.documents import MatchmakingRequest
from moderation.documents import Suspension
from mongoadmin.documents import AdminAuditEntry
from sessions_app.documents import SessionReport, UserBlock
from tests.helpers import ask

pytestmark = pytest.mark.django_db

QUEUE = "/admin/sessions_app/sessionreport/"
SUSPENSIONS = "/admin/moderation/suspension/"
BLOCKS = "/admin/sessions_app/userblock/"
LEARNERS = "/admin/moderation/learner/"


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("olga", "olga@example.com", "pw"))
    return client


def report(api, reporter: str, reported: str, reason: str = "abuse") -> SessionReport:
    ask(api, reporter)
    session_id = ask(api, reported).json()["sessionId"]
    api(reporter).post(f"/api/v1/sessions/{session_id}/report/", {"reason": reason}, format="json")
    return SessionReport.objects.get(session_id=session_id)


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_queue_counts_by_state_links_both_users_and_bulk_resolves_with_notes(api, staff):
    first = report(api, "alice.martin", "bob")
    second = report(api, "carol", "dave")
    queue = page(staff.get(QUEUE))
    assert "open (2)" in queue and "actioned (0)" in queue
    assert f'href="{LEARNERS}alice.martin/"' in queue and f'href="{LEARNERS}dave/"' in queue
    assert f"/admin/sessions_app/conversationsession/{first.session_id}/change/" in queue

    selected = {"action": "resolve_selected", "_selected_action": [str(first.id), str(second.id)]}
    asked = page(staff.post(QUEUE, selected))
    assert 'name="outcome"' in asked and "Resolve these 2 reports" in asked
    refused = page(staff.post(QUEUE, {**selected, "post": "yes", "outcome": "guilty"}))
    assert "errorlist" in refused  # a field error, nothing written
    assert SessionReport.objects(state="open").count() == 2

    done = staff.post(QUEUE, {**selected, "post": "yes", "outcome": "dismissed", "notes": "no evidence"})
    assert done.status_code == 302
    stored = SessionReport.objects.get(id=first.id)
    assert (stored.state, stored.notes, stored.resolved_by, stored.assignee) == (
        "dismissed", "no evidence", "olga", "olga"
    )  # fmt: skip
    assert "dismissed (2)" in page(staff.get(QUEUE))
    assert page(staff.get(QUEUE, {"state": "open"})).count('class="field-created_at"') == 0
    entries = AdminAuditEntry.objects(action="resolve_report_dismissed")
    assert sorted(e.document_id for e in entries) == sorted([str(first.id), str(second.id)])
    assert {e.username for e in entries} == {"olga"}


def test_a_report_page_assigns_to_me_and_resolves_one(api, staff):
    found = report(api, "alice", "bob")
    detail = page(staff.get(f"{QUEUE}{found.id}/change/"))
    assert "Assign to me" in detail and f'href="{LEARNERS}bob/"' in detail
    staff.post(f"{QUEUE}{found.id}/actions/assign_to_me/")
    assert SessionReport.objects.get(id=found.id).assignee == "olga"
    asked = page(staff.post(f"{QUEUE}{found.id}/actions/resolve/"))
    assert 'name="outcome"' in asked
    staff.post(f"{QUEUE}{found.id}/actions/resolve/", {"post": "yes", "outcome": "actioned", "notes": "suspended"})
    assert SessionReport.objects.get(id=found.id).state == "actioned"
    again = staff.post(f"{QUEUE}{found.id}/actions/resolve/", {"post": "yes", "outcome": "dismissed"}, follow=True)
    assert "does not apply" in page(again)
    assert SessionReport.objects.get(id=found.id).state == "actioned"


def test_the_queue_searches_user_ids_by_prefix(api, staff):
    report(api, "alice.martin", "bob")
    assert "alice.martin" in page(staff.get(QUEUE, {"q": "alice"}))
    assert page(staff.get(QUEUE, {"q": "alicf"})).count('class="field-created_at"') == 0
    assert page(staff.get(QUEUE, {"q": "alice.m"})).count('class="field-created_at"') == 1


def test_staff_suspend_from_the_learner_page_and_lift_it(api, staff):
    report(api, "alice", "bob")
    learner = page(staff.get(f"{LEARNERS}bob/"))
    assert "Not suspended" in learner and f"{SUSPENSIONS}add/?user_id=bob" in learner
    form = page(staff.get(f"{SUSPENSIONS}add/", {"user_id": "bob"}))
    assert 'value="bob"' in form

    bad = page(staff.post(f"{SUSPENSIONS}add/", {"user_id": "bob smith", "reason": "x"}))
    assert "errorlist" in bad and Suspension.objects.count() == 0
    past = page(staff.post(f"{SUSPENSIONS}add/", {"user_id": "bob", "reason": "x", "until": "2001-01-01 00:00"}))
    assert "Must be in the future" in past and Suspension.objects.count() == 0

    assert staff.post(f"{SUSPENSIONS}add/", {"user_id": "bob", "reason": "insults", "_save": "Save"}).status_code == 302
    suspension = Suspension.objects.get(user_id="bob")
    assert suspension.created_by == "olga"
    assert api("bob").get("/api/v1/sessions/").json()["code"] == "suspended"
    twice = page(staff.post(f"{SUSPENSIONS}add/", {"user_id": "bob", "reason": "again"}))
    assert "already suspended" in twice and Suspension.objects.count() == 1

    learner = page(staff.get(f"{LEARNERS}bob/"))
    assert "Suspended" in learner and "insults" in learner and "Lift suspension" in learner
    staff.post(f"{SUSPENSIONS}{suspension.id}/actions/lift/")
    assert Suspension.objects.get(id=suspension.id).lifted_by == "olga"
    assert api("bob").get("/api/v1/sessions/").status_code == 200
    actions = [e.action for e in AdminAuditEntry.objects(document_type="moderation.Suspension").order_by("created_at")]
    assert actions == ["suspend", "lift_suspension"]


def test_blocks_are_listed_created_and_lifted_both_ways_and_a_lifted_block_pairs_again(api, staff):
    report(api, "alice", "bob")
    listed = page(staff.get(BLOCKS))
    assert f'href="{LEARNERS}alice/"' in listed and f'href="{LEARNERS}bob/"' in listed

    same = page(staff.post(f"{BLOCKS}add/", {"user_id": "carol", "blocked_user_id": "carol"}))
    assert "cannot be blocked from themself" in same and UserBlock.objects(user_id="carol").count() == 0
    staff.post(f"{BLOCKS}add/", {"user_id": "carol", "blocked_user_id": "dave", "_save": "Save"})
    assert UserBlock.objects(user_id="dave", blocked_user_id="carol").count() == 1

    block = UserBlock.objects.get(user_id="alice", blocked_user_id="bob")
    assert staff.post(f"{BLOCKS}{block.id}/actions/lift/").status_code == 302
    assert UserBlock.objects(user_id__in=["alice", "bob"]).count() == 0
    assert AdminAuditEntry.objects(action="lift_block").count() == 1
    api("alice").delete(f"/api/v1/matchmaking/requests/{MatchmakingRequest.objects(user_id='alice').first().id}/")
    assert ask(api, "alice").status_code == 201
    assert ask(api, "bob").json()["matchedWithUserId"] == "alice"  # the lifted block no longer keeps them apart


def test_the_learner_page_gathers_everything_and_the_search_finds_ids_by_prefix(api, staff):
    report(api, "alice.martin", "bob", reason="rude")
    learner = page(staff.get(f"{LEARNERS}alice.martin/"))
    for section in ("sessions", "reports-made", "reports-received", "feedback", "requests", "blocks", "suspensions"):
        assert f'id="{section}"' in learner
    assert "rude" in learner and f'href="{LEARNERS}bob/"' in learner
    found = page(staff.get(LEARNERS, {"q": "alice"}))
    assert f'href="{LEARNERS}alice.martin/"' in found and "bob" not in found.split('id="learner-matches"')[1]
    assert "A user id has" in page(staff.get(LEARNERS, {"q": "a b"}))
    assert staff.get(f"{LEARNERS}not%20an%20id/").status_code == 404
    requests = page(staff.get("/admin/matchmaking/matchmakingrequest/", {"q": "alice"}))
    assert f'href="{LEARNERS}alice.martin/"' in requests


def test_learners_and_anonymous_visitors_never_see_moderation_pages(client, api):
    report(api, "alice", "bob")
    for url in (QUEUE, SUSPENSIONS, BLOCKS, LEARNERS, f"{LEARNERS}bob/"):
        assert client.get(url).status_code == 302  # to the admin login
    client.force_login(User.objects.create_user("lena", "lena@example.com", "pw"))
    for url in (QUEUE, SUSPENSIONS, BLOCKS, f"{LEARNERS}bob/"):
        assert client.get(url).status_code == 302


def test_the_suspension_list_filters_those_in_force(api, staff, frozen_clock):
    until = frozen_clock.value + dt.timedelta(hours=1)
    for user_id, extra in (("bob", {}), ("carol", {"until": until.isoformat()})):
        api("mod-1", staff=True).post(
            "/api/v1/moderation/suspensions/", {"userId": user_id, "reason": "abuse", **extra}, format="json"
        )
    frozen_clock.advance(hours=2)  # carol's has run out

    def listed(**params) -> list[str]:
        body = page(staff.get(SUSPENSIONS, params))
        return [user for user in ("bob", "carol") if f'href="{LEARNERS}{user}/"' in body]

    assert listed() == ["bob", "carol"]
    assert listed(active="1") == ["bob"]
    assert listed(active="0") == ["carol"]
