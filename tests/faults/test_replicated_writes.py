"""Under Sentinel, the writes that guard safety (a block's flag, a suspension) wait for a replica.

Redis replicates asynchronously: a write only the primary held is lost when Sentinel promotes the
replica. A frozen replica (SIGSTOP) cannot acknowledge, so the write waits its bound, says so, and goes on.
"""

from __future__ import annotations

import json
import signal

import pytest
from redis import Redis

from conversation import redis_keys
from tests.faults.servers import run_service, sentinel_topology

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

# Runs in a service process: each safety write, how long it took and what it logged.
WRITES = """
import json, logging, time
from conversation import restrictions
from conversation.redis import REPLICA_WAIT_MS
logged = []
handler = logging.Handler()
handler.emit = lambda record: logged.append(record.getMessage())
logging.getLogger("conversation.redis").addHandler(handler)
logging.getLogger("conversation.redis").setLevel(logging.WARNING)
took = {}
for name, write in (("block", lambda: restrictions.blocks_publish(user_ids=["alice"])),
                    ("suspension", lambda: restrictions.restriction_publish(user_id="bob", until=0))):
    started = time.monotonic()
    write()
    took[name] = time.monotonic() - started
print(json.dumps({"took": took, "logged": logged, "bound": REPLICA_WAIT_MS / 1000}))
"""


def writes(env: dict[str, str]) -> dict:
    return json.loads(run_service(WRITES, env).strip().splitlines()[-1])


def test_safety_writes_are_on_the_replica_when_they_return():
    with sentinel_topology() as topology:
        done = writes(topology.env())
        assert not done["logged"], done
        assert all(seconds < done["bound"] for seconds in done["took"].values()), done
        replica = Redis(port=topology.replica_port, socket_timeout=2)
        assert replica.exists(redis_keys.blocker_flag("alice"))


def test_a_frozen_replica_delays_them_by_the_bound_and_is_logged():
    with sentinel_topology() as topology:
        replica = topology.procs[topology.replica_port]
        replica.send_signal(signal.SIGSTOP)
        try:
            done = writes(topology.env())
        finally:
            replica.send_signal(signal.SIGCONT)
        assert all(seconds >= done["bound"] * 0.9 for seconds in done["took"].values()), done
        assert len(done["logged"]) == 2 and "no Redis replica acknowledged" in done["logged"][0], done
        # Without Sentinel (one Redis, nothing to wait for) nothing waits.
        alone = writes(topology.env(via_sentinel=False))
        assert not alone["logged"] and all(s < alone["bound"] for s in alone["took"].values()), alone
