"""Fault tests: real servers restarted or killed under the service (make test-faults).

Each test runs the service in its own processes against stores it can break: a private Redis
or MongoDB-wire server on a free port, restarted or killed mid-run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time

import pytest
import redis as redis_lib

from conversation.auth import mint_token
from tests.faults.servers import celery, mongo_server, redis_server, run_service, web
from tests.helpers import request_body
from tests.processes import free_port, http

pytestmark = pytest.mark.timeout(240)


def test_redis_restart_rebuilds_queue_and_presence_from_mongodb():
    port = free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    post = "/api/v1/matchmaking/requests/"
    with redis_server(port) as first, web(env) as url:
        _, alice = http("POST", url + post, mint_token("alice"), request_body())
        _, bob = http("POST", url + post, mint_token("bob"), request_body())
        session_id = bob["sessionId"]
        for user in ("alice", "bob"):
            assert http("POST", f"{url}/api/v1/sessions/{session_id}/heartbeat/", mint_token(user))[0] == 200
        _, carol = http("POST", url + post, mint_token("carol"), request_body(targetLanguageCode="es"))
        assert carol["status"] == "pending"

        os.killpg(first.pid, signal.SIGKILL)  # Redis dies and comes back empty
        first.wait()
        with redis_server(port):
            store = redis_lib.Redis(port=port)
            assert store.dbsize() == 0
            run_service(
                "import datetime as dt\n"
                "from conversation import clock\n"
                "from sessions_app.services.sweeper import sessions_sweep\n"
                "from matchmaking.services.pairing import queues_reconcile, RECONCILE_GRACE\n"
                "print(sessions_sweep().rebuilt, queues_reconcile(now=clock.now() + RECONCILE_GRACE))",
                env,
            )
            hash_ = store.hgetall(f"session:active:{session_id}")
            assert hash_[b"status"] == b"active"
            assert store.get("user:session:alice") == session_id.encode()
            queued = store.zrange("matchmaking:es:B1", 0, -1, withscores=True)
            assert [json.loads(m)["userId"] for m, _ in queued] == ["carol"]
            assert http("POST", f"{url}/api/v1/sessions/{session_id}/heartbeat/", mint_token("alice"))[0] == 200
            status, dave = http("POST", url + post, mint_token("dave"), request_body(targetLanguageCode="es"))
            assert status == 201 and dave["matchedWithUserId"] == "carol"
            # Nobody was matched twice: alice's request is still the one matched with bob.
            assert http("GET", f"{url}{post}{alice['id']}/", mint_token("alice"))[1]["matchedWithUserId"] == "bob"


def timed(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict, float]:
    started = time.monotonic()
    status, payload = http(method, url, token, body)
    return status, payload, time.monotonic() - started


def test_mongodb_unreachable_gives_a_prompt_503_and_recovers():
    """The first request after the kill pays one server selection; the breaker answers the rest at once."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="faults-mongo-")
    env = {"MONGODB_URI": f"mongodb://127.0.0.1:{port}/conversation_test"}  # default MONGODB_TIMEOUT_MS
    try:
        with mongo_server(port, data) as mongo, web(env) as url:
            token = mint_token("alice")
            assert http("GET", f"{url}/api/v1/topics/", token)[0] == 200
            os.killpg(mongo.pid, signal.SIGKILL)
            mongo.wait()
            took = []
            for path in ("/api/v1/topics/", "/api/v1/sessions/", "/api/v1/matchmaking/requests/current/") * 4:
                status, body, seconds = timed("GET", url + path, token)
                assert status == 503, (path, status, body)
                assert body == {"detail": "mongodb is unavailable, retry shortly.", "code": "service_unavailable"}
                took.append(seconds)
            print(f"\n503 latency: first {took[0] * 1000:.0f} ms, then max {max(took[1:]) * 1000:.0f} ms")
            assert took[0] < 2.5 and max(took[1:]) < 0.2, took  # the first: one MONGODB_TIMEOUT_MS (1 s)
            status, body = http("GET", f"{url}/health/ready", token)
            assert status == 503 and body["failing"] == ["mongodb"]
            with mongo_server(port, data):
                back = time.monotonic()
                while http("GET", f"{url}/health/ready", token)[0] != 200:
                    assert time.monotonic() - back < 20, "no recovery within 20 s"
                    time.sleep(0.2)
                # Recovery within one health check: the next API call after a 200 from /health/ready is served.
                assert http("GET", f"{url}/api/v1/topics/", token)[0] == 200
                print(f"recovered {time.monotonic() - back:.2f} s after the store listened again")
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_redis_unreachable_gives_a_503_naming_redis_and_sockets_1013():
    port = free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    with redis_server(port) as store, web(env) as url:
        token = mint_token("alice")
        socket_url = url.replace("http", "ws") + f"/ws/v1/matchmaking/?token={token}"
        assert socket_close_code(socket_url) is None  # accepted and open
        assert http("POST", f"{url}/api/v1/matchmaking/requests/", mint_token("warm"), request_body())[0] == 201
        os.killpg(store.pid, signal.SIGKILL)
        store.wait()
        status, body, seconds = timed("POST", f"{url}/api/v1/matchmaking/requests/", token, request_body())
        assert status == 503 and body["code"] == "service_unavailable" and "redis" in body["detail"]
        assert seconds < 1
        status, body = http("GET", f"{url}/health/ready", token)
        assert status == 503 and body["failing"] == ["redis"]
        assert [socket_close_code(socket_url) for _ in range(3)] == [1013] * 3
        with redis_server(port):
            back = time.monotonic()
            while http("GET", f"{url}/health/ready", token)[0] != 200:
                assert time.monotonic() - back < 20, "no recovery within 20 s"
                time.sleep(0.2)
            # Every handshake after Redis returns is accepted: none is a 500 or a 1013.
            assert [socket_close_code(socket_url) for _ in range(5)] == [None] * 5
            assert http("POST", f"{url}/api/v1/matchmaking/requests/", token, request_body())[0] == 201


def socket_close_code(url: str) -> int | None:
    """The close code the server sends within 1 s of the handshake, or None if the socket stays open."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=5) as ws:
            ws.send(json.dumps({"type": "ping"}))
            try:
                while True:
                    if json.loads(ws.recv(timeout=1)).get("type") == "pong":
                        return None
            except TimeoutError:
                return None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006
    except InvalidStatus as refused:
        raise AssertionError(f"handshake answered HTTP {refused.response.status_code}") from None


BEAT_SETUP = """
import datetime as dt
from bson import ObjectId
from conversation import clock, redis_keys
from conversation.redis import client
from matchmaking.services.requests import NewRequest, request_create
from sessions_app.documents import ConversationSession
from sessions_app.services import lifecycle

client().set(redis_keys.session_presence_marker(), "1")  # the stores start in step
past = clock.now() - dt.timedelta(minutes=5)
for i, level in enumerate(["A1", "B1", "C1", "A2", "B2"]):  # five requests long expired
    data = NewRequest(user_id=f"old-{i}", learning_profile_id="lp", target_language_code="ja", user_level=level,
                      preferred_topic_id=None, preferred_duration=10)
    request_create(data=data, now=past)
for i in range(3):  # three active sessions whose heartbeats stopped five minutes ago
    s = lifecycle.session_open(session_id=ObjectId(), participant1_id=f"p{i}", participant2_id=f"q{i}",
                               language="ja", level="A1", topic_id=None, planned_minutes=10, now=past)
    lifecycle.session_publish(session=s)
    lifecycle.session_heartbeat(session=s, user_id=f"p{i}", now=past)
    lifecycle.session_heartbeat(session=ConversationSession.objects.get(id=s.id), user_id=f"q{i}", now=past)
"""

BEAT_OUTCOME = """
from conversation.redis import client
from matchmaking.documents import MatchmakingRequest
from sessions_app.documents import ConversationSession

m = {k.decode(): v.decode() for k, v in client().hgetall("metrics:v1").items()}
print(m.get("matchmaking_requests_total|expired"), m.get("sessions_ended_total|completed|dropped"),
      MatchmakingRequest.objects(user_id__in=[f"old-{i}" for i in range(5)], status="expired").count(),
      ConversationSession.objects(end_reason="dropped", participant1_id__in=["p0", "p1", "p2"]).count())
"""


def test_two_beat_schedulers_apply_each_effect_once():
    """Two beats and two workers on the same broker: every expiry and every drop happens once."""
    port = free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "SWEEP_INTERVAL_SECONDS": "1"}
    roles = [["beat", "-s", tempfile.mktemp()], ["beat", "-s", tempfile.mktemp()],
             ["worker", "-c", "1", "-n", "f1@%h"], ["worker", "-c", "1", "-n", "f2@%h"]]  # fmt: skip
    with redis_server(port):
        run_service(BEAT_SETUP, env)
        with celery(roles, env):
            # Poll rather than sleep a fixed time: four Celery processes take long to start on a loaded machine.
            deadline = time.monotonic() + 90
            while run_service(BEAT_OUTCOME, env).split() != ["5", "3", "5", "3"] and time.monotonic() < deadline:
                time.sleep(1)
            time.sleep(4)  # several more ticks of both beats: nothing may be applied a second time
        out = run_service(BEAT_OUTCOME, env)
    assert out.split() == ["5", "3", "5", "3"]
