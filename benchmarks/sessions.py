"""Sessions benchmark: heartbeats over real sockets, socket capacity, sweeper cost.

1. Heartbeats handled per second by one web process over real WebSockets (each socket sends a
   heartbeat and waits for its ack), next to two echo consumers on the same server (benchmarks/echo_asgi.py),
   and the web process's CPU per heartbeat. The server runs with the Procfile's uvicorn options.
2. Sockets one web process holds with the p99 heartbeat round trip, at rising socket counts.
3. The sweeper's time with 10k and 100k active sessions of which the same 100 are stale: it must
   follow the sessions it ends, not all sessions. Run with `make bench-sessions`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import resource
import subprocess
import sys
import time

import django

from benchmarks.common import production_env

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The sockets here are robots sending as fast as they can: lift the per-socket frame limit (its token
# bucket still runs on every frame).
PROD_ENV = production_env(LOG_LEVEL="WARNING", WEBSOCKET_MAX_MESSAGES_PER_SECOND="1000000")
django.setup()

import websockets  # noqa: E402
from bson import ObjectId  # noqa: E402

from benchmarks.common import cpu_seconds, machine, percentile, table  # noqa: E402
from benchmarks.report import save  # noqa: E402
from conversation import clock, mongo, redis_keys  # noqa: E402
from conversation.auth import mint_token  # noqa: E402
from conversation.redis import client  # noqa: E402
from sessions_app.services.sweeper import sessions_sweep  # noqa: E402
from tests.processes import free_port, procfile_web_options, wait_ready  # noqa: E402

DURATION = float(os.environ.get("BENCH_SECONDS", "5"))
SOCKET_STEPS = [int(n) for n in os.environ.get("BENCH_SOCKETS", "100,500,1000").split(",")]
SWEEP_SIZES = [int(n) for n in os.environ.get("BENCH_SWEEP_SIZES", "10000,100000").split(",")]


def make_sessions(count: int, *, stale: int = 0, status: str = "active", in_mongo: int | None = None) -> list[str]:
    """Inserts `count` live sessions in Redis, the first `in_mongo` (default all) in MongoDB too;
    the first `stale` have silent heartbeats."""
    now = clock.now()
    docs, ids = [], []
    for i in range(count if in_mongo is None else in_mongo):
        oid = ObjectId()
        ids.append(str(oid))
        docs.append({
            "_id": oid, "targetLanguageCode": "en", "participant1Id": f"p{i}a", "participant2Id": f"p{i}b",
            "status": status, "startedAt": now, "createdAt": now, "updatedAt": now, "plannedDurationMinutes": 20,
            "recordingConsent": {"participant1": False, "participant2": False},
        })  # fmt: skip
    ids += [str(ObjectId()) for _ in range(count - len(ids))]
    collection = mongo.db()["conversation_session"]
    for start in range(0, len(docs), 5000):
        collection.insert_many(docs[start : start + 5000], ordered=False)
    redis = client()
    ts = clock.now().timestamp()
    for start in range(0, count, 5000):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(count, start + 5000)):
            sid = ids[i]
            beat = ts - 120 if i < stale else ts
            pipe.hset(redis_keys.session_active(sid), mapping={
                "participant1Id": f"p{i}a", "participant2Id": f"p{i}b", "status": status,
                "lastHeartbeat1": beat, "lastHeartbeat2": beat,
            })  # fmt: skip
            pipe.expire(redis_keys.session_active(sid), 1800)
            pipe.zadd(redis_keys.session_heartbeats(), {f"{sid}:1": beat, f"{sid}:2": beat})
            pipe.zadd(redis_keys.session_deadlines(), {f"{sid}:max": ts + 1800})
        pipe.execute()
    return ids


def wipe() -> None:
    mongo.db()["conversation_session"].delete_many({})
    client().flushdb()
    client().set(redis_keys.session_presence_marker(), "1")  # both stores empty: in step, nothing to rebuild


async def heartbeat_loop(url: str, stop_at: float, rtts: list[float], interval: float = 0.0) -> int:
    handled = 0
    async with websockets.connect(url, max_queue=None) as socket:
        if "echo" not in url:
            await socket.recv()  # session.state
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            await socket.send('{"type":"heartbeat"}')
            while True:
                message = await socket.recv()
                if "heartbeat.ack" in message:
                    break
            rtts.append(time.perf_counter() - t0)
            handled += 1
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))
    return handled


async def drive(urls: list[str], seconds: float, interval: float = 0.0) -> tuple[float, list[float]]:
    stop_at = time.perf_counter() + seconds
    rtts: list[float] = []
    started = time.perf_counter()
    counts = await asyncio.gather(*(heartbeat_loop(u, stop_at, rtts, interval) for u in urls))
    return sum(counts) / (time.perf_counter() - started), rtts


def drive_costed(pid: int, urls: list[str]) -> tuple[float, float]:
    """Heartbeats/s and the server's CPU microseconds per heartbeat (the figure a shared machine keeps)."""
    cpu0 = cpu_seconds(pid)
    rate, rtts = asyncio.run(drive(urls, DURATION))
    return rate, (cpu_seconds(pid) - cpu0) * 1e6 / max(1, len(rtts))


def session_urls(base: str, ids: list[str]) -> list[str]:
    urls = []
    for i, sid in enumerate(ids):
        for user in (f"p{i}a", f"p{i}b"):
            urls.append(f"{base}/ws/v1/sessions/{sid}/?token={mint_token(user)}")
    return urls


def main() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.echo_asgi:application", "--port", str(port),
         *procfile_web_options(), "--log-level", "warning", "--no-access-log", "--ws-ping-interval", "0"],
        env={**os.environ, **PROD_ENV},
    )  # fmt: skip
    rows = []
    series: dict[str, list[float]] = {}
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        base = f"ws://127.0.0.1:{port}"
        wipe()
        ids = make_sessions(25)
        drive_costed(server.pid, session_urls(base, ids))  # warm-up: script load, pools, first imports
        rate, cost = drive_costed(server.pid, session_urls(base, ids))
        echo, echo_cost = drive_costed(server.pid, [f"{base}/ws/bench/echo/"] * 50)
        direct, direct_cost = drive_costed(server.pid, [f"{base}/ws/bench/echo-direct/"] * 50)
        rows += [
            ("heartbeats handled/s, 50 sockets, 1 web process", f"{rate:,.0f}", f"{echo:,.0f} (echo)",
             f"{rate / echo:.2f}"),
            ("web CPU per heartbeat (us), same run", f"{cost:,.0f}", f"{echo_cost:,.0f} (echo)",
             f"{echo_cost / cost:.2f}"),
            ("heartbeats handled/s against an echo without channels' thread hop", f"{rate:,.0f}",
             f"{direct:,.0f} (direct echo)", f"{rate / direct:.2f}"),
            ("web CPU per heartbeat (us) against the same", f"{cost:,.0f}", f"{direct_cost:,.0f} (direct echo)",
             f"{direct_cost / cost:.2f}"),
        ]  # fmt: skip
        for count in SOCKET_STEPS:
            wipe()
            ids = make_sessions(count // 2)
            _, rtts = asyncio.run(drive(session_urls(base, ids), DURATION, interval=1.0))
            series[f"heartbeat round trip, {count} sockets"] = rtts
            p99, p50 = percentile(rtts, 99) * 1000, percentile(rtts, 50) * 1000
            rows.append(
                (f"{count} sockets, a heartbeat/s each: p99 round trip (ms)", f"{p99:.1f}", f"p50 {p50:.1f}", "-")
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    for size in SWEEP_SIZES:
        wipe()
        # Sessions that are not due are never read from MongoDB: only the due ones are stored there.
        make_sessions(size, stale=100, in_mongo=100)
        later = clock.now() + dt.timedelta(seconds=1)
        t0 = time.perf_counter()
        result = sessions_sweep(now=later)
        elapsed = time.perf_counter() - t0
        assert result.dropped + result.disconnected == 100, result
        rows.append((f"sweeper, {size:,} active sessions, 100 stale (ms)", f"{elapsed * 1000:.0f}", "-", "-"))
    wipe()
    print(f"\nSessions benchmark ({machine()})\n")
    print(table(rows))
    save("sessions", rows, series)
    return 0


if __name__ == "__main__":
    sys.exit(main())
