"""Soak: the load run's journeys at one level for at least ten minutes, watching for decay.

Two web processes, two workers and beat, BENCH_SOAK_LEARNERS learners (default: the load run's
knee) for BENCH_SOAK_MINUTES after the load run's ramp (the minutes count from its end). Every 10 s it
samples the RSS and CPU of every process (web, workers with their children, beat, Redis, SecantusDB); per
minute it counts completed journeys and what each of web, SecantusDB and Redis spent on one (so a slower
minute shows where its time went). It passes when the last minute's journeys/s is within 10% of the
first's, with no errors, and says how each RSS moved.

The machine is read beside it, every sample: the share of the CPUs the hypervisor took (steal, from
/proc/stat) and a fixed loop's CPU time (`common.probe_ms`). On the benches' VM the steal share moves
from 0 to a fifth within minutes and the journeys/s with it, so the table also compares the journeys/s
per share of the CPUs left to this machine (journeys/s / (1 - steal)) between the first and last
minutes: a slower minute the hypervisor explains reads flat there, the service's own decay does not.
(The probe is kept per minute: it reads a core slowed with no steal, by a neighbour's cache pressure,
but one short loop in ten seconds is too noisy to correct by.)
Run with `make soak` (`make bench` runs it last).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass

import uvloop
from django.core.management import call_command

from benchmarks.common import child_pids, cpu_seconds, cpu_ticks, machine, median, probe_ms, rss_mb, server_pid, table
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
    """Every SAMPLE_SECONDS: each process's RSS (by minutes since the start), and a reading (perf_counter
    time, the CPU seconds used so far by each role of CPU_ROLES, the probe's ms, the machine's CPU ticks)."""
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
        cpu.append((now, used, probe_ms(), cpu_ticks()))
        stop.wait(SAMPLE_SECONDS)


@dataclass
class Minute:
    """One minute of the soak: journeys/s, CPU ms per journey by role, and the machine's speed."""

    rate: float
    cpu_ms: dict[str, float]  # empty when no journey ended within the minute's readings
    probe_ms: float
    steal: float

    def describe(self) -> str:
        cpu = ", ".join(f"{role} {ms:.1f}" for role, ms in self.cpu_ms.items()) or "-"
        return f"CPU ms per journey: {cpu}; machine: probe {self.probe_ms:.0f} ms, steal {self.steal:.0%}"

    @property
    def rate_per_share(self) -> float:
        """Journeys/s per share of the CPUs the hypervisor left to this machine in the minute."""
        return self.rate / (1 - self.steal)


def minute_of(cpu: list, outcome, start: float, end: float) -> Minute:
    """The minute between the readings nearest `start` and `end`."""
    first = min(cpu, key=lambda reading: abs(reading[0] - start))
    last = min(cpu, key=lambda reading: abs(reading[0] - end))
    journeys = sum(1 for at, _ in outcome.done if first[0] <= at < last[0])
    cpu_ms = {role: 1000 * (last[1][role] - first[1][role]) / journeys for role in CPU_ROLES} if journeys else {}
    probes = [reading[2] for reading in cpu if first[0] <= reading[0] <= last[0]]
    ticks = last[3][0] - first[3][0]
    steal = (last[3][1] - first[3][1]) / ticks if ticks else float("nan")
    return Minute(outcome.rate(start, end), cpu_ms, median(probes), steal)


def drift(first: float, last: float) -> float:
    return (last - first) / first if first else float("nan")


def within(change: float) -> str:
    return "met" if abs(change) <= 0.10 else "NOT met"


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
    minutes = [minute_of(cpu, outcome, started + 60 * m, started + 60 * (m + 1)) for m in range(MINUTES)]
    rows = [(f"journeys/s, minute {m}", f"{one.rate:.1f}", one.describe(), "-") for m, one in enumerate(minutes, 1)]
    rate_drift = drift(minutes[0].rate, minutes[-1].rate)
    rows.append(("last minute vs first", f"{rate_drift:+.1%}", "target within 10%", within(rate_drift)))
    share_drift = drift(minutes[0].rate_per_share, minutes[-1].rate_per_share)
    rows.append(("journeys/s per CPU share left by the hypervisor, last minute vs first", f"{share_drift:+.1%}",
                 f"steal {minutes[0].steal:.0%} -> {minutes[-1].steal:.0%}; probe {minutes[0].probe_ms:.0f} -> "
                 f"{minutes[-1].probe_ms:.0f} ms", within(share_drift)))  # fmt: skip
    rows.append(("errors; gave up (cancelled)", f"{len(outcome.errors)}; {outcome.gave_up}", "-", "-"))
    for message in sorted(set(outcome.errors)):
        rows.append(("error", f"{outcome.errors.count(message)}x", message.replace("|", "/"), "-"))
    series = {"soak:journeys/s per minute": [(m, minute.rate) for m, minute in enumerate(minutes, 1)]}
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
