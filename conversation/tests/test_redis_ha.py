"""Redis through Sentinel (REDIS_SENTINELS) and Lua scripts on a primary that never saw them.

The failover itself, with a replica promoted under load, is in tests/faults/test_failover.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from urllib.parse import urlparse

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from conversation import redis_keys
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from sessions_app.documents import ConversationSession
from tests.helpers import ask, next_event, open_socket
from tests.processes import ROOT, free_port

EVERY_USER = """
import asyncio, django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from channels.layers import get_channel_layer
from django.core.cache import cache
from config.celery import app
from conversation.ratelimit import RateLimitHit
from conversation.redis import async_client, client, delete_if_equals

client().set("ha:sync", "1")
delete_if_equals("ha:sync", "1")
client().set("ha:sync", "2")
cache.set("ha:cache", "1")
RateLimitHit("ha", "u", 5).count()

async def on_loop():
    await async_client().set("ha:async", "1")
    layer = get_channel_layer()
    await layer.send("ha-channel", {"type": "ha.ping"})
    await layer.group_add("ha.group", "ha-pushed")
    return await layer.receive("ha-channel")

assert asyncio.run(on_loop()) == {"type": "ha.ping"}
get_channel_layer().group_send_many_blocking([("ha.group", {"type": "ha.push"})])  # a push from sync code
assert asyncio.run(get_channel_layer().receive("ha-pushed")) == {"type": "ha.push"}
with app.connection_for_write() as connection:
    connection.ensure_connection(max_retries=1)
    connection.default_channel.client.set("ha:broker", "1")
app.backend.set("ha:backend", "1")
print("ok")
"""


@pytest.fixture
def sentinel():
    """One sentinel watching the test Redis (no replica: it never fails over, it only names the primary)."""
    target = urlparse(settings.REDIS_URL)
    port = free_port()
    conf = ROOT / "var" / f"sentinel-{port}.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor ha 127.0.0.1 {target.port} 1\n")
    proc = subprocess.Popen([shutil.which("redis-server"), str(conf), "--sentinel"], stdout=subprocess.DEVNULL)
    try:
        yield port
    finally:
        proc.kill()
        proc.wait()
        conf.unlink(missing_ok=True)


def test_every_redis_user_finds_the_primary_through_sentinel(sentinel):
    """REDIS_URL names a port where nothing listens: only the sentinel can lead each client to the data."""
    db = urlparse(settings.REDIS_URL).path
    env = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}{db}", "REDIS_SENTINELS": f"127.0.0.1:{sentinel}",
           "REDIS_SENTINEL_MASTER": "ha", "PATH": "/usr/bin:/bin", "MONGODB_URI": settings.MONGODB_URI}  # fmt: skip
    deadline = time.monotonic() + 20
    while True:  # the sentinel needs a moment to ask the primary for its role
        done = subprocess.run([sys.executable, "-c", EVERY_USER], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert done.stdout.strip() == "ok", done.stderr[-3000:]
    store = redis()
    assert store.get("ha:sync") == b"2" and store.get("ha:async") == b"1" and store.get("ha:broker") == b"1"
    assert store.keys("cache:*ha:cache") and store.keys("rl:*ha*") and store.keys("*ha:backend")


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("REDIS_SENTINELS", "redis-1", "REDIS_SENTINELS must be host:port"),
        ("REDIS_SENTINELS", "host:port", "REDIS_SENTINELS must be host:port"),
        ("REDIS_SENTINELS", "host:0", "REDIS_SENTINELS must be host:port"),
        ("REDIS_SENTINELS", ":26379", "REDIS_SENTINELS must be host:port"),
        ("REDIS_SENTINEL_MASTER", "my master", "REDIS_SENTINEL_MASTER must be a name"),
    ],
)
def test_a_malformed_sentinel_setting_stops_the_process_naming_the_variable(name, bad, message):
    env = {"PATH": "/usr/bin:/bin", name: bad}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and message in result.stderr


def test_scripts_are_loaded_again_on_a_primary_that_never_saw_them(api):
    """A promoted replica has no script cache: every script call still works (NOSCRIPT, then loaded)."""
    ask(api, "alice")
    redis().script_flush()
    session_id = ask(api, "bob").json()["sessionId"]  # the pairing script
    assert MatchmakingRequest.objects(status="matched").count() == 2
    assert not redis().exists("mm:pending:alice") and not redis().exists("mm:pending:bob")
    redis().script_flush()
    assert api("alice").post(f"/api/v1/sessions/{session_id}/heartbeat/").status_code == 200  # sync heartbeat script
    redis().script_flush()

    async def socket_heartbeat():
        bob = await open_socket(f"/ws/v1/sessions/{session_id}/", "bob")
        await bob.send_json_to({"type": "heartbeat"})
        started = await next_event(bob, "session.started")
        await bob.disconnect()
        return started

    assert async_to_sync(socket_heartbeat)()["session"]["status"] == "active"  # asyncio heartbeat script
    assert ConversationSession.objects.get(id=session_id).status == "active"
    redis().script_flush()
    assert api("alice").post(f"/api/v1/sessions/{session_id}/end/").status_code == 200  # presence's conditional deletes
    assert not redis().exists(redis_keys.user_session("alice")) and not redis().exists(redis_keys.user_session("bob"))
