"""Fixtures: every test runs against the real servers `make test` started.

MongoDB (SecantusDB or MONGODB_URI), Redis and the S3 server come from the
environment; each test starts from empty collections and a flushed Redis.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.client import Client as DjangoClient
from rest_framework.test import APIClient

from conversation import clock, mongo, redis_keys, restrictions
from conversation.auth import mint_token
from conversation.redis import client as redis_client
from matchmaking.services import queue
from tests import contract
from topics.selectors import topic_cache_clear

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def _indexes(django_db_blocker):
    if "conversation_test" not in mongo.database_name() and not os.environ.get("ALLOW_NON_TEST_DB"):
        pytest.exit("refusing to run against a database whose name lacks 'conversation_test'", returncode=2)
    from conversation.indexes import ensure_indexes

    ensure_indexes()


@pytest.fixture(scope="session", autouse=True)
def _responses_match_the_schema():
    """Every /api/v1/ response the test client receives is checked against the served schema (tests/contract.py)."""
    original = DjangoClient.request

    def checked(self, **request):
        response = original(self, **request)
        if not getattr(response, "streaming", False):
            contract.check_response(
                request["REQUEST_METHOD"], request["PATH_INFO"], response.status_code, response.content,
                response.headers, query=request.get("QUERY_STRING", ""),
            )  # fmt: skip
        return response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DjangoClient, "request", checked)
        yield


@pytest.fixture(autouse=True)
def _contract_opt_out(request):
    contract.state["enabled"] = request.node.get_closest_marker("no_contract") is None
    yield
    contract.state["enabled"] = True


KEEP_REDIS_PREFIXES = (b"_kombu", b"unacked", b"celery")  # a running worker's broker bindings


def _clean_redis() -> None:
    redis = redis_client()
    doomed = [key for key in redis.scan_iter(count=1000) if not key.startswith(KEEP_REDIS_PREFIXES)]
    for start in range(0, len(doomed), 500):
        redis.delete(*doomed[start : start + 500])


@pytest.fixture(autouse=True)
def clean_stores():
    # A channel layer's locks belong to the event loop that first used them; tests run many loops.
    channel_layers.backends.clear()
    topic_cache_clear()  # the matcher's in-process topic cache must not carry a topic into the next test
    restrictions.forget()  # nor the last second's check of a user's suspensions and blocks
    queue.wait_medians_forget()  # nor a queue's median time to match
    _clean_redis()
    db = mongo.db()
    for name in db.list_collection_names():
        db[name].delete_many({})
    # Both stores are empty, hence in step: no presence to rebuild (see sessions_app.services.sweeper).
    redis_client().set(redis_keys.session_presence_marker(), "1", ex=3600)
    clock.set_clock(None)
    yield
    clock.set_clock(None)


@pytest.fixture(scope="module", autouse=True)
def _forget_the_sql_connection():
    """After a module, drop this thread's handle on the SQLite test database.

    pytest-django keeps the database open; Channels consumers in later tests that do not use the
    database call close_old_connections(), which would touch the handle and be refused.
    """
    yield
    with contextlib.suppress(AttributeError):
        del connections[DEFAULT_DB_ALIAS]


class FrozenClock:
    """A clock tests move by hand: `clock.advance(seconds=30)`."""

    def __init__(self, start: dt.datetime) -> None:
        self.value = start

    def __call__(self) -> dt.datetime:
        return self.value

    def advance(self, **delta) -> dt.datetime:
        self.value += dt.timedelta(**delta)
        return self.value


@pytest.fixture
def frozen_clock() -> FrozenClock:
    frozen = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    clock.set_clock(frozen)
    return frozen


def token_for(user_id: str, *, staff: bool = False) -> str:
    return mint_token(user_id, staff=staff)


@pytest.fixture
def api():
    """api("alice") -> an APIClient authenticated as alice (staff=True for staff)."""

    def make(user_id: str | None = None, *, staff: bool = False) -> APIClient:
        client = APIClient()
        if user_id:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user_id, staff=staff)}")
        return client

    return make


@pytest.fixture(scope="session")
def celery_worker_process():
    """A real Celery worker on the real broker, for tests that cross processes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=os.environ.copy(),
    )  # fmt: skip
    from config.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            break
        if proc.poll() is not None:
            raise RuntimeError("celery worker exited")
    else:
        proc.kill()
        raise RuntimeError("celery worker did not answer within 60s")
    yield proc
    proc.terminate()
    proc.wait(timeout=20)
