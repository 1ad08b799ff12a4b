"""The contract a generated client relies on: one error shape, request ids, rate-limit and replay
headers, strict pagination, a schema strict validators and client generators accept, socket rules."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from openapi_spec_validator import validate as validate_spec

from conversation import redis_keys
from conversation.logs import RequestIdFilter
from conversation.redis import client as redis_client
from sessions_app.documents import ConversationSession
from tests.contract import served_schema
from tests.helpers import ask, next_event, open_socket, request_body

REQUESTS = "/api/v1/matchmaking/requests/"


def test_every_error_has_one_shape_with_a_stable_code(api, settings):
    alice = api("alice")
    bad = alice.post(REQUESTS, request_body(userLevel="Z9", preferredDuration=7), format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    assert set(bad.json()["fields"]) == {"userLevel", "preferredDuration"}
    assert bad.json()["detail"] == 'userLevel: "Z9" is not a valid choice.'
    unknown = alice.post(REQUESTS, request_body(surprise=1), format="json")
    assert unknown.json()["fields"] == {"surprise": ["Unknown field."]}
    key = alice.post(REQUESTS, request_body(), format="json", HTTP_IDEMPOTENCY_KEY="no spaces")
    assert key.status_code == 400 and list(key.json()["fields"]) == ["Idempotency-Key"]
    malformed = alice.post(REQUESTS, "{nope", content_type="application/json")
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid" and "fields" not in malformed.json()
    cases = [
        (api().get(REQUESTS + "current/"), 401, "not_authenticated"),
        (api().get(REQUESTS + "current/", HTTP_AUTHORIZATION="Bearer forged"), 401, "not_authenticated"),
        (alice.post("/api/v1/topics/", {}, format="json"), 403, "permission_denied"),
        (alice.get(REQUESTS + "current/"), 404, "not_found"),
        (alice.get("/api/v1/no-such-thing/"), 404, "not_found"),
        (alice.patch(REQUESTS + "current/"), 405, "method_not_allowed"),
        (alice.post(REQUESTS, "x", content_type="text/plain"), 415, "unsupported_media_type"),
    ]
    for response, status, code in cases:
        body = response.json()
        assert (response.status_code, body["code"]) == (status, code), body
        assert set(body) == {"detail", "code"} and body["detail"]
    assert ask(api, "alice").status_code == 201
    conflict = ask(api, "alice")
    assert conflict.status_code == 409 and conflict.json()["code"] == "request_pending"


def test_rate_limited_endpoints_send_ratelimit_headers_and_429_in_the_shape(api, settings, frozen_clock):
    settings.MATCHMAKING_RATE_LIMIT_PER_MINUTE = 2
    first = ask(api, "alice")
    assert first["RateLimit-Limit"] == "2" and first["RateLimit-Remaining"] == "1"
    assert 0 < int(first["RateLimit-Reset"]) <= 60
    api("alice").delete(f"{REQUESTS}{first.json()['id']}/")
    assert ask(api, "alice")["RateLimit-Remaining"] == "0"
    refused = ask(api, "alice")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1 and refused["RateLimit-Remaining"] == "0"


def test_idempotent_replay_is_marked_and_another_body_is_a_422(api):
    alice = api("alice")
    first = alice.post(REQUESTS, request_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    # Key order is not a different body.
    again = alice.post(REQUESTS, dict(reversed(request_body().items())), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert "Idempotent-Replayed" not in first and again["Idempotent-Replayed"] == "true"
    other = alice.post(REQUESTS, request_body(userLevel="C1"), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_request_id_is_echoed_or_generated_and_in_the_log_lines(api):
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(f"[{record.request_id}] {record.getMessage()}")

    handler = Collect()
    handler.addFilter(RequestIdFilter())
    logging.getLogger("django.request").addHandler(handler)
    try:
        mine = api("alice").get(REQUESTS + "current/", HTTP_X_REQUEST_ID="client-id.1_x")
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    assert mine["X-Request-ID"] == "client-id.1_x"
    assert any(line.startswith("[client-id.1_x] Not Found") for line in lines), lines
    for hostile in ("x" * 65, "has space", "new\u00e9"):
        generated = api("alice").get("/api/v1/nowhere/", HTTP_X_REQUEST_ID=hostile)["X-Request-ID"]
        assert generated != hostile and len(generated) == 32
    assert api().get("/health/live")["X-Request-ID"]


@pytest.mark.parametrize("query", [{"pageSize": "abc"}, {"pageSize": "0"}, {"pageSize": "101"}, {"page": "0"},
                                   {"page": "-1"}, {"page": "1.5"}])  # fmt: skip
def test_invalid_page_parameters_are_a_400_naming_them(api, query):
    for url in ("/api/v1/topics/", "/api/v1/sessions/"):
        response = api("alice").get(url, query)
        assert response.status_code == 400 and list(response.json()["fields"]) == list(query), response.json()


def test_schema_is_valid_for_a_strict_validator_with_each_enum_once():
    schema = served_schema()
    validate_spec(schema)  # openapi-spec-validator, OpenAPI 3.0 rules
    schemas = schema["components"]["schemas"]
    enums = Counter(frozenset(s["enum"]) for s in schemas.values() if "enum" in s)
    assert not [values for values, count in enums.items() if count > 1]
    assert {"Level", "LanguageCode", "Category", "Duration", "SessionStatus", "RequestStatus", "EndReason"} <= set(
        schemas
    )
    inline = [
        (path, p["name"])
        for path, item in schema["paths"].items()
        for operation in item.values()
        for p in operation.get("parameters", [])
        if "enum" in p.get("schema", {}) and frozenset(p["schema"]["enum"]) in enums
    ]
    assert not inline, inline
    for path, item in schema["paths"].items():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ValidationError" if status == "400" else "/Error"), (path, status, ref)


def test_a_generated_client_has_each_model_once(tmp_path: Path):
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(served_schema()))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "openapi-python-client"), "generate", "--path", str(spec),
         "--output-path", str(tmp_path / "client"), "--meta", "none"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},  # its ruff hook
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    models = [p.stem for p in (tmp_path / "client" / "models").glob("*.py") if p.stem != "__init__"]
    classes = [line.split()[1].split("(")[0].rstrip(":") for p in (tmp_path / "client" / "models").glob("*.py")
               for line in p.read_text().splitlines() if line.startswith("class ")]  # fmt: skip
    assert len(classes) == len(set(classes)) and len(models) == len(set(models))
    assert {"error", "validation_error", "level", "session_status"} <= set(models)
    # No per-operation copies of a vocabulary (`V1TopicsListLevel`, `UserLevelEnum`).
    assert not [m for m in models if m.startswith("v1_") or m.endswith(("_level", "_category", "level_enum"))], models


def test_a_heartbeat_that_finds_the_session_ended_sends_session_ended_before_4410(api):
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    path = f"/ws/v1/sessions/{session_id}/"

    async def scenario():
        alice = await open_socket(path, "alice")
        await next_event(alice, "session.state")
        # The race: the ending is done (MongoDB, presence removed) but its `session.ended` push has not
        # reached this socket yet.
        ConversationSession.objects(id=session_id).update_one(set__status="cancelled", set__end_reason="timeout")
        redis_client().delete(redis_keys.session_active(session_id))
        await alice.send_json_to({"type": "heartbeat"})
        ended = await next_event(alice, "session.ended")
        closing = await alice.receive_output(timeout=3)
        await alice.send_json_to({"type": "heartbeat"})  # after the close: nothing may be sent back
        after = []
        while not await alice.receive_nothing(timeout=0.3):
            after.append(await alice.receive_output())
        assert after == [], after
        await alice.disconnect()
        return ended, closing

    ended, closing = async_to_sync(scenario)()
    assert ended["session"]["status"] == "cancelled" and ended["session"]["id"] == session_id
    assert closing == {"type": "websocket.close", "code": 4410}


def test_socket_errors_use_the_one_shape(api):
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]

    async def scenario():
        alice = await open_socket(f"/ws/v1/sessions/{session_id}/", "alice")
        await next_event(alice, "session.state")
        await alice.send_json_to({"type": "bogus"})
        unknown = await next_event(alice, "error")
        await alice.send_json_to({"type": "signal", "payload": "x"})
        bad_signal = await next_event(alice, "error")
        await alice.disconnect()
        return unknown, bad_signal

    for event in async_to_sync(scenario)():
        assert set(event) == {"type", "code", "detail"} and event["code"] == "bad_message"
