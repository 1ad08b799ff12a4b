"""The HTTP middleware arrangement and the one-call MongoDB forms of the hot path (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from mongoengine import NotUniqueError
from rest_framework import serializers

from conversation import clock, mongo
from conversation.documents import Where, insert
from conversation.serializers import PlainFieldsSerializer
from matchmaking.documents import MATCHED, PENDING, MatchmakingRequest
from matchmaking.serializers import RequestCreateSerializer
from sessions_app.documents import ConversationSession
from tests.processes import ROOT

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health/live", "/metrics", "/api/v1/topics/", "/api/v1/matchmaking/queues/"])
def test_api_and_probe_responses_keep_every_security_header_and_the_request_id(api, path):
    response = api("alice").get(path)
    for name in (*SECURITY_HEADERS, "X-Request-ID"):
        assert response.headers.get(name), (path, name)
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    # Flash messages and static files step aside here: no messages storage was attached to the request.
    assert not hasattr(response.wsgi_request, "_messages")


@pytest.mark.django_db
def test_pages_keep_sessions_csrf_and_messages(client):
    page = client.get("/admin/login/")
    assert page.status_code == 200 and "csrftoken" in page.cookies
    assert hasattr(page.wsgi_request, "_messages")
    for name in (*SECURITY_HEADERS, "X-Request-ID"):
        assert page.headers.get(name), name
    # A login form posted without its CSRF token is still refused.
    strict = type(client)(enforce_csrf_checks=True)
    assert strict.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 403


@pytest.mark.django_db
def test_a_staff_session_still_authenticates_on_the_api(client):
    client.force_login(User.objects.create_user("curator", password="x", is_staff=True))
    response = client.get("/api/v1/matchmaking/requests/current/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"  # authenticated, no request


@pytest.mark.django_db
def test_the_site_policy_follows_its_setting_and_views_still_widen_it(client, settings):
    assert "'unsafe-inline'" in client.get("/api/docs/")["Content-Security-Policy"]  # csp_update on that page
    assert "'unsafe-inline'" not in client.get("/health/live")["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    assert client.get("/health/live")["Content-Security-Policy"] == "default-src 'none'"


@pytest.mark.parametrize(
    "path", ["/api/v1/nope/", "/api/v1/sessions/0123456789abcdef01234567/end", "/api/nope", "/api/v1/topics/a/b/"]
)
def test_an_unknown_api_path_is_the_json_404_under_debug_too(api, settings, path):
    """The dev server (`make run`, DEBUG on) answers as production does, not with Django's HTML technical 404."""
    settings.DEBUG = True
    response = api("alice").get(path)
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert response.headers.get("X-Request-ID")


@pytest.mark.django_db
def test_pages_keep_djangos_technical_404_under_debug(client, settings):
    settings.DEBUG = True
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    assert b"Django tried these URL patterns" in response.content


def _request(user_id: str, **fields) -> MatchmakingRequest:
    now = clock.now()
    defaults = {
        "learning_profile_id": "lp", "target_language_code": "en", "user_level": "A1", "preferred_duration": 10,
        "status": PENDING, "created_at": now, "expires_at": now + dt.timedelta(minutes=2),
    }  # fmt: skip
    return MatchmakingRequest(user_id=user_id, **{**defaults, **fields})


def test_insert_stores_what_save_stores_and_refuses_a_duplicate_pending_request():
    by_insert = insert(_request("alice"))
    by_save = _request("bob").save(force_insert=True)
    stored = {doc["userId"]: doc for doc in mongo.db()["matchmaking_request"].find()}
    assert {k for k in stored["alice"] if k != "_id"} == {k for k in stored["bob"] if k != "_id"}
    assert stored["alice"]["_id"] == by_insert.id and by_save.id != by_insert.id
    with pytest.raises(NotUniqueError):
        insert(_request("alice"))  # the unique index on pending requests, as save() reports it
    assert mongo.db()["matchmaking_request"].count_documents({"userId": "alice"}) == 1


def test_insert_stamps_timestamped_documents():
    session = ConversationSession(
        participant1_id="alice", participant2_id="bob", target_language_code="en", status="waiting",
        planned_duration_minutes=10,
    )  # fmt: skip
    insert(session)
    stored = mongo.db()["conversation_session"].find_one({"_id": session.id})
    assert stored["createdAt"] and stored["updatedAt"] and stored["participant1Id"] == "alice"


def test_where_compare_and_set_answers_who_won():
    request = insert(_request("alice"))
    assert Where(MatchmakingRequest, id=request.id, user_id="alice").first().status == PENDING
    assert Where(MatchmakingRequest, id=request.id, status=PENDING).update_one(
        set__status=MATCHED, set__session_id="s1", set__matched_with_user_id="bob"
    ) == 1  # fmt: skip
    assert Where(MatchmakingRequest, id=request.id, status=PENDING).update_one(set__status="cancelled") == 0
    assert Where(MatchmakingRequest, id=request.id, status=MATCHED).update_one(unset__session_id=True) == 1
    stored = mongo.db()["matchmaking_request"].find_one({"_id": request.id})
    assert stored["status"] == MATCHED and stored["matchedWithUserId"] == "bob" and "sessionId" not in stored
    assert Where(MatchmakingRequest, user_id="nobody").first() is None


def test_plain_fields_serializers_bind_their_own_copies_and_leave_the_declared_fields_unbound():
    body = {"learningProfileId": "lp", "targetLanguageCode": "en", "userLevel": "B1", "preferredDuration": 10}
    first, second = RequestCreateSerializer(data=body), RequestCreateSerializer(data={**body, "userLevel": "Z9"})
    assert first.is_valid() and not second.is_valid()
    assert list(second.errors) == ["userLevel"]
    for name, declared in RequestCreateSerializer._declared_fields.items():
        assert first.fields[name] is not second.fields[name] is not declared
        assert first.fields[name].parent is first and second.fields[name].parent is second
        assert getattr(declared, "parent", None) is None


def test_plain_fields_serializers_refuse_fields_that_hold_fields():
    with pytest.raises(TypeError, match="tags holds other fields"):

        class _Tagged(PlainFieldsSerializer):
            tags = serializers.ListField(child=serializers.CharField())


FROZEN_AT_START = """
import gc
import config.asgi
from matchmaking.views import RequestCreateView
print(gc.get_freeze_count(), gc.get_threshold()[0] == config.asgi.GC_YOUNG_THRESHOLD > 700,
      any(o is RequestCreateView for o in gc.get_objects()))
"""


def test_the_web_process_freezes_what_it_loaded_at_start_views_included():
    """The collector skips the startup objects; the views are among them (loaded before the first request)."""
    done = subprocess.run([sys.executable, "-c", FROZEN_AT_START], cwd=ROOT, capture_output=True, text=True, check=True)
    frozen, young_raised, view_scanned = done.stdout.split()
    assert int(frozen) > 50_000
    assert young_raised == "True"
    assert view_scanned == "False"  # a view loaded after the freeze would still be walked by every full pass
