"""Hostile input against the real stores: schema fuzzing, the authorization matrix, forged tokens,
oversized and malformed input, and rate limits under a concurrent burst on two uvicorn processes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import schemathesis
from asgiref.sync import async_to_sync
from bson import ObjectId
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from config.asgi import application as asgi_app
from config.wsgi import application as wsgi_app
from conversation import redis_keys
from conversation.auth import mint_token
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from sessions_app.consumers import SessionConsumer
from sessions_app.documents import ConversationSession
from tests.helpers import ask, request_body
from tests.hostile import call, hs256_signed_with, socket_outcome, wait_for_fresh_window
from tests.processes import web_servers

TOPIC = {
    "targetLanguageCode": "fr", "level": "B1", "title": "Food", "category": "daily_life",
    "estimatedDurationMinutes": 10, "promptQuestions": ["What did you eat today?"],
}  # fmt: skip
FEEDBACK = {"partnerRating": 5, "connectionQuality": 4, "topicRating": 3, "talkAgain": True, "levelFeltRight": True}


def tomorrow() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()


# --- 1. Schemathesis against the service's own OpenAPI schema ---------------------------------------------------

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
FUZZ_IDS: dict[str, list[str]] = {}


@SCHEMA.hook
def flatmap_path_parameters(context, path_parameters: dict[str, Any] | None):
    """Generated ids (malformed or unknown: 404) and the fuzzer's real ones, so the handlers behind them run too."""
    if not path_parameters:
        return st.just(path_parameters)
    choices = [dict(path_parameters)]
    for name, value in path_parameters.items():
        real = FUZZ_IDS.get(name, [])
        if name == "request_id":  # looked up live: the fuzzer creates and cancels requests as it goes
            real = [str(r.id) for r in MatchmakingRequest.objects(user_id="seeker").only("id")]
        choices += [{**path_parameters, name: id_} for id_ in real if id_ != value]
    return st.sampled_from(choices)


def fuzz_token(path: str) -> str:
    """A staff curator for topics (so writes pass), a fresh seeker for matchmaking, a participant for sessions."""
    if path.startswith("/api/v1/topics"):
        return mint_token("curator", staff=True)
    if path.startswith("/api/v1/matchmaking"):
        return mint_token("seeker")
    return mint_token("fuzzer")


# Schemathesis also forges `sessionid` cookies (ignored_auth), which Django looks up in the SQL test database.
# The calls run on this thread so that connection stays on it: opened on the main thread, it would stay open for
# the rest of the module, and the consumers of the socket tests (which close stale connections on every frame)
# would trip on pytest-django's database blocker.
SQL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz-sql")


@pytest.fixture
def fuzz_world(settings, api, django_db_setup, django_db_blocker) -> Iterator[None]:
    settings.MATCHMAKING_RATE_LIMIT_PER_MINUTE = 1_000_000
    settings.SESSION_INVITATIONS_PER_HOUR = 1_000_000
    topic = api("curator", staff=True).post("/api/v1/topics/", TOPIC, format="json").json()["id"]
    ask(api, "partner-1")
    done = ask(api, "fuzzer").json()["sessionId"]
    for user in ("fuzzer", "partner-1"):
        api(user).post(f"/api/v1/sessions/{done}/heartbeat/")
    api("fuzzer").post(f"/api/v1/sessions/{done}/end/")
    ask(api, "partner-2")
    live = ask(api, "fuzzer").json()["sessionId"]
    seeker = ask(api, "seeker", targetLanguageCode="es").json()["id"]
    api("seeker").delete(f"/api/v1/matchmaking/requests/{seeker}/")
    FUZZ_IDS.update(id=[topic], session_id=[done, live])
    with django_db_blocker.unblock():
        yield
    FUZZ_IDS.clear()


@SCHEMA.parametrize()
@hypothesis_settings(
    max_examples=40, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
def test_fuzzed_requests_get_no_server_error_and_conform_to_the_schema(case, fuzz_world):
    # Every check but two: positive_data_acceptance wants 2xx for schema-valid data, which rules the schema cannot
    # state refuse with a 400 (a past scheduledAt, an unknown topicId, a blank string once trimmed);
    # negative_data_rejection wants 4xx for type-confused data, which DRF coerces on purpose ("5" -> 5, 0 -> false).
    SQL_THREAD.submit(
        case.call_and_validate,
        headers={"Authorization": f"Bearer {fuzz_token(case.operation.path)}"},
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    ).result()


# --- 2. Authorization matrix ------------------------------------------------------------------------------------

ROLES = ("owner", "partner", "outsider", "staff", "anonymous")
ROLE_USERS = {"owner": "alice", "partner": "bob", "outsider": "mallory", "staff": "root"}


@dataclass(frozen=True)
class World:
    topic: str
    hidden_topic: str
    session: str  # waiting, alice (participant1) and bob, with a stored recording
    done: str  # completed, alice and bob
    request: str  # alice's matched request for `session`


@pytest.fixture
def world(api, settings) -> World:
    staff = api("root", staff=True)
    topic = staff.post("/api/v1/topics/", TOPIC, format="json").json()["id"]
    hidden = staff.post("/api/v1/topics/", {**TOPIC, "title": "Draft", "isActive": False}, format="json").json()["id"]
    ask(api, "alice")
    done = ask(api, "bob").json()["sessionId"]
    for user in ("alice", "bob"):
        api(user).post(f"/api/v1/sessions/{done}/heartbeat/")
    assert api("alice").post(f"/api/v1/sessions/{done}/end/").json()["status"] == "completed"
    request = ask(api, "alice").json()["id"]
    session = ask(api, "bob").json()["sessionId"]
    assert session and session != done
    ConversationSession.objects(id=session).update_one(
        set__audio_recording_url=f"s3://{settings.S3_BUCKET}/recordings/{session}/take.webm"
    )
    return World(topic=topic, hidden_topic=hidden, session=session, done=done, request=request)


Body = dict | Callable[[], dict] | None
# name, method, path ({field} of World), body, expected status for owner partner outsider staff anonymous
MATRIX: list[tuple[str, str, str, Body, str]] = [
    ("topics list", "get", "/api/v1/topics/", None, "200 200 200 200 401"),
    ("topics detail", "get", "/api/v1/topics/{topic}/", None, "200 200 200 200 401"),
    ("topics detail inactive", "get", "/api/v1/topics/{hidden_topic}/", None, "404 404 404 200 401"),
    ("topics random", "get", "/api/v1/topics/random/?targetLanguageCode=fr&level=B1", None, "200 200 200 200 401"),
    ("topics create", "post", "/api/v1/topics/", {**TOPIC, "title": "Street food"}, "403 403 403 201 401"),
    ("topics update", "put", "/api/v1/topics/{topic}/", TOPIC, "403 403 403 200 401"),
    ("topics partial update", "patch", "/api/v1/topics/{topic}/", {"title": "Cooking"}, "403 403 403 200 401"),
    ("topics delete", "delete", "/api/v1/topics/{topic}/", None, "403 403 403 204 401"),
    ("matchmaking create", "post", "/api/v1/matchmaking/requests/", request_body(), "409 409 201 201 401"),
    ("matchmaking current", "get", "/api/v1/matchmaking/requests/current/", None, "200 200 404 404 401"),
    ("matchmaking detail", "get", "/api/v1/matchmaking/requests/{request}/", None, "200 404 404 404 401"),
    ("matchmaking cancel", "delete", "/api/v1/matchmaking/requests/{request}/", None, "409 404 404 404 401"),
    ("matchmaking queues", "get", "/api/v1/matchmaking/queues/", None, "200 200 200 200 401"),
    ("sessions list", "get", "/api/v1/sessions/", None, "200 200 200 200 401"),
    ("sessions current", "get", "/api/v1/sessions/current/", None, "200 200 404 404 401"),
    ("sessions detail", "get", "/api/v1/sessions/{session}/", None, "200 200 404 404 401"),
    ("sessions schedule", "post", "/api/v1/sessions/",
     lambda: {"participant2Id": "dave", "targetLanguageCode": "fr", "scheduledAt": tomorrow()}, "201 201 201 201 401"),
    ("sessions heartbeat", "post", "/api/v1/sessions/{session}/heartbeat/", None, "200 200 404 404 401"),
    ("sessions end", "post", "/api/v1/sessions/{session}/end/", None, "409 409 404 404 401"),
    ("sessions cancel", "post", "/api/v1/sessions/{session}/cancel/", None, "200 200 404 404 401"),
    ("sessions report", "post", "/api/v1/sessions/{session}/report/", {"reason": "abuse"}, "200 200 404 404 401"),
    ("sessions recording consent", "put", "/api/v1/sessions/{session}/recording-consent/", {"consent": True},
     "200 200 404 404 401"),
    ("sessions upload url", "post", "/api/v1/sessions/{session}/recording/upload-url/", {}, "409 409 404 404 401"),
    ("sessions upload complete", "post", "/api/v1/sessions/{session}/recording/complete/",
     {"key": "recordings/elsewhere/take.webm"}, "400 400 404 404 401"),
    ("sessions recording", "get", "/api/v1/sessions/{session}/recording/", None, "200 200 404 404 401"),
    ("sessions feedback", "post", "/api/v1/sessions/{done}/feedback/", FEEDBACK, "201 201 404 404 401"),
]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX])
def test_authorization_matrix(api, world, role, method, path, body, expected):
    user = ROLE_USERS.get(role)
    client = api(user, staff=role == "staff")
    payload = body() if callable(body) else body
    response = getattr(client, method)(path.format(**vars(world)), payload, format="json")
    assert response.status_code == int(expected.split()[ROLES.index(role)]), response.content
    if response.status_code != 204:
        assert response["Content-Type"] == "application/json"
    if response.status_code == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


SESSION_SOCKET = {"owner": "session.state", "partner": "session.state", "outsider": 4403, "staff": 4403,
                  "anonymous": 4401}  # fmt: skip
MATCHMAKING_SOCKET = {"owner": "pong", "partner": "pong", "outsider": "pong", "staff": "pong", "anonymous": 4401}


@pytest.mark.parametrize("role", ROLES)
def test_socket_matrix(world, role):
    user = ROLE_USERS.get(role)
    token = mint_token(user, staff=role == "staff") if user else None
    session = async_to_sync(socket_outcome)(f"/ws/v1/sessions/{world.session}/", token)
    matchmaking = async_to_sync(socket_outcome)("/ws/v1/matchmaking/", token)
    assert (session, matchmaking) == (SESSION_SOCKET[role], MATCHMAKING_SOCKET[role])


def test_session_socket_close_codes_for_unknown_malformed_and_ended_sessions(world):
    token = mint_token("alice")
    outcomes = {
        path: async_to_sync(socket_outcome)(path, token)
        for path in (
            f"/ws/v1/sessions/{ObjectId()}/", "/ws/v1/sessions/zzz/", f"/ws/v1/sessions/{world.session}x/",
            "/ws/v1/sessions/a/b/", "/ws/v1/nowhere/", f"/ws/v1/sessions/{world.done}/",
        )
    }  # fmt: skip
    # An ended session: `session.ended` first, then 4410 (tests/test_contract.py follows it to the close).
    assert list(outcomes.values()) == [4404, 4404, 4404, 4404, 4404, "session.ended"]
    for path in (f"/ws/v1/sessions/{world.session}/?token=", "/ws/v1/nowhere/"):
        assert async_to_sync(socket_outcome)(path, None) == 4401  # the token comes before the route


# --- 3. Tokens --------------------------------------------------------------------------------------------------


def _exp(seconds: int = 3600) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class TokenCase:
    bad: str
    good: str  # valid under the same settings: the refusal is the defect's, not the configuration's


def _rsa_key() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem.decode()


def token_case(name: str, settings) -> TokenCase:
    secret = settings.JWT_SECRET
    claims = {"sub": "alice", "exp": _exp()}
    if name in {"wrong audience", "missing audience"}:
        settings.JWT_AUDIENCE = "conversation"
        aud = {"aud": "billing"} if name == "wrong audience" else {}
        return TokenCase(jwt.encode({**claims, **aud}, secret, "HS256"), mint_token("alice"))
    if name in {"wrong issuer", "missing issuer"}:
        settings.JWT_ISSUER = "identity"
        iss = {"iss": "evil"} if name == "wrong issuer" else {}
        return TokenCase(jwt.encode({**claims, **iss}, secret, "HS256"), mint_token("alice"))
    if name in {"HS256 signed with the RS256 public key", "RS256 signed by another key", "none under RS256"}:
        key, public = _rsa_key()
        settings.JWT_PUBLIC_KEY, settings.JWT_ALGORITHMS = public, ["RS256"]
        bad = {
            "HS256 signed with the RS256 public key": lambda: hs256_signed_with(claims, public.encode()),
            "RS256 signed by another key": lambda: jwt.encode(claims, _rsa_key()[0], "RS256"),
            "none under RS256": lambda: jwt.encode(claims, None, "none"),
        }[name]()
        return TokenCase(bad, jwt.encode(claims, key, "RS256"))
    bad = {
        "forged signature": lambda: jwt.encode(claims, "x" * 32, "HS256"),
        "expired": lambda: jwt.encode({**claims, "exp": _exp(-5)}, secret, "HS256"),
        "alg none": lambda: jwt.encode(claims, None, "none"),
        "no exp": lambda: jwt.encode({"sub": "alice"}, secret, "HS256"),
        "missing sub": lambda: jwt.encode({"exp": _exp()}, secret, "HS256"),
        "sub not a user id": lambda: jwt.encode({**claims, "sub": "alice/../bob"}, secret, "HS256"),
        "sub not a string": lambda: jwt.encode({**claims, "sub": 42}, secret, "HS256"),
        "HS512 with the right secret": lambda: jwt.encode(claims, secret, "HS512"),
        "not yet valid": lambda: jwt.encode({**claims, "nbf": _exp(600)}, secret, "HS256"),
        "roles not a list": lambda: jwt.encode({**claims, "roles": {"staff": True}}, secret, "HS256"),
        "garbage": lambda: "not.a.jwt",
    }[name]()
    return TokenCase(bad, mint_token("alice"))


# Refused on HTTP by tests/test_foundation.py already; here only on the sockets.
HTTP_COVERED = ["forged signature", "expired", "alg none", "no exp", "wrong audience", "garbage"]
HTTP_NEW = [
    "missing audience", "wrong issuer", "missing issuer", "missing sub", "sub not a user id", "sub not a string",
    "HS512 with the right secret", "not yet valid", "roles not a list", "HS256 signed with the RS256 public key",
    "RS256 signed by another key", "none under RS256",
]  # fmt: skip


@pytest.mark.parametrize("name", HTTP_NEW)
def test_hostile_token_is_refused_on_http(api, settings, name):
    case = token_case(name, settings)
    results = []
    for token in (case.bad, case.good):
        client = api()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        results.append(client.get("/api/v1/sessions/").status_code)
    assert results == [401, 200]


@pytest.mark.parametrize("name", HTTP_COVERED + HTTP_NEW)
def test_hostile_token_is_refused_on_both_sockets(world, settings, name):
    case = token_case(name, settings)
    paths = ("/ws/v1/matchmaking/", f"/ws/v1/sessions/{world.session}/")
    outcomes = [async_to_sync(socket_outcome)(path, token) for token in (case.bad, case.good) for path in paths]
    assert outcomes == [4401, 4401, "pong", "session.state"]


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Basic YWxpY2U6c2VjcmV0", "bearer " + "A" * 5000, "Bearer \u00e9t\u00e9"]
)
def test_malformed_authorization_headers_are_401(api, header):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/matchmaking/requests/current/")
    assert response.status_code == 401 and "detail" in response.json()


# --- 4. Oversized and malformed input ---------------------------------------------------------------------------

# (user, method, path, a valid body): every endpoint that reads a JSON body.
BODY_ENDPOINTS = [
    ("root", "post", "/api/v1/topics/", TOPIC),
    ("root", "put", "/api/v1/topics/{topic}/", TOPIC),
    ("root", "patch", "/api/v1/topics/{topic}/", {"title": "Cooking"}),
    ("carol", "post", "/api/v1/matchmaking/requests/", request_body()),
    ("alice", "post", "/api/v1/sessions/", {"participant2Id": "dave", "targetLanguageCode": "fr"}),
    ("alice", "post", "/api/v1/sessions/{session}/report/", {"reason": "abuse"}),
    ("alice", "put", "/api/v1/sessions/{session}/recording-consent/", {"consent": True}),
    ("alice", "post", "/api/v1/sessions/{session}/recording/upload-url/", {}),
    ("alice", "post", "/api/v1/sessions/{session}/recording/complete/", {"key": "recordings/x.webm"}),
    ("alice", "post", "/api/v1/sessions/{done}/feedback/", FEEDBACK),
]
BODY_IDS = [f"{method} {path}" for _user, method, path, _body in BODY_ENDPOINTS]


def send_raw(api, world: World, user: str, method: str, path: str, data: bytes, content_type: str):
    client = api(user, staff=user == "root")
    return getattr(client, method)(path.format(**vars(world)), data=data, content_type=content_type)


@pytest.mark.parametrize(("user", "method", "path", "body"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_every_json_endpoint_refuses_oversized_malformed_and_non_json_bodies(api, world, settings, user, method,
                                                                             path, body):  # fmt: skip
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    oversized = json.dumps({**body, "padding": "x" * limit}).encode()
    cases = [
        (oversized, "application/json", 413),
        (b'{"reason": ', "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        (b"[" * (limit - 1), "application/json", 400),  # nested past Python's recursion limit, under the size limit
        (b"reason=abuse", "application/x-www-form-urlencoded", 415),
        (json.dumps(body).encode(), "text/plain", 415),
    ]
    for data, content_type, expected in cases:
        response = send_raw(api, world, user, method, path, data, content_type)
        assert (response.status_code, response["Content-Type"]) == (expected, "application/json"), (data[:30], response)
        assert isinstance(response.json()["detail"], str)


def test_oversized_body_through_a_real_server_is_413_json(limited_servers):
    status, headers, body = call("POST", f"{limited_servers[0]}/api/v1/matchmaking/requests/", mint_token("carol"),
                                 {**request_body(), "padding": "x" * 70_000})  # fmt: skip
    limit = django_settings.MAX_REQUEST_BODY_BYTES
    expected = {"detail": f"Request body too large: at most {limit} bytes.", "code": "payload_too_large"}
    assert (status, headers["content-type"], body) == (413, "application/json", expected)


MALFORMED_IDS = ["zzz", "0" * 23, "0" * 25, "g" * 24, "a.b", "..", "%00", "a%2Fb", "%C3%A9" * 24, str(ObjectId())]
SESSION_ACTIONS = (
    "heartbeat/",
    "end/",
    "cancel/",
    "report/",
    "recording/upload-url/",
    "recording/complete/",
    "feedback/",
)
# (user, method, path with {id}): every endpoint addressed by an id.
ID_ENDPOINTS = [
    ("root", "get", "/api/v1/topics/{id}/"),
    ("root", "put", "/api/v1/topics/{id}/"),
    ("root", "delete", "/api/v1/topics/{id}/"),
    ("alice", "get", "/api/v1/matchmaking/requests/{id}/"),
    ("alice", "delete", "/api/v1/matchmaking/requests/{id}/"),
    ("alice", "get", "/api/v1/sessions/{id}/"),
    ("alice", "get", "/api/v1/sessions/{id}/recording/"),
    ("alice", "put", "/api/v1/sessions/{id}/recording-consent/"),
    *[("alice", "post", f"/api/v1/sessions/{{id}}/{action}") for action in SESSION_ACTIONS],
]


@pytest.mark.parametrize(("user", "method", "path"), ID_ENDPOINTS, ids=[f"{m} {p}" for _u, m, p in ID_ENDPOINTS])
def test_malformed_and_unknown_ids_are_json_404s(api, user, method, path):
    client = api(user, staff=user == "root")
    for bad_id in MALFORMED_IDS:
        response = getattr(client, method)(path.format(id=bad_id), {}, format="json")
        assert (response.status_code, response["Content-Type"]) == (404, "application/json"), bad_id
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_an_api_path_without_its_trailing_slash_is_a_json_404_not_a_redirect(api, world):
    """Django's APPEND_SLASH redirected it (301, an HTML body, a POST's body lost; under DEBUG, a 500)."""
    for method, path in (("post", f"/api/v1/sessions/{world.session}/end"), ("get", "/api/v1/topics")):
        response = getattr(api("alice"), method)(path, {}, format="json")
        assert (response.status_code, response["Content-Type"]) == (404, "application/json"), path
        assert response.json()["code"] == "not_found"
    assert ConversationSession.objects.get(id=world.session).status == "waiting"
    admin = api().get("/admin")  # pages keep Django's redirect
    assert (admin.status_code, admin["Location"]) == (301, "/admin/")


@pytest.mark.parametrize(
    "query",
    ["search=%00", "search=" + "a" * 201, "level=" + "B" * 17, "a=1&" * 1200],
    ids=["nul", "long", "level", "many"],
)
def test_hostile_query_strings_are_json_400s(api, query):
    response = api("alice").get(f"/api/v1/topics/?{query}")
    assert (response.status_code, response["Content-Type"]) == (400, "application/json")


def test_type_confused_feedback_is_stored_and_answered_normalized(api, world):
    body = {**FEEDBACK, "partnerRating": "5", "talkAgain": "true", "comment": "  merci  "}
    response = api("alice").post(f"/api/v1/sessions/{world.done}/feedback/", body, format="json")
    assert response.status_code == 201
    given = response.json()
    assert (given["partnerRating"], given["talkAgain"], given["comment"]) == (5, True, "merci")
    assert (given["sessionId"], given["userId"]) == (world.done, "alice")


@pytest.fixture(params=["matchmaking", "session"])
def socket_path(request, world) -> str:
    return "/ws/v1/matchmaking/" if request.param == "matchmaking" else f"/ws/v1/sessions/{world.session}/"


@pytest.mark.timeout(60)
def test_socket_frames_over_the_byte_limit_close_with_1009(settings, socket_path):
    limit = settings.WEBSOCKET_MAX_MESSAGE_BYTES
    frames = [
        {"text_data": "x" * (limit + 1)},
        {"text_data": "\u00e9" * (limit // 2 + 1)},  # fewer characters than the limit, more bytes
        {"bytes_data": b"\x00" * (limit + 1)},
    ]

    async def close_code(frame: dict) -> int:
        communicator = WebsocketCommunicator(asgi_app, f"{socket_path}?token={mint_token('alice')}")
        assert (await communicator.connect())[0]
        await communicator.send_to(**frame)
        output = await communicator.receive_output(timeout=3)
        while output["type"] != "websocket.close":
            output = await communicator.receive_output(timeout=3)
        await communicator.disconnect(timeout=0.1)
        return output["code"]

    assert [async_to_sync(close_code)(frame) for frame in frames] == [1009, 1009, 1009]


def test_hostile_frames_get_an_error_and_the_socket_stays_open(socket_path):
    not_json, unknown = "Expected a JSON text frame.", "Unknown message type."
    frames = [
        ({"bytes_data": b"\x00\x01"}, not_json), ({"text_data": "{not json"}, not_json),
        ({"text_data": "[" * 5000}, not_json),
        ({"text_data": '{"type": "close"}'}, unknown), ({"text_data": '{"type": "open"}'}, unknown),
        ({"text_data": '{"type": {}}'}, unknown), ({"text_data": '["heartbeat"]'}, unknown),
        ({"text_data": "null"}, unknown),
        # Python's parser takes these; JSON does not, nor would the partner's parser once relayed.
        ({"text_data": '{"type": "heartbeat", "x": NaN}'}, not_json),
        ({"text_data": '{"type": "heartbeat", "x": -Infinity}'}, not_json),
        ({"text_data": '{"type": "heartbeat", "x": 1e999}'}, not_json),
    ]  # fmt: skip

    async def scenario() -> tuple[list[dict], str]:
        communicator = WebsocketCommunicator(asgi_app, f"{socket_path}?token={mint_token('alice')}")
        assert (await communicator.connect())[0]
        if "sessions" in socket_path:
            await communicator.receive_json_from(timeout=3)  # session.state
        replies = []
        for frame, _said in frames:
            await communicator.send_to(**frame)
            replies.append(await communicator.receive_json_from(timeout=3))
        await communicator.send_json_to({"type": "ping" if "matchmaking" in socket_path else "heartbeat"})
        alive = (await communicator.receive_json_from(timeout=3))["type"]
        await communicator.disconnect(timeout=0.1)
        return replies, alive

    replies, alive = async_to_sync(scenario)()
    assert [(r["type"], r["code"], r["detail"]) for r in replies] == [
        ("error", "bad_message", said) for _f, said in frames
    ]
    assert alive in {"pong", "heartbeat.ack"}


def test_signal_payloads_the_channel_layer_cannot_carry_get_an_error_and_nothing_is_relayed(world):
    """msgpack (the layer's format) refuses integers past 64 bits and unpaired surrogates:
    the sender gets `bad_message`, the socket stays open, the partner hears nothing (it used to kill the socket)."""
    payloads = [
        '{"n": 18446744073709551616}', '{"n": -9223372036854775809}', '{"s": "\\ud800"}',
    ]  # fmt: skip
    path = f"/ws/v1/sessions/{world.session}/"

    async def scenario() -> tuple[list[dict], str, list[dict]]:
        alice = WebsocketCommunicator(asgi_app, f"{path}?token={mint_token('alice')}")
        bob = WebsocketCommunicator(asgi_app, f"{path}?token={mint_token('bob')}")
        for socket in (alice, bob):
            assert (await socket.connect())[0]
            await socket.receive_json_from(timeout=3)  # session.state
        replies = []
        for payload in payloads:
            await alice.send_to(text_data='{"type": "signal", "payload": ' + payload + "}")
            replies.append(await alice.receive_json_from(timeout=3))
        await alice.send_json_to({"type": "signal", "payload": {"sdp": "offer"}})
        await alice.send_json_to({"type": "heartbeat"})
        alive = (await alice.receive_json_from(timeout=3))["type"]
        heard = [await bob.receive_json_from(timeout=3)]
        heard += [await bob.receive_json_from(timeout=3) for _ in range(await _pending(bob))]
        for socket in (alice, bob):
            await socket.disconnect(timeout=0.1)
        return replies, alive, heard

    replies, alive, heard = async_to_sync(scenario)()
    assert [(r["type"], r["code"]) for r in replies] == [("error", "bad_message")] * len(payloads)
    assert alive == "heartbeat.ack"
    assert [e for e in heard if e["type"] == "signal"] == [
        {"type": "signal", "from": "alice", "payload": {"sdp": "offer"}}
    ]


def test_signal_payloads_nested_near_the_recursion_limit_never_kill_the_socket(world):
    """Decoding and msgpack's packing both stop at the interpreter's recursion limit, the packing deeper in the
    stack: each payload is either relayed or refused with `bad_message`, and the socket stays open."""
    depths = range(900, 1001, 5)
    path = f"/ws/v1/sessions/{world.session}/"

    async def scenario() -> list[dict]:
        alice = WebsocketCommunicator(asgi_app, f"{path}?token={mint_token('alice')}")
        bob = WebsocketCommunicator(asgi_app, f"{path}?token={mint_token('bob')}")
        for socket in (alice, bob):
            assert (await socket.connect())[0]
            await socket.receive_json_from(timeout=3)  # session.state
        for depth in depths:
            payload = '{"deep": ' + "[" * depth + "]" * depth + "}"
            await alice.send_to(text_data='{"type": "signal", "payload": ' + payload + "}")
        await alice.send_json_to({"type": "heartbeat"})
        told = []
        while (frame := await alice.receive_json_from(timeout=5))["type"] != "heartbeat.ack":
            told.append(frame)
        relayed = 0  # the rest reach the partner (with `partner.joined`, alice's heartbeat being her join)
        while relayed < len(depths) - len(told):
            relayed += (await bob.receive_json_from(timeout=5))["type"] == "signal"
        for socket in (alice, bob):
            await socket.disconnect(timeout=0.1)
        return told

    told = async_to_sync(scenario)()
    assert {(frame["type"], frame["code"]) for frame in told} <= {("error", "bad_message")}


async def _pending(communicator: WebsocketCommunicator) -> int:
    """How many frames wait for the test on `communicator` after a short pause."""
    await communicator.receive_nothing(timeout=0.2)
    return communicator.output_queue.qsize()


def test_a_socket_whose_handler_fails_gives_its_slot_back(world, monkeypatch):
    """A bug in a handler ends the consumer without `disconnect`: its per-user slot goes back at once
    (it used to be renewed until the token expired, so ten such sockets locked the user out with 4429)."""

    async def broken(self, content):
        raise RuntimeError("a handler's bug")

    monkeypatch.setattr(SessionConsumer, "on_heartbeat", broken)

    async def scenario() -> int:
        alice = WebsocketCommunicator(asgi_app, f"/ws/v1/sessions/{world.session}/?token={mint_token('alice')}")
        assert (await alice.connect())[0]
        await alice.receive_json_from(timeout=3)  # session.state
        assert redis().zcard(redis_keys.user_sockets("alice")) == 1
        await alice.send_json_to({"type": "heartbeat"})
        with pytest.raises(RuntimeError, match="a handler's bug"):
            await alice.receive_output(timeout=3)
        return redis().zcard(redis_keys.user_sockets("alice"))

    assert async_to_sync(scenario)() == 0


# --- 5. Rate limits under a concurrent burst on two web processes ------------------------------------------------

BURST_LIMIT = 5


@pytest.fixture(scope="module")
def limited_servers() -> Iterator[list[str]]:
    with web_servers(2, env={"MATCHMAKING_RATE_LIMIT_PER_MINUTE": str(BURST_LIMIT)}) as urls:
        yield urls


@pytest.mark.timeout(120)
def test_a_concurrent_burst_lets_exactly_the_limit_through(limited_servers):
    token = mint_token("burster")
    wait_for_fresh_window()

    def post(index: int):
        return call("POST", f"{limited_servers[index % 2]}/api/v1/matchmaking/requests/", token, request_body())

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(post, range(50)))

    passed = [(status, body) for status, _headers, body in results if status != 429]
    limited = [headers for status, headers, _body in results if status == 429]
    assert sorted(status for status, _body in passed) == [201] + [409] * (BURST_LIMIT - 1)
    assert {body["code"] for status, body in passed if status == 409} == {"request_pending"}
    assert len(limited) == 50 - BURST_LIMIT
    assert all(1 <= int(headers["retry-after"]) <= 60 for headers in limited)
    assert MatchmakingRequest.objects(user_id="burster").count() == 1
    other = call("POST", f"{limited_servers[1]}/api/v1/matchmaking/requests/", mint_token("bystander"), request_body())
    assert other[0] == 201  # the limit is per user
