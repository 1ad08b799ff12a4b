"""What one pairing costs over HTTP in the production form: store operations and CPU per pair.

One uvicorn web process with DJANGO_DEBUG=0 against the real Redis and SecantusDB devstack
started; no worker or beat (the idle window below measures what is left: the web process idle
and this script's own counter reads). Three rounds of N pairs go through
`POST /api/v1/matchmaking/requests/` from 8 client threads on keep-alive connections, each thread
in its own queue (a waiting learner, then the one who pairs with them). Around each round: MongoDB
`serverStatus` opcounters, Redis `INFO commandstats`, and `/proc/<pid>/stat` CPU of the web,
SecantusDB and Redis processes; the round of median web CPU is reported, with every round's figure
beside it (one round's CPU per pair moves by up to 15 % here from run to run); an idle window of the
same length is subtracted from the store counts. In the same run, the authenticated one-topic GET
and `/health/live` give the framework's own cost. `BENCH_PROFILE=1` (as `make bench` sets it) also
samples the web process with py-spy, in a round of its own after each measured phase.

The database is not empty: before the run it gets `BENCH_COST_HISTORY` (10,000) past pairs, 20,000
matched requests and 10,000 completed sessions (benchmarks/history.py), and the output states every
touched collection's document count. An empty database flatters the server (shallow index trees, a
TTL pass with nothing to read); a real one holds a week of requests, millions at 1k learners, which a
bench cannot load into SecantusDB in reasonable time: 10,000 pairs is where the per-operation cost
has taken most of its growth (docs/SCALING.md, MongoDB). What the bench inserted is deleted at the end.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import django
from django.core.management import call_command

from benchmarks.common import production_env

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# One robot per learner here, but a 20/min limit per user stays.
PROD_ENV = production_env(MATCHMAKING_RATE_LIMIT_PER_MINUTE="1000000", LOG_LEVEL="WARNING")
django.setup()

from benchmarks.common import cpu_seconds, machine, server_pid, store_counts, table, web_pid  # noqa: E402
from benchmarks.history import created_since, history_load  # noqa: E402
from benchmarks.report import save  # noqa: E402
from conversation.auth import mint_token  # noqa: E402
from tests.processes import ROOT, drop_options, procfile_web_options, web_servers  # noqa: E402

PAIRS = int(os.environ.get("BENCH_COST_PAIRS", "600"))
HISTORY = int(os.environ.get("BENCH_COST_HISTORY", "10000"))
TOUCHED = ("matchmaking_request", "conversation_session", "topic")
THREADS = 8
ROUNDS = int(os.environ.get("BENCH_COST_ROUNDS", "3"))
PROFILE = os.environ.get("BENCH_PROFILE") == "1"
H11_OPTIONS = ["--http", "h11", "--h11-max-incomplete-event-size", "16384"]
QUEUES = [(lang, level) for lang in ("en", "fr") for level in ("A1", "A2", "B1", "B2")][:THREADS]
TARGETS = {"mongo": 7, "redis": 40, "web_ms": 8.0, "mongo_ms": 7.0, "ratio": 0.6, "live_ms": 0.7}


class Client:
    """One keep-alive HTTP/1.1 connection, as a client behind a load balancer has."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"null")


def cpu_of(pids: dict[str, int | None]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items() if pid}


def measured(pids: dict[str, int | None], work: Callable[[], int]) -> dict:
    """Runs `work` (returns how many units it did) and what it cost in store calls and CPU."""
    mongo0, redis0 = store_counts()
    cpu0 = cpu_of(pids)
    started = time.perf_counter()
    units = work()
    elapsed = time.perf_counter() - started
    cpu1 = cpu_of(pids)
    mongo1, redis1 = store_counts()
    return {
        "units": units,
        "seconds": elapsed,
        "mongo": mongo1 - mongo0,
        "redis": redis1 - redis0,
        "cpu": {name: cpu1[name] - cpu0[name] for name in cpu1},
    }


def pairs_work(base: str, pairs: int, tag: str) -> Callable[[], int]:
    per_thread = pairs // THREADS
    tokens = [
        [(mint_token(f"{tag}{t}-{i}-a"), mint_token(f"{tag}{t}-{i}-b")) for i in range(per_thread)]
        for t in range(THREADS)
    ]
    failures: list[str] = []

    def thread(index: int) -> None:
        lang, level = QUEUES[index]
        body = {"learningProfileId": "lp", "targetLanguageCode": lang, "userLevel": level, "preferredDuration": 10}
        http_client = Client(base)
        for waiting, arriving in tokens[index]:
            status, first = http_client.call("POST", "/api/v1/matchmaking/requests/", waiting, body)
            if status != 201 or first["status"] != "pending":
                failures.append(f"{status} {first}")
            status, second = http_client.call("POST", "/api/v1/matchmaking/requests/", arriving, body)
            if status != 201 or second["status"] != "matched":
                failures.append(f"{status} {second}")

    def work() -> int:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(thread, range(THREADS)))
        if failures:
            raise SystemExit(f"{len(failures)} pairing POSTs failed, first: {failures[0]}")
        return per_thread * THREADS

    return work


def gets_work(base: str, path: str, count: int, token: str | None) -> Callable[[], int]:
    def thread(n: int) -> None:
        http_client = Client(base)
        for _ in range(n):
            status, _body = http_client.call("GET", path, token)
            assert status == 200, (path, status)

    def work() -> int:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(thread, [count // THREADS] * THREADS))
        return count // THREADS * THREADS

    return work


def idle(seconds: float) -> Callable[[], int]:
    def work() -> int:
        time.sleep(seconds)
        return 0

    return work


class Profiler:
    """py-spy sampling the web process during one phase (BENCH_PROFILE=1); the top frames are kept."""

    def __init__(self, pid: int, name: str) -> None:
        self.proc = None
        self.out = ROOT / "var" / "bench" / f"profile-{name}.txt"
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if PROFILE and Path(spy).exists():
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.proc = subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(self.out), "--rate", "200",
                 "--gil", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)  # attached before the load starts

    def stop(self) -> list[tuple[str, float]]:
        if self.proc is None:
            return []
        self.proc.send_signal(2)
        self.proc.wait(timeout=30)
        return top_frames(self.out)


def top_frames(raw: Path, count: int = 8) -> list[tuple[str, float]]:
    """Self-time share per function from py-spy's collapsed stacks (idle event-loop waits left out)."""
    selfs: Counter = Counter()
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        leaf = stack.split(";")[-1]
        if any(idle in stack for idle in ("select (selectors.py", "_worker (concurrent/futures/thread.py",
                                            "wait (threading.py", "_run_once")) and "(" in leaf and (
            "select" in leaf or "wait" in leaf):  # fmt: skip
            continue
        selfs[leaf] += int(samples)
    total = sum(selfs.values()) or 1
    return [(frame, n / total) for frame, n in selfs.most_common(count)]


def cpu_ms(result: dict, process: str) -> float:
    """CPU ms of `process` per unit (pair) of one measured round."""
    return result["cpu"].get(process, float("nan")) * 1000 / (result["units"] or 1)


def typical(rounds: list[dict]) -> dict:
    """The round of median web CPU: one run's CPU per pair moves by up to 15 % on this machine kind."""
    return sorted(rounds, key=lambda r: cpu_ms(r, "web"))[len(rounds) // 2]


def spread(rounds: list[dict], process: str) -> str:
    return ", ".join(f"{cpu_ms(r, process):.1f}" for r in rounds)


def per_unit(result: dict, idle_result: dict) -> dict:
    units = result["units"] or 1
    mongo_ops = result["mongo"] - idle_result["mongo"]
    redis_cmds = result["redis"] - idle_result["redis"]
    return {
        "mongo": mongo_ops.total() / units,
        "mongo_by": {k: round(v / units, 2) for k, v in mongo_ops.items() if v > 0},
        "redis": redis_cmds.total() / units,
        "redis_by": {k: round(v / units, 2) for k, v in redis_cmds.most_common() if v / units >= 0.05},
        "cpu_ms": {process: cpu_ms(result, process) for process in result["cpu"]},
        "rate": units / result["seconds"],
    }


def verdict(value: float, target: float, *, at_least: bool = False) -> str:
    met = value >= target if at_least else value <= target
    return f"{'met' if met else 'NOT met'} (target {'>=' if at_least else '<='} {target:g})"


def live_cpu(env: dict[str, str], options: list[str]) -> dict:
    """`/health/live` on a server started with `options`: its CPU per request and rate."""
    with web_servers(1, env=env, args=options) as (base,):
        pid = web_pid(base)
        measured({"web": pid}, gets_work(base, "/health/live", 400, None))
        result = measured({"web": pid}, gets_work(base, "/health/live", 4 * PAIRS, None))
    return {"ms": result["cpu"]["web"] * 1000 / result["units"], "rate": result["units"] / result["seconds"]}


def collection_counts() -> dict[str, int]:
    """Documents in each collection the pairing touches: its costs are read at this size."""
    from conversation import mongo

    return {name: mongo.db()[name].count_documents({}) for name in TOUCHED}


def main() -> int:
    started = dt.datetime.now(dt.UTC)
    call_command("load_topics", verbosity=0)  # the starter catalog: every queue here has topics to draw
    history_load(HISTORY)
    options = procfile_web_options()
    with web_servers(1, env=PROD_ENV, args=options) as (base,):
        web = web_pid(base)
        pids = {"web": web, "mongodb": server_pid("mongodb"), "redis": server_pid("redis")}
        staff = mint_token("bench-reader")
        # Warm-up: imports, connection pools, script loads and caches of the first requests.
        measured(pids, pairs_work(base, THREADS * 4, "warm"))
        measured(pids, gets_work(base, "/api/v1/topics/?pageSize=1", 80, staff))
        counts_before = collection_counts()
        rounds = [measured(pids, pairs_work(base, PAIRS, f"run{n}-")) for n in range(ROUNDS)]
        profiler = Profiler(web, "pairing")
        if profiler.proc is not None:  # its own round: the sampler's cost is in no figure
            measured(pids, pairs_work(base, PAIRS, "profiled-"))
        pairing_frames = profiler.stop()
        pairing = typical(rounds)
        quiet = measured(pids, idle(pairing["seconds"]))
        counts_after = collection_counts()
        topics = measured(pids, gets_work(base, "/api/v1/topics/?pageSize=1", 2 * PAIRS, staff))
        live = measured(pids, gets_work(base, "/health/live", 4 * PAIRS, None))
        profiler = Profiler(web, "live")
        if profiler.proc is not None:
            measured(pids, gets_work(base, "/health/live", 4 * PAIRS, None))
        live_frames = profiler.stop()
    created_since(started, TOUCHED[:2])  # the topics stay: the catalog is the service's own
    # The same liveness probe with h11 and its 16 KiB head limit, the Procfile's parser until round 11.
    with_h11 = live_cpu(PROD_ENV, [*drop_options(options, {"--http"}), *H11_OPTIONS])
    cost, get_cost, live_cost = per_unit(pairing, quiet), per_unit(topics, quiet), per_unit(live, quiet)
    post_rate = 2 * cost["rate"]
    ratio = post_rate / get_cost["rate"]
    rows = [
        ("MongoDB operations per pair", f"{cost['mongo']:.1f}", json.dumps(cost["mongo_by"]),
         verdict(cost["mongo"], TARGETS["mongo"])),
        ("Redis commands per pair", f"{cost['redis']:.1f}", ", ".join(f"{k} {v}" for k, v in cost["redis_by"].items()),
         verdict(cost["redis"], TARGETS["redis"])),
        ("web process CPU per pair (ms)", f"{cost['cpu_ms']['web']:.1f}",
         f"median of {ROUNDS} rounds of {PAIRS} pairs from {THREADS} threads; rounds: {spread(rounds, 'web')}",
         verdict(cost["cpu_ms"]["web"], TARGETS["web_ms"])),
        ("SecantusDB CPU per pair (ms)", f"{cost['cpu_ms'].get('mongodb', float('nan')):.1f}",
         f"rounds: {spread(rounds, 'mongodb')}",
         verdict(cost["cpu_ms"].get("mongodb", float("nan")), TARGETS["mongo_ms"])),
        ("Redis CPU per pair (ms)", f"{cost['cpu_ms'].get('redis', float('nan')):.2f}", "-", "-"),
        ("pairs/s (2 POSTs each)", f"{cost['rate']:.1f}", "-", "-"),
        ("pairing POSTs/s vs authenticated one-topic GETs/s", f"{post_rate:.0f}", f"{get_cost['rate']:.0f} GET/s",
         f"{ratio:.2f}: " + verdict(ratio, TARGETS["ratio"], at_least=True)),
        ("one-topic GET: web CPU per request (ms)", f"{get_cost['cpu_ms']['web']:.2f}",
         f"Mongo {get_cost['mongo']:.1f} ops, Redis {get_cost['redis']:.1f} cmds", "-"),
        ("/health/live: web CPU per request (ms)", f"{live_cost['cpu_ms']['web']:.2f}", f"{live_cost['rate']:.0f}/s",
         verdict(live_cost["cpu_ms"]["web"], TARGETS["live_ms"])),
        ("/health/live with h11 instead of httptools: web CPU per request (ms)", f"{with_h11['ms']:.2f}",
         f"{with_h11['rate']:.0f}/s", "-"),
        ("idle window (no worker, no beat): Mongo ops, Redis cmds",
         f"{quiet['mongo'].total()}, {quiet['redis'].total()}", f"{quiet['seconds']:.1f} s", "-"),
        ("idle window: SecantusDB CPU (ms per s)", f"{quiet['cpu'].get('mongodb', 0) * 1000 / quiet['seconds']:.1f}",
         "its background work (TTL sweep, checkpoints), included in the per-pair figure", "-"),
        ("documents at the run: requests, sessions, topics",
         ", ".join(f"{counts_before[k]:,}" for k in counts_before),
         "after: " + ", ".join(f"{counts_after[k]:,}" for k in counts_after), "-"),
    ]  # fmt: skip
    for name, frames in (("pairing", pairing_frames), ("/health/live", live_frames)):
        for frame, share in frames:
            rows.append((f"profile {name}: self time", f"{share:.0%}", frame.replace("|", "/"), "-"))
    print(f"\nPairing cost ({machine()}; 1 web process, DEBUG off, {ROUNDS} x {PAIRS} pairs from {THREADS} threads)\n")
    print(table(rows))
    save("pairing_cost", rows, {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
