"""Soak: the load run's journeys at one level for at least ten minutes, watching for decay.

Two web processes, two workers and beat, BENCH_SOAK_LEARNERS learners (default: the load run's
knee) for BENCH_SOAK_MINUTES after the load run's ramp (the minutes count from its end). Every 10 s it
samples the RSS and CPU of every process (web, workers with their children, beat, Redis, SecantusDB); per
minute it counts completed journeys and what each of web, SecantusDB and Redis spent on one (so a slower
minute shows where its time went). It passes when the last minute's journeys/s is within 10% of the
first's, with no errors, and says how each RSS moved.
Run with `make soak` (`make bench` runs it last).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import uvloop
from django.core.management import call_command

from benchmarks.common import child_pids, cpu_seconds, machine, rss_mb, server_pid, table
from benchmarks.load import RAMP_SECONDS, run_learners, service
from benchmarks.report import RESULTS, save

MINUTES = int(os.environ.get("BENCH_SOAK_MINUTES", "10"))
SAMPLE_SECONDS = 10


def knee() -> int:
    """The fewest learners at which the load run (2 web processes) reached 95 % of its peak journeys/s:
    where its curve flattens (past it, learners only queue). 32 when the load run has not run."""
    try:
        series = json.loads((RESULTS / "load.json").read_text())["series"]
        points = series["load:journeys/s against learners, 2 web"]
        peak = max(rate for _, rate in points)
        return int(min(learners for learners, rate in points if rate >= 0.95 * peak))
    except (OSError, KeyError, ValueError):
        return 32


LEARNERS = int(os.environ.get("BENCH_SOAK_LEARNERS") or knee())


def tree_rss(pid: int) -> float:
    """RSS of a process and its children (a Celery worker's pool processes)."""
    return rss_mb(pid) + sum(tree_rss(child) for child in child_pids(pid))


CPU_ROLES = ("web", "mongodb", "redis")


def sampler(
    pids: dict[str, int], stop: threading.Event, samples: dict[str, list[tuple[float, float]]], cpu: list
) -> None:
    """Every SAMPLE_SECONDS: each process's RSS (by minutes since the start), and the CPU seconds used so
    far by each role of CPU_ROLES (with the perf_counter time of the reading)."""
    started = time.perf_counter()
    while not stop.is_set():
        now = time.perf_counter()
        minute = (now - started) / 60
        used = dict.fromkeys(CPU_ROLES, 0.0)
        for name, pid in pids.items():
            try:
                samples.setdefault(name, []).append((minute, tree_rss(pid)))
                if (role := name.rstrip("0123456789")) in used:
                    used[role] += cpu_seconds(pid)
            except (FileNotFoundError, ProcessLookupError):
                samples.setdefault(name, []).append((minute, float("nan")))
        cpu.append((now, used))
        stop.wait(SAMPLE_SECONDS)


def cpu_per_journey(cpu: list, outcome, start: float, end: float) -> str:
    """CPU ms per journey of each role between the readings nearest `start` and `end`."""
    first = min(cpu, key=lambda reading: abs(reading[0] - start))
    last = min(cpu, key=lambda reading: abs(reading[0] - end))
    journeys = sum(1 for at, _ in outcome.done if first[0] <= at < last[0])
    if not journeys:
        return "-"
    return ", ".join(f"{role} {1000 * (last[1][role] - first[1][role]) / journeys:.1f}" for role in CPU_ROLES)


def main() -> int:
    call_command("load_topics", verbosity=0)  # sessions with topics, as in the load run
    samples: dict[str, list[tuple[float, float]]] = {}
    with service(2) as (urls, pids):
        pids.update({name: pid for name in ("redis", "mongodb") if (pid := server_pid(name))})
        stop = threading.Event()
        cpu: list = []
        thread = threading.Thread(target=sampler, args=(pids, stop, samples, cpu), daemon=True)
        thread.start()
        outcome, started = uvloop.run(run_learners(urls, LEARNERS, MINUTES * 60, "soak", ramp=RAMP_SECONDS))
        stop.set()
        thread.join()
    per_minute = [(m + 1, outcome.rate(started + 60 * m, started + 60 * (m + 1))) for m in range(MINUTES)]
    first, last = per_minute[0][1], per_minute[-1][1]
    drift = (last - first) / first if first else float("nan")
    rows = [
        (f"journeys/s, minute {m}", f"{rate:.1f}",
         "CPU ms per journey: " + cpu_per_journey(cpu, outcome, started + 60 * (m - 1), started + 60 * m), "-")
        for m, rate in per_minute
    ]  # fmt: skip
    rows.append(
        ("last minute vs first", f"{drift:+.1%}", "target within 10%", "met" if abs(drift) <= 0.10 else "NOT met")
    )
    rows.append(("errors; gave up (cancelled)", f"{len(outcome.errors)}; {outcome.gave_up}", "-", "-"))
    for message in sorted(set(outcome.errors)):
        rows.append(("error", f"{outcome.errors.count(message)}x", message.replace("|", "/"), "-"))
    series = {"soak:journeys/s per minute": per_minute}
    for name, points in samples.items():
        rss = [mb for _, mb in points]
        head, tail = rss[: len(rss) // 4] or rss, rss[-(len(rss) // 4) :] or rss
        rows.append((f"RSS {name} (MB): first quarter -> last quarter, max", f"{sum(head) / len(head):.0f} -> "
                     f"{sum(tail) / len(tail):.0f}", f"max {max(rss):.0f}", "-"))  # fmt: skip
        series[f"soak:RSS {name}"] = points
    print(f"\nSoak ({machine()}; 2 web, 2 workers, beat; {LEARNERS} learners, {MINUTES} min)\n")
    print(table(rows))
    save("soak", rows, series)
    return 0


if __name__ == "__main__":
    sys.exit(main())
