"""Load run: N simulated learners doing the whole journey over real HTTP and WebSockets.

Journey: open the matchmaking socket, POST a request, get matched, open the session socket,
join by heartbeat, see `session.started`, beat twice more, end (participant1), see `session.ended`.
A learner who waits too long for a partner cancels the request, as a real client does. The robots
share the cores they measure, so they run on uvloop (as the web processes do). Against
2 and then 4 web processes (BENCH_LOAD_WEB), 2 Celery workers and beat; N rises until throughput
saturates (no longer grows by 5 %) and on, to show whether it then holds or degrades (falls under 90 % of the
best level before it, or a journey fails). Run with `make bench` (or `python -m devstack bench load`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import django
from django.core.management import call_command

from benchmarks.common import production_env

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["MATCHMAKING_RATE_LIMIT_PER_MINUTE"] = "1000000"  # the learners here are robots
# Web processes, workers and beat in the production form (DEBUG off), the log level from the
# environment as production has it (INFO unless BENCH_LOAD_LOG_LEVEL says otherwise).
PROD_ENV = production_env(LOG_LEVEL=os.environ.get("BENCH_LOAD_LOG_LEVEL", "INFO"))
django.setup()

import h11  # noqa: E402
import uvloop  # noqa: E402
import websockets  # noqa: E402

from benchmarks.common import (  # noqa: E402
    child_pids,
    cpu_seconds,
    machine,
    percentile,
    server_pid,
    store_counts,
    table,
    web_pid,
)
from benchmarks.history import created_since  # noqa: E402
from benchmarks.report import save  # noqa: E402
from conversation.auth import mint_token  # noqa: E402
from tests import contract  # noqa: E402
from tests.processes import ROOT, procfile_web_options, web_servers  # noqa: E402

# The test client checks every response against the OpenAPI schema; a benchmark measures the service,
# and that check would spend the client's share of the same 2 cores (and is not thread-safe on first use).
contract.state["enabled"] = False

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "10"))
# Every learner starts at once: the first journeys of a level all wait behind each other. The level is
# measured (rate, latencies, CPU and store counts) over the SECONDS that follow this ramp, in steady state.
RAMP_SECONDS = float(os.environ.get("BENCH_LOAD_RAMP_SECONDS", "3"))
LEVELS = [int(n) for n in os.environ.get("BENCH_LOAD_LEARNERS", "4,8,16,32,64,96,128").split(",")]
WEB_COUNTS = [int(n) for n in os.environ.get("BENCH_LOAD_WEB", "2,4").split(",")]
BODY = {"learningProfileId": "lp", "targetLanguageCode": "en", "userLevel": "B2", "preferredDuration": 5}
PARTNER_WAIT_SECONDS = 20  # a learner gives up (cancels) after waiting this long for a partner
KEEP_ALIVE_SECONDS = 4  # below the web process's --timeout-keep-alive (5 s, Procfile)


async def next_of(socket, *types: str, timeout: float = 20) -> dict:
    """The next event of one of `types` within `timeout` seconds (one timer, not a task per frame)."""
    async with asyncio.timeout(timeout):
        while True:
            event = json.loads(await socket.recv())
            if event.get("type") in types:
                return event


class Http:
    """One learner's HTTP/1.1 connection, kept open between its calls as a browser keeps it.

    On the event loop with h11 (uvicorn's own HTTP/1.1 parser): the robot shares the two cores it
    measures, and a thread plus a new connection per call (urllib) cost it ~1 ms of CPU a call.
    """

    def __init__(self, base: str) -> None:
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.connection = h11.Connection(h11.CLIENT)
        self.used_at = 0.0

    async def call(self, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
        # The server drops a connection idle for its keep-alive timeout (5 s): open a new one before that.
        if self.streams is None or time.monotonic() - self.used_at > KEEP_ALIVE_SECONDS:
            await self.close()
            self.streams = await asyncio.open_connection(self.host, self.port)
            self.connection = h11.Connection(h11.CLIENT)
        reader, writer = self.streams
        data = json.dumps(body).encode() if body is not None else b""
        headers = [("Host", f"{self.host}:{self.port}"), ("Authorization", f"Bearer {token}"),
                   ("Content-Type", "application/json"), ("Content-Length", str(len(data)))]  # fmt: skip
        send = self.connection.send
        writer.write(send(h11.Request(method=method, target=path, headers=headers)) + send(h11.Data(data=data)))
        writer.write(send(h11.EndOfMessage()))
        status, chunks = 0, []
        while not isinstance(event := self.connection.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                self.connection.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(event.data)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError(f"{method} {path}: the server closed the connection")
        if self.connection.our_state is h11.MUST_CLOSE:
            await self.close()
        else:
            self.connection.start_next_cycle()
        self.used_at = time.monotonic()
        return status, json.loads(b"".join(chunks) or b"null")

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def matched_session(http: Http, lobby, token: str, created: dict, give_up_at: float) -> str | None:
    """The session id once matched; None when the learner gave up and cancelled first."""
    if created.get("sessionId"):
        return created["sessionId"]
    try:
        found = await next_of(lobby, "match.found", timeout=max(0.1, give_up_at - time.perf_counter()))
        return found["session"]["id"]
    except TimeoutError:
        pass
    path = f"/api/v1/matchmaking/requests/{created['id']}/"
    status, body = await http.call("DELETE", path, token)
    if status == 200:
        return None
    if status == 409 and body.get("code") == "not_pending":  # matched while we were leaving: go
        status, body = await http.call("GET", path, token)
        if status == 200 and body.get("sessionId"):
            return body["sessionId"]
    raise RuntimeError(f"cancel: {status} {body}")


async def journey(http: Http, base_ws: str, user: str, token: str, stop_at: float) -> float | None:
    """Seconds the journey took; None when the learner gave up waiting for a partner.

    The sockets connect with `proxy=None`: websockets otherwise reads the environment's proxy settings
    (urllib's getproxies) on every connect, an eighth of the robots' CPU on the cores the run measures."""
    started = time.perf_counter()
    give_up_at = min(started + PARTNER_WAIT_SECONDS, stop_at + 1)  # nobody new arrives after the window
    async with websockets.connect(f"{base_ws}/ws/v1/matchmaking/?token={token}", proxy=None) as lobby:
        status, created = await http.call("POST", "/api/v1/matchmaking/requests/", token, BODY)
        if status != 201:
            raise RuntimeError(f"{status} {created}")
        session_id = await matched_session(http, lobby, token, created, give_up_at)
    if session_id is None:
        return None
    async with websockets.connect(f"{base_ws}/ws/v1/sessions/{session_id}/?token={token}", proxy=None) as room:
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
                status, ended = await http.call("POST", f"/api/v1/sessions/{session_id}/end/", token)
                if status != 200:
                    raise RuntimeError(f"end: {status} {ended}")
            await next_of(room, "session.ended")
        except websockets.ConnectionClosed as closed:
            # Once the partner has ended it, the socket closes (1000 after session.ended, 4410 for a
            # heartbeat that arrives after the end): both are the journey's end.
            if closed.rcvd is None or closed.rcvd.code not in (1000, 4410):
                raise
    return time.perf_counter() - started


@dataclass
class Outcome:
    done: list[tuple[float, float]] = field(default_factory=list)  # (finished at, seconds taken)
    errors: list[str] = field(default_factory=list)
    gave_up: int = 0
    window: tuple[float, float] = (0.0, 0.0)  # the measured span (after the ramp), perf_counter times
    meters: list = field(default_factory=list)  # what `meter` read at the window's start and end

    def rate(self, start: float, end: float) -> float:
        return sum(1 for at, _ in self.done if start <= at < end) / (end - start)

    def took(self) -> list[float]:
        """Seconds taken by the journeys that finished inside the window."""
        start, end = self.window
        return [took for at, took in self.done if start <= at < end]


async def learner(index: int, tag: str, urls: list[str], stop_at: float, outcome: Outcome) -> None:
    base_http = urls[index % len(urls)]
    base_ws = base_http.replace("http", "ws")
    http = Http(base_http)
    round_ = 0
    while time.perf_counter() < stop_at:
        # A fresh id per journey: a learner who left one behind (a crash, a cancel lost) starts clean.
        user = f"load-{tag}-{index}-{round_}"
        round_ += 1
        try:
            took = await journey(http, base_ws, user, mint_token(user), stop_at)
            if took is None:
                outcome.gave_up += 1
            elif time.perf_counter() <= stop_at:  # a journey finishing after the window is not counted
                outcome.done.append((time.perf_counter(), took))
        except Exception as exc:
            where = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__]
            lines = ",".join(map(str, where[1:]))  # the learner's own frame left out
            outcome.errors.append(f"{type(exc).__name__} at load.py:{lines}: {str(exc)[:80]}")
            await http.close()  # a call cut short leaves the connection mid-response
            await asyncio.sleep(0.5)
    await http.close()


async def run_learners(
    urls: list[str], learners: int, seconds: float, tag: str, *, ramp: float = 0.0, meter: Callable | None = None
) -> tuple[Outcome, float]:
    """`learners` robots for `ramp` + `seconds`; the outcome and when its window (after the ramp) opened.
    `meter` (blocking, run in a thread) is read as the window opens and as it closes."""
    outcome = Outcome()
    opens = time.perf_counter() + ramp
    stop_at = opens + seconds
    outcome.window = (opens, stop_at)

    async def metered() -> None:
        if meter is not None:
            await asyncio.sleep(ramp)
            outcome.meters.append(await asyncio.to_thread(meter))
            await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
            outcome.meters.append(await asyncio.to_thread(meter))

    await asyncio.gather(metered(), *(learner(i, tag, urls, stop_at, outcome) for i in range(learners)))
    return outcome, opens


@contextlib.contextmanager
def celery(*args: str) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", *args, "--loglevel", "WARNING"],
                            cwd=ROOT, env={**os.environ, **PROD_ENV})  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextlib.contextmanager
def service(web: int) -> Iterator[tuple[list[str], dict[str, int]]]:
    """`web` uvicorn processes (the Procfile's options), 2 workers and beat, as production runs them;
    their urls and pids. What the run stored is deleted once they stopped: the next run starts from
    what it loads."""
    started = dt.datetime.now(dt.UTC)
    with (
        web_servers(web, env=PROD_ENV, args=procfile_web_options()) as urls,
        celery("worker", "--concurrency", "1", "-n", "w1@%h") as w1,
        celery("worker", "--concurrency", "1", "-n", "w2@%h") as w2,
        celery("beat", "--schedule", f"/tmp/load-beat-schedule-{os.getpid()}") as beat,
    ):
        pids = {f"web{i + 1}": web_pid(url) for i, url in enumerate(urls)}
        pids.update(worker1=w1.pid, worker2=w2.pid, beat=beat.pid)
        yield urls, pids
    created_since(started)


def cpu_by_role(pids: dict[str, int]) -> Counter:
    """CPU seconds used so far by web, worker, beat, Redis and MongoDB (a worker with its pool)."""
    used: Counter = Counter()
    for name, pid in pids.items():
        used[name.rstrip("0123456789")] += cpu_seconds(pid) + sum(cpu_seconds(c) for c in child_pids(pid))
    return used


def journey_cost(urls: list[str], learners: int, tag: str, pids: dict[str, int]) -> tuple[Outcome, dict[str, float]]:
    """Runs a level; its CPU ms per process role (the load client too) and store operations per journey
    completed in the window, all read over that same window."""

    def meter() -> tuple:
        # This process and its threads: the learners, on the same cores.
        return cpu_by_role(pids), store_counts(), time.process_time()

    outcome, _ = uvloop.run(run_learners(urls, learners, SECONDS, tag, ramp=RAMP_SECONDS, meter=meter))
    (cpu0, (mongo0, redis0), client0), (cpu1, (mongo1, redis1), client1) = outcome.meters
    journeys = len(outcome.took()) or 1
    cost = {f"{role} ms": (cpu1[role] - cpu0[role]) * 1000 / journeys for role in cpu1}
    cost["client ms"] = (client1 - client0) * 1000 / journeys
    cost.update(mongo_ops=(mongo1 - mongo0).total() / journeys, redis_cmds=(redis1 - redis0).total() / journeys)
    top = ", ".join(f"{name} {count / journeys:.1f}" for name, count in (redis1 - redis0).most_common(8))
    print(f"  Redis commands per journey: {top}")
    ops = ", ".join(f"{name} {count / journeys:.1f}" for name, count in (mongo1 - mongo0).most_common())
    print(f"  MongoDB operations per journey: {ops}")
    print("  cost per journey:", ", ".join(f"{k} {v:.1f}" for k, v in sorted(cost.items())))
    return outcome, cost


def sweep(web: int, rows: list, series: dict) -> None:
    rates, p99s = [], []
    best, saturated_at, degraded_at, best_cost = 0.0, None, None, {}
    with service(web) as (urls, pids):
        pids.update({name: pid for name in ("redis", "mongodb") if (pid := server_pid(name))})
        for learners in LEVELS:
            outcome, cost = journey_cost(urls, learners, f"{web}w{learners}", pids)
            rate = outcome.rate(*outcome.window)
            took = outcome.took()
            p50, p99 = percentile(took, 50) * 1000, percentile(took, 99) * 1000
            rows.append((f"{web} web, {learners} learners: journeys/s (p50 / p99 ms; errors, gave up)", f"{rate:,.1f}",
                         f"p50 {p50:.0f} / p99 {p99:.0f}",
                         f"{len(outcome.errors)} errors, {outcome.gave_up} gave up"))  # fmt: skip
            for message in sorted(set(outcome.errors)):
                print(f"  {web} web, {learners} learners, {outcome.errors.count(message)}x {message}")
            rates.append((learners, rate))
            p99s.append((learners, p99))
            # Saturated: more learners no longer add 5 % of throughput (the cores are full; from there on
            # each learner more only queues, and the latencies grow with the learners). Degraded: the
            # throughput falls under 90 % of the best level before it, or a journey fails.
            if saturated_at is None and rate < best * 1.05:
                saturated_at = learners
            if degraded_at is None and (rate < best * 0.9 or outcome.errors):
                degraded_at = learners
            if rate > best:
                best_cost = cost
            best = max(best, rate)
    beyond = f"> {LEVELS[-1]}"
    rows.append((f"{web} web: saturates at; degrades at (learners); peak journeys/s",
                 f"{saturated_at or beyond}; {degraded_at or beyond}", f"peak {best:,.1f}", "-"))  # fmt: skip
    rows.append((f"{web} web: cost of one journey at the peak (CPU ms per role; store operations)",
                 ", ".join(f"{k} {v:.1f}" for k, v in sorted(best_cost.items())), "-", "-"))  # fmt: skip
    series[f"load:journeys/s against learners, {web} web"] = rates
    series[f"load:p99 journey ms against learners, {web} web"] = p99s


def main() -> int:
    # The starter catalog, as a deployment has one: each session gets a topic and its payloads name it
    # (`session.state`, `session.started`, `session.ended`, the end POST's answer).
    call_command("load_topics", verbosity=0)
    rows: list[tuple[str, str, str, str]] = []
    series: dict[str, list] = {}
    for web in WEB_COUNTS:
        sweep(web, rows, series)
    print(f"\nLoad run ({machine()}; 2 workers, beat; {SECONDS:.0f} s per level after a {RAMP_SECONDS:.0f} s ramp)\n")
    print(table(rows))
    save("load", rows, series)
    return 0


if __name__ == "__main__":
    sys.exit(main())
