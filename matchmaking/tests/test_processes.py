"""Matchmaking across real processes: two web servers, a killed process, a Celery worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets

from conversation.auth import mint_token
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from sessions_app.documents import ConversationSession
from tests.helpers import request_body
from tests.processes import ROOT, http, web_servers

pytestmark = pytest.mark.timeout(180)


def test_200_concurrent_requests_over_two_web_processes_keep_every_invariant():
    users = [f"user-{i:03d}" for i in range(200)]
    tokens = {u: mint_token(u) for u in users}
    with web_servers(2) as urls:

        def post(index_user):
            index, user = index_user
            url = f"{urls[index % 2]}/api/v1/matchmaking/requests/"
            return user, http("POST", url, tokens[user], request_body())

        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(post, enumerate(users)))

    assert all(status == 201 for _user, (status, _body) in results), [r for r in results if r[1][0] != 201][:3]
    requests = {r.user_id: r for r in MatchmakingRequest.objects}
    assert len(requests) == 200  # nobody lost, nobody twice
    pending = [r for r in requests.values() if r.status == "pending"]
    matched = [r for r in requests.values() if r.status == "matched"]
    assert len(pending) + len(matched) == 200
    assert len(pending) <= 1
    queued = {json.loads(m)["userId"] for m in redis().zrange("matchmaking:fr:B1", 0, -1)}
    assert queued == {r.user_id for r in pending}  # every waiting request is in the queue, no other

    sessions = list(ConversationSession.objects)
    assert len(sessions) == len(matched) // 2
    seen: set[str] = set()
    for session in sessions:
        a, b = session.participant1_id, session.participant2_id
        assert a != b  # never a self-match
        assert not ({a, b} & seen)  # nobody in two sessions
        seen |= {a, b}
        assert requests[a].session_id == requests[b].session_id == str(session.id)
        assert requests[a].matched_with_user_id == b and requests[b].matched_with_user_id == a
    assert seen == {r.user_id for r in matched}


def test_match_made_on_one_process_reaches_a_socket_on_the_other():
    with web_servers(2) as urls:

        async def scenario():
            ws_url = urls[0].replace("http", "ws") + f"/ws/v1/matchmaking/?token={mint_token('alice')}"
            async with websockets.connect(ws_url) as socket:
                loop = asyncio.get_running_loop()
                alice = await loop.run_in_executor(
                    None, http, "POST", f"{urls[1]}/api/v1/matchmaking/requests/", mint_token("alice"), request_body()
                )
                bob = await loop.run_in_executor(
                    None, http, "POST", f"{urls[1]}/api/v1/matchmaking/requests/", mint_token("bob"), request_body()
                )
                event = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
                return alice, bob, event

        alice, bob, event = asyncio.run(scenario())
    assert alice[1]["status"] == "pending" and bob[1]["status"] == "matched"
    assert event["type"] == "match.found" and event["session"]["id"] == bob[1]["sessionId"]


CRASH_SCRIPT = """
import os, signal, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from matchmaking.services import pairing, requests as mm
def die(**kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # killed between the Redis pop and the MongoDB commit
pairing._commit_pair = die
mm.request_create(data=mm.NewRequest(user_id="bob", learning_profile_id="lp", target_language_code="fr",
                                     user_level="B1", preferred_topic_id=None, preferred_duration=10))
"""


def test_a_process_killed_between_pop_and_commit_loses_nobody(api):
    from matchmaking.services.pairing import RECONCILE_GRACE, queues_reconcile

    assert api("alice").post("/api/v1/matchmaking/requests/", request_body(), format="json").status_code == 201
    result = subprocess.run([sys.executable, "-c", CRASH_SCRIPT], cwd=ROOT, env=os.environ.copy())
    assert result.returncode == -9
    assert redis().zcard("matchmaking:fr:B1") == 0  # alice was popped, bob never queued
    assert {r.status for r in MatchmakingRequest.objects} == {"pending"}

    later = MatchmakingRequest.objects.get(user_id="bob").created_at + RECONCILE_GRACE + dt.timedelta(seconds=1)
    assert queues_reconcile(now=later) >= 1
    alice, bob = MatchmakingRequest.objects.get(user_id="alice"), MatchmakingRequest.objects.get(user_id="bob")
    assert alice.status == bob.status == "matched"
    assert alice.session_id == bob.session_id
    assert ConversationSession.objects.count() == 1


def test_expiry_runs_in_a_real_celery_worker(api, celery_worker_process, settings):
    from matchmaking.tasks import expire_requests

    created = api("alice").post("/api/v1/matchmaking/requests/", request_body(), format="json").json()
    MatchmakingRequest.objects(id=created["id"]).update_one(
        set__expires_at=MatchmakingRequest.objects.get(id=created["id"]).created_at
    )
    assert expire_requests.delay().get(timeout=30) == 1
    assert MatchmakingRequest.objects.get(id=created["id"]).status == "expired"
    assert redis().zcard("matchmaking:fr:B1") == 0
