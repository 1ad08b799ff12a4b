"""Matchmaking benchmark: the atomic pairing step against raw Redis, and the full HTTP path.

Pairing step: one pair = two arrivals = two script calls (enqueue, then pop), pipelined
in batches, next to a raw baseline of ZADD + ZPOPMIN of the same payload on the same server.
The two alternate for five rounds and each side's median is reported, with every round's ratio:
one round's rate moves by up to a fifth between runs on a shared machine.
Both sides go through redis-py's command methods (`pipe.evalsha` with the script's SHA, as
`pipe.zadd`), so the client's share is the command's, not a wrapper's; the script gets the
keys and arguments `Scripts.pair_or_enqueue` sends.
Full HTTP path: a partner is waiting, the second learner's POST returns `matched`; its latency
is the time-to-match. Run with `make bench-matchmaking`.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from benchmarks.common import machine, percentile, table  # noqa: E402
from benchmarks.history import created_since  # noqa: E402
from benchmarks.report import save  # noqa: E402
from conversation.auth import mint_token  # noqa: E402
from conversation.redis import client  # noqa: E402
from matchmaking.redis_scripts import NUMBERS, QueueMember  # noqa: E402
from matchmaking.services.queue import scripts  # noqa: E402
from tests import contract  # noqa: E402
from tests.processes import http, web_servers  # noqa: E402

# The test client checks every response against the OpenAPI schema; a benchmark measures the service,
# and that check would spend the client's share of the same 2 cores (and is not thread-safe on first use).
contract.state["enabled"] = False

PAIRS = int(os.environ.get("BENCH_PAIRS", "20000"))
BATCH = 250
STEP_ROUNDS = int(os.environ.get("BENCH_STEP_ROUNDS", "5"))
HTTP_PAIRS = int(os.environ.get("BENCH_HTTP_PAIRS", "300"))


def member(i: int) -> QueueMember:
    return QueueMember(user_id=f"bench-{i}", learning_profile_id="lp", preferred_topic_id=None, preferred_duration=10)


def raw_baseline(pairs: int) -> float:
    redis = client()
    key = "bench:raw"
    redis.delete(key)
    started = time.perf_counter()
    for start in range(0, pairs, BATCH):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(pairs, start + BATCH)):
            pipe.zadd(key, {member(i).encode(): time.time()})
            pipe.zpopmin(key)
        pipe.execute()
    return pairs / (time.perf_counter() - started)


def pairing_step(pairs: int) -> float:
    redis = client()
    script = scripts().pair_or_enqueue_script
    queue, index, adjacent = "matchmaking:bench:B1", "mm:queues", ("matchmaking:bench:A2", "matchmaking:bench:B2")
    redis.delete(queue)
    started = time.perf_counter()
    for start in range(0, 2 * pairs, 2 * BATCH):
        pipe = redis.pipeline(transaction=False)
        pipe.scripts.add(script)  # what Script.__call__ does on a pipeline: loaded if missing at execute
        now = time.time()
        for i in range(start, min(2 * pairs, start + 2 * BATCH)):
            m = member(i)
            # Scripts.pair_or_enqueue's keys and arguments, sent with the command method as the
            # baseline's ZADD is (Script.__call__ adds an import and two tuple copies per call).
            keys = (queue, index, f"mm:met:{m.user_id}", f"sess:booked:{m.user_id}", *adjacent)
            pipe.evalsha(
                script.sha, len(keys), *keys, m.encode(), NUMBERS.pack(now, now - 120, now - 30, now - 600, 1, 0)
            )
        results = pipe.execute()
        assert sum(1 for r in results if r) == len(results) // 2, "every second arrival must pop a partner"
    elapsed = time.perf_counter() - started
    redis.delete(queue)
    return pairs / elapsed


def full_http_path(pairs: int) -> tuple[float, list[float]]:
    with web_servers(1) as (url,):
        endpoint = f"{url}/api/v1/matchmaking/requests/"
        body = {"learningProfileId": "lp", "targetLanguageCode": "de", "userLevel": "A1", "preferredDuration": 10}
        latencies: list[float] = []
        http("POST", endpoint, mint_token("warmup-a"), body)
        http("POST", endpoint, mint_token("warmup-b"), body)
        tokens = [(mint_token(f"h-{i}-a"), mint_token(f"h-{i}-b")) for i in range(pairs)]
        started = time.perf_counter()
        for waiting, arriving in tokens:
            status, first = http("POST", endpoint, waiting, body)
            assert status == 201 and first["status"] == "pending", first
            t0 = time.perf_counter()
            status, second = http("POST", endpoint, arriving, body)
            latencies.append(time.perf_counter() - t0)
            assert second["status"] == "matched", second
        sequential = pairs / (time.perf_counter() - started)

        conc_tokens = [(mint_token(f"c-{i}-a"), mint_token(f"c-{i}-b")) for i in range(pairs)]

        def one_pair(pair):
            lang_body = {**body, "userLevel": "A2"}
            http("POST", endpoint, pair[0], lang_body)
            http("POST", endpoint, pair[1], lang_body)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(one_pair, conc_tokens))
        concurrent = pairs / (time.perf_counter() - started)
    return max(sequential, concurrent), latencies


def main() -> int:
    started = dt.datetime.now(dt.UTC)
    rounds = [(raw_baseline(PAIRS), pairing_step(PAIRS)) for _ in range(STEP_ROUNDS)]
    baseline = statistics.median(raw for raw, _ in rounds)
    step = statistics.median(lua for _, lua in rounds)
    each_round = ", ".join(f"{lua / raw:.2f}" for raw, lua in rounds)
    http_rate, latencies = full_http_path(HTTP_PAIRS)
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    rows = [
        ("pairing step (Lua, pipelined), pairs/s", f"{step:,.0f}", f"{baseline:,.0f} (ZADD+ZPOPMIN)",
         f"{step / baseline:.2f} (medians of {STEP_ROUNDS} alternated rounds; each round: {each_round})"),
        ("full HTTP path, pairs/s (1 web process)", f"{http_rate:,.0f}", "-", "-"),
        ("time-to-match p50, partner waiting (ms)", f"{p50:.1f}", "target < 50", "-"),
        ("time-to-match p99, partner waiting (ms)", f"{p99:.1f}", "-", "-"),
    ]  # fmt: skip
    print(f"\nMatchmaking benchmark ({machine()}; {PAIRS} step pairs, {HTTP_PAIRS} HTTP pairs)\n")
    print(table(rows))
    save("matchmaking", rows, {"time-to-match, partner waiting": latencies})
    created_since(started)  # the HTTP pairs' requests and sessions: the next bench starts from what it loads
    return 0


if __name__ == "__main__":
    sys.exit(main())
