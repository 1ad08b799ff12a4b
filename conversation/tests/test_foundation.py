"""The foundation: seed shapes in the real stores, settings, auth, operations endpoints."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import jwt
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings

from conversation import mongo
from conversation.auth import mint_token
from tests.processes import ROOT


def index_keys(collection: str) -> dict[str, tuple]:
    info = mongo.db()[collection].index_information()
    return {name: tuple(spec["key"]) for name, spec in info.items()} | {
        f"{name}:ttl": spec["expireAfterSeconds"] for name, spec in info.items() if "expireAfterSeconds" in spec
    }


def test_every_seed_index_exists_in_mongodb():
    topic = set(index_keys("topic").values())
    assert (("targetLanguageCode", 1), ("level", 1), ("isActive", 1)) in topic
    assert (("category", 1), ("targetLanguageCode", 1)) in topic

    session = set(index_keys("conversation_session").values())
    assert (("participant1Id", 1), ("createdAt", -1)) in session
    assert (("participant2Id", 1), ("createdAt", -1)) in session
    assert (("status", 1), ("targetLanguageCode", 1)) in session

    request = index_keys("matchmaking_request")
    assert (("userId", 1), ("status", 1)) in request.values()
    assert (("targetLanguageCode", 1), ("userLevel", 1), ("status", 1), ("createdAt", 1)) in request.values()
    assert request["expiresAt_1"] == (("expiresAt", 1),)
    assert request["expiresAt_1:ttl"] == 7 * 24 * 3600


def test_ttl_retention_change_is_applied_in_place(settings):
    from conversation.indexes import ensure_indexes

    settings.MATCHMAKING_REQUEST_HISTORY_DAYS = 3
    ensure_indexes()
    assert index_keys("matchmaking_request")["expiresAt_1:ttl"] == 3 * 24 * 3600


def test_ensure_indexes_drops_a_retired_index_and_keeps_the_rest():
    from conversation.indexes import ensure_indexes

    requests = mongo.db()["matchmaking_request"]
    requests.create_index([("status", 1), ("expiresAt", 1)])  # what a release before issue 17 created
    before = set(index_keys("matchmaking_request"))
    ensure_indexes()
    after = set(index_keys("matchmaking_request"))
    assert before - after == {"status_1_expiresAt_1"}
    assert "one_pending_per_user" in after and "expiresAt_1" in after
    ensure_indexes()  # idempotent: nothing left to drop
    assert set(index_keys("matchmaking_request")) == after


def test_documents_store_the_seeds_camel_case_fields(api):
    from topics.catalog import catalog_load

    catalog_load()
    stored = mongo.db()["topic"].find_one()
    assert set(stored) == {
        "_id", "targetLanguageCode", "level", "title", "description", "promptQuestions", "category",
        "estimatedDurationMinutes", "isActive", "createdAt", "updatedAt", "catalogKey", "titleKey", "searchText",
    }  # fmt: skip


def test_health_live_and_ready(client):
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["mongodb"] == "ok" and ready.json()["redis"] == "ok"


def test_ready_names_the_failing_store(client, monkeypatch):
    from pymongo.errors import ServerSelectionTimeoutError

    class DownDb:
        def command(self, *args, **kwargs):
            raise ServerSelectionTimeoutError("down")

    monkeypatch.setattr(mongo, "db", lambda: DownDb())
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["mongodb"]


def test_metrics_are_prometheus_text(client, settings):
    settings.METRICS_TOKEN = "scraper-token"  # tests run with DEBUG off, where /metrics needs it
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scraper-token")
    assert response.status_code == 200
    assert b"matchmaking_requests_total" in response.content or b"matchmaking_requests" in response.content
    assert b"matchmaking_time_to_match_seconds_bucket" in response.content


def test_openapi_schema_and_docs_render(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/matchmaking/requests/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_admin_requires_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_api_refuses_missing_expired_forged_and_none_tokens(api):
    url = "/api/v1/topics/"
    assert api().get(url).status_code == 401
    expired = jwt.encode(
        {"sub": "u1", "exp": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)}, settings.JWT_SECRET, "HS256"
    )
    forged = jwt.encode({"sub": "u1", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}, "x" * 32, "HS256")
    no_exp = jwt.encode({"sub": "u1"}, settings.JWT_SECRET, "HS256")
    alg_none = jwt.encode({"sub": "u1", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}, None, "none")
    for token in (expired, forged, no_exp, alg_none, "garbage"):
        client = api()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get(url)
        assert response.status_code == 401, token
    assert api("u1").get(url).status_code == 200


def test_audience_and_issuer_are_checked_when_configured(api, settings):
    settings.JWT_AUDIENCE = "conversation"
    settings.JWT_ISSUER = "identity"
    good = mint_token("u1")
    wrong = jwt.encode(
        {"sub": "u1", "aud": "other", "iss": "identity", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)},
        settings.JWT_SECRET,
        "HS256",
    )
    for token, expected in ((good, 200), (wrong, 401)):
        client = api()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.get("/api/v1/topics/").status_code == expected


def test_rs256_tokens_verified_with_the_public_key(api, settings):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings.JWT_PUBLIC_KEY, settings.JWT_ALGORITHMS = public, ["RS256"]
    exp = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    signed = jwt.encode({"sub": "u1", "exp": exp}, key, "RS256")
    # An HS256 token signed with the public key as secret (algorithm confusion) is refused.
    confused = jwt.encode({"sub": "u1", "exp": exp}, settings.JWT_SECRET, "HS256")
    for token, expected in ((signed, 200), (confused, 401)):
        client = api()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.get("/api/v1/topics/").status_code == expected


def test_a_rotated_secret_refuses_tokens_of_the_old_one_though_keys_are_prepared_once(api, settings):
    # conversation.auth memoizes PyJWT's key preparation: it must key on the secret, never serve a stale one.
    old = mint_token("u1")
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {old}")
    assert client.get("/api/v1/topics/").status_code == 200
    settings.JWT_SECRET = "rotated-" + "s" * 32
    assert client.get("/api/v1/topics/").status_code == 401
    assert api("u1").get("/api/v1/topics/").status_code == 200  # minted with the new secret
    # The memo keeps no failure: a PEM given as an HMAC secret is refused on every call, not once.
    for _ in range(2):
        with pytest.raises(jwt.InvalidKeyError):
            jwt.decode(old, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", algorithms=["HS256"])


def test_mint_token_command_prints_a_valid_token():
    out = subprocess.run(
        [sys.executable, "manage.py", "mint_token", "learner-9", "--staff", "--ttl", "60"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    claims = jwt.decode(out, settings.JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "learner-9" and claims["roles"] == ["staff"]
    assert claims["exp"] - claims["iat"] == 60


def test_production_refuses_to_start_without_secrets():
    env = {"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "0"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_bad_setting_value_fails_with_a_clear_message():
    env = {"PATH": "/usr/bin:/bin", "SESSION_HEARTBEAT_TIMEOUT_SECONDS": "soon"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "SESSION_HEARTBEAT_TIMEOUT_SECONDS must be an integer" in result.stderr


def _ws_close_code(path: str, headers=None) -> int | None:
    from config.asgi import application

    async def run():
        communicator = WebsocketCommunicator(application, path, headers=headers or [])
        connected, _ = await communicator.connect()
        if not connected:
            return None
        output = await communicator.receive_output(timeout=3)
        await communicator.disconnect()  # let the consumer finish before this event loop closes
        return output.get("code")

    return async_to_sync(run)()


def test_websocket_with_bad_token_is_closed_with_4401():
    assert _ws_close_code("/ws/v1/matchmaking/?token=not-a-jwt") == 4401
    assert _ws_close_code("/ws/v1/matchmaking/") == 4401


def test_websocket_from_a_foreign_browser_origin_is_refused():
    from config.asgi import application

    token = mint_token("u1")

    async def run(origin: bytes):
        communicator = WebsocketCommunicator(
            application, f"/ws/v1/matchmaking/?token={token}", headers=[(b"origin", origin)]
        )
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(run)(b"https://evil.example") is False
    assert async_to_sync(run)(b"http://localhost:8000") is True


def test_socket_frames_and_pushes_are_handled_without_closing_sql_connections_each_time(monkeypatch):
    """Sockets never use the SQL database: no thread hop to close its connections per frame or push."""
    import channels.db

    from conversation.events import apush, user_group
    from tests.helpers import next_event, open_socket

    closes = []
    monkeypatch.setattr(channels.db, "close_old_connections", lambda: closes.append(1))

    async def run():
        socket = await open_socket("/ws/v1/matchmaking/", "alice")
        for _ in range(3):
            await socket.send_json_to({"type": "ping"})
            assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
        await apush(user_group("alice"), "request.expired", {"request": {"id": "r1"}})
        pushed = await next_event(socket, "request.expired")
        await socket.disconnect()
        return pushed

    assert async_to_sync(run)()["request"] == {"id": "r1"}
    assert closes == []


class _EndsWithZ(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.endswith("Z")

    __hash__ = str.__hash__


ANY_Z = _EndsWithZ()


@pytest.mark.timeout(90)
def test_a_celery_task_round_trips_through_the_real_broker_and_worker(celery_worker_process):
    from conversation.request_id import reset_request_id, set_request_id
    from conversation.tasks import ping

    assert ping.delay().get(timeout=30) == {"serverTime": ANY_Z, "requestId": None}
    token = set_request_id("req-42.a")  # as while serving a request with X-Request-ID: req-42.a
    try:
        assert ping.delay().get(timeout=30)["requestId"] == "req-42.a"
    finally:
        reset_request_id(token)


def test_beat_table_names_only_registered_tasks():
    from config.celery import app, beat_schedule

    app.loader.import_default_modules()
    for entry in beat_schedule().values():
        assert entry["task"] in app.tasks, entry["task"]
        assert entry["options"]["expires"] < entry["schedule"]
