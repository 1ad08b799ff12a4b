"""Helpers shared by the benchmarks: percentiles, tables, machine description."""

from __future__ import annotations

import os
import platform
import secrets
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path


def production_env(**overrides: str) -> dict[str, str]:
    """Settings for the service processes a bench starts, in the production form: DEBUG off, its own
    secret key, the log level production runs at. The bench's JWT secret goes into this process's
    environment too (call before `django.setup()`), so the tokens it mints verify in the servers."""
    os.environ["JWT_SECRET"] = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(32)
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SECRET": os.environ["JWT_SECRET"],
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        **overrides,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}"


def table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| figure | value | baseline (same run) | ratio |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# A fixed pure-Python loop, timed by its own CPU clock in a fresh process (see `probe_ms`).
_PROBE = "import time\nt = time.process_time()\nfor i in range(2_000_000):\n    pass\nprint(time.process_time() - t)"


def probe_ms() -> float:
    """CPU ms of a fixed loop: how fast a core of the machine runs at this moment.

    The benches' VM changes speed by a third within the hour, and every process's CPU for the same work
    moves with it. The loop's own CPU time leaves out waiting for a core (contention), so on a machine the
    benches keep busy it still reads the speed, not the load; time the hypervisor steals while it runs
    counts, as it does for every process here.
    """
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    return float(out) * 1000


def cpu_ticks() -> tuple[int, int]:
    """(all, steal) clock ticks of the machine's CPUs so far, from /proc/stat: the share the hypervisor
    took from this guest between two readings is the steal difference over the all difference."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(fields), fields[7]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def web_pid(url: str) -> int:
    """The pid of the uvicorn process listening on `url`'s port (started by tests.processes.web_servers)."""
    port = url.rsplit(":", 1)[1]
    return int(subprocess.check_output(["pgrep", "-f", "--", f"--port {port}"]).split()[0])


def child_pids(pid: int) -> list[int]:
    """A process's children (a Celery worker's pool processes)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def server_pid(name: str) -> int | None:
    """The pid of an embedded server devstack started (None when the store came by URL)."""
    value = os.environ.get(f"DEVSTACK_{name.upper()}_PID")
    return int(value) if value else None


def store_counts() -> tuple[Counter, Counter]:
    """MongoDB `serverStatus` opcounters and Redis `INFO commandstats` calls, to subtract around a run."""
    from conversation import mongo
    from conversation.redis import client

    ops = mongo.db().client.admin.command("serverStatus")["opcounters"]
    mongo_ops = Counter({k: int(v) for k, v in ops.items() if isinstance(v, int | float)})
    stats = client().info("commandstats")
    redis_cmds = Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})
    return mongo_ops, redis_cmds
