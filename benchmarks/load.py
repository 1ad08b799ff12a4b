"""Load run: N simulated learners doing the whole journey over real HTTP and WebSockets.

Journey: open the matchmaking socket, POST a request, get matched, open the session socket,
join by heartbeat, see `session.started`, beat twice more, end (participant1), see `session.ended`.
Against 2 web processes, 2 Celery workers and beat; N rises until throughput stops growing or
the p99 doubles. Run with `make bench` (or `python -m devstack bench load`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["MATCHMAKING_RATE_LIMIT_PER_MINUTE"] = "1000000"  # the learners here are robots
django.setup()

import websockets  # noqa: E402

from benchmarks.common import machine, percentile, table  # noqa: E402
from benchmarks.report import save  # noqa: E402
from conversation.auth import mint_token  # noqa: E402
from tests.processes import ROOT, http, web_servers  # noqa: E402

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "10"))
LEVELS = [int(n) for n in os.environ.get("BENCH_LOAD_LEARNERS", "4,8,16,32,64").split(",")]
BODY = {"learningProfileId": "lp", "targetLanguageCode": "en", "userLevel": "B2", "preferredDuration": 5}


async def next_of(socket, *types: str, timeout: float = 20) -> dict:
    while True:
        event = json.loads(await asyncio.wait_for(socket.recv(), timeout=timeout))
        if event.get("type") in types:
            return event


async def journey(base_http: str, base_ws: str, user: str, token: str) -> float:
    started = time.perf_counter()
    async with websockets.connect(f"{base_ws}/ws/v1/matchmaking/?token={token}") as lobby:
        status, created = await asyncio.to_thread(
            http, "POST", f"{base_http}/api/v1/matchmaking/requests/", token, BODY
        )
        if status != 201:
            raise RuntimeError(f"{status} {created}")
        session_id = created.get("sessionId")
        if not session_id:
            session_id = (await next_of(lobby, "match.found"))["session"]["id"]
    async with websockets.connect(f"{base_ws}/ws/v1/sessions/{session_id}/?token={token}") as room:
        state = (await next_of(room, "session.state"))["session"]
        try:
            await room.send('{"type":"heartbeat"}')
            if state["status"] != "active":
                await next_of(room, "session.started")
            for _ in range(2):
                await room.send('{"type":"heartbeat"}')
                if (await next_of(room, "heartbeat.ack", "session.ended"))["type"] == "session.ended":
                    return time.perf_counter() - started  # the partner ended first
            if state["participant1Id"] == user:
                await asyncio.to_thread(http, "POST", f"{base_http}/api/v1/sessions/{session_id}/end/", token)
            await next_of(room, "session.ended")
        except websockets.ConnectionClosed as closed:
            # Once the partner has ended it, the socket closes (1000 after session.ended, 4410 for a
            # heartbeat that arrives after the end): both are the journey's end.
            if closed.rcvd is None or closed.rcvd.code not in (1000, 4410):
                raise
    return time.perf_counter() - started


async def learner(
    index: int, level: int, urls: list[str], stop_at: float, latencies: list[float], errors: list[str]
) -> None:
    base_http = urls[index % len(urls)]
    base_ws = base_http.replace("http", "ws")
    while time.perf_counter() < stop_at:
        user = f"load-{level}-{index}"  # fresh ids per level: a last, unmatched journey must not leak over
        try:
            took = await journey(base_http, base_ws, user, mint_token(user))
            if time.perf_counter() <= stop_at:  # a journey finishing after the window is not counted
                latencies.append(took)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and time.perf_counter() > stop_at:
                break  # the run ended while this learner waited for a partner who had stopped
            errors.append(f"{type(exc).__name__}: {str(exc)[:80]}")
            await asyncio.sleep(0.5)


async def run_level(urls: list[str], learners: int) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + SECONDS
    await asyncio.gather(*(learner(i, learners, urls, stop_at, latencies, errors) for i in range(learners)))
    # Journeys completed within the window, over the window: the last learners may wait on after it.
    return len(latencies) / SECONDS, latencies, errors


@contextlib.contextmanager
def celery(*args: str):
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", *args, "--loglevel", "WARNING"],
                            cwd=ROOT, env=os.environ.copy())  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> int:
    rows, points, all_latencies = [], [], []
    previous_p99 = None
    degraded_at = None
    with (
        web_servers(2) as urls,
        celery("worker", "--concurrency", "1", "-n", "w1@%h"),
        celery("worker", "--concurrency", "1", "-n", "w2@%h"),
        celery("beat", "--schedule", "/tmp/load-beat-schedule"),
    ):
        best = 0.0
        for learners in LEVELS:
            rate, latencies, errors = asyncio.run(run_level(urls, learners))
            p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
            rows.append((f"{learners} learners: journeys/s (p50 / p99 ms, errors)", f"{rate:,.1f}",
                         f"p50 {p50:.0f} / p99 {p99:.0f}", f"{len(errors)} errors"))  # fmt: skip
            for message in sorted(set(errors)):
                print(f"  {learners} learners, {errors.count(message)}x {message}")
            points.append((learners, rate))
            all_latencies += latencies
            if degraded_at is None and (rate < best * 1.05 or (previous_p99 and p99 > 2 * previous_p99)):
                degraded_at = learners
            best, previous_p99 = max(best, rate), p99
    rows.append(("degrades at (learners)", str(degraded_at or f"> {LEVELS[-1]}"), "-", "-"))
    print(f"\nLoad run ({machine()}; 2 web processes, 2 workers, beat; {SECONDS:.0f} s per level)\n")
    print(table(rows))
    save("load", rows, {"load:journeys/s against learners": points, "journey latency": all_latencies})
    return 0


if __name__ == "__main__":
    sys.exit(main())
