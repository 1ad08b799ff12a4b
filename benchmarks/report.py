"""Writes docs/BENCHMARKS.md and SVG plots from the figures the benchmarks saved under var/bench/."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from benchmarks.common import machine, percentile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"
DOCS = ROOT / "docs"
PLOTS = DOCS / "bench"


def save(name: str, rows: list[tuple[str, str, str, str]], series: dict[str, list[float]] | None = None) -> None:
    """Called by each benchmark: its table rows and raw samples (seconds) for the plots."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"rows": rows, "series": series or {}}))


def histogram_svg(title: str, samples_ms: list[float], width: int = 640, height: int = 240) -> str:
    """A plain SVG histogram (no plotting library): 30 bins from 0 to the p99.5."""
    top = max(percentile(samples_ms, 99.5), 1e-6)
    bins = [0] * 30
    for value in samples_ms:
        bins[min(29, int(value / top * 30))] += 1
    peak = max(bins) or 1
    bar = (width - 60) / 30
    bars = "".join(
        f'<rect x="{50 + i * bar:.1f}" y="{height - 30 - count / peak * (height - 60):.1f}" width="{bar - 2:.1f}" '
        f'height="{count / peak * (height - 60):.1f}" fill="#4a7bd0"/>'
        for i, count in enumerate(bins)
    )
    labels = "".join(
        f'<text x="{50 + i * bar * 6:.1f}" y="{height - 12}" font-size="11">{top * i / 5:.1f}</text>' for i in range(6)
    )
    p50, p99 = percentile(samples_ms, 50), percentile(samples_ms, 99)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="50" y="18" font-size="14">{title} (n={len(samples_ms)}, p50 {p50:.1f} ms, p99 {p99:.1f} ms)</text>'
        f"{bars}{labels}"
        f'<text x="{width - 40}" y="{height - 12}" font-size="11">ms</text></svg>'
    )


def line_svg(title: str, points: list[tuple[float, float]], x_label: str, y_label: str) -> str:
    width, height = 640, 240
    xs, ys = [p[0] for p in points] or [1], [p[1] for p in points] or [1]
    x_max, y_max = max(xs) or 1, max(ys) or 1

    def at(x: float, y: float) -> str:
        return f"{50 + x / x_max * (width - 80):.1f},{height - 30 - y / y_max * (height - 60):.1f}"

    path = " ".join(at(x, y) for x, y in points)
    dots = "".join(f'<circle cx="{at(x, y).split(",")[0]}" cy="{at(x, y).split(",")[1]}" r="3"/>' for x, y in points)
    marks = "".join(
        f'<text x="{at(x, 0).split(",")[0]}" y="{height - 12}" font-size="11">{x:g}</text>' for x, _ in points
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/><text x="50" y="18" font-size="14">{title}</text>'
        f'<polyline points="{path}" fill="none" stroke="#4a7bd0" stroke-width="2"/>{dots}{marks}'
        f'<text x="{width - 120}" y="{height - 12}" font-size="11">{x_label}</text>'
        f'<text x="4" y="40" font-size="11">{y_label} (max {y_max:,.0f})</text></svg>'
    )


READING = """## Reading the figures against the targets (issue 17)

The machine is 2 cores shared with other engineers' test runs (load average 5-6 during these runs):
figures move by tens of percent from run to run, and each section's baseline is from its own run.
"Before" figures are from the same harness run on main before this work (pairing cost: Mongo 12.0
operations, Redis 79.8 commands, web 19.8 ms, SecantusDB 13.1 ms per pair, `/health/live` 1.57 ms).

- Store round trips per pair (`pairing_cost`: one web process with the Procfile's uvicorn options,
  DEBUG off, no worker or beat, so the idle window holds only the counter reads and the clients'
  pings): MongoDB 6.0 (target 7, met: the blocks read is gone for users without blocks, see
  ARCHITECTURE.md "Access restrictions"), Redis ~37 commands (target 40, met; the suspension GET became one
  MGET that also reads the blocks flags). What went: the pending claim in Redis (a unique index on pending
  requests decides), the pending read before the insert, the topic count and skip (active topics
  cached in process for 10 s), the metrics' HINCRBY/EXPIRE per event (summed in process, one
  pipeline a second), the stale prune and the recently-met read when there is nothing to prune or
  rank, the queue index's EXPIRE, repeated EXPIREs of long-lived indexes, the MULTI/EXEC of the rate
  limit (INCR + EXPIRE NX), the blocks read for an arrival that waits. Kept: every seed key and TTL,
  rate limits, suspension checks, pushes, metrics.
- CPU per pair: web ~11 ms (target 8, not met), SecantusDB 7.1-8.5 ms (target 7, at the edge; 12.6-17.8 ms
  before, alternated runs of the same harness: the embedded URI without retryable writes and the
  partner read by an index's exact key; the partial unique index stays, a sparse one costs the same;
  SCALING.md has the breakdown). `/health/live` 0.5 ms (target 0.7, met). Pairing POSTs run faster
  than the one-topic GET (ratio ~1.5, target 0.6, met).
- Profiles (py-spy, self time; `BENCH_PROFILE=1` adds them to the table; the "before" ones were
  sampled without `--gil`, so they count waiting threads too). Before, `/health/live`: `_worker`
  (concurrent/futures) 34 %, `Thread._wait_for_tstate_lock` 9 %,
  `Thread.start` 8 %, `ThreadPoolExecutor.submit` 7 %, `Condition.notify` 6 %: Django's ASGI handler
  starts a thread per request. After (config/http.py, a fixed pool of threads): uvicorn's h11
  response path leads, no thread starts. Pairing, before: `SocketBuffer._read_from_socket` (redis-py's
  Python parser) 21 %, `Thread.start` and its `Condition`s, `get_redis_connection` (django-redis builds
  a cache object per thread, ~5 % inclusive), DRF's `deepcopy` of the topic serializer per match; after:
  a flat profile led by the event loop's socket writes, pymongo's call path (~17 % inclusive) and
  mongoengine's `save` (~10 %). Serving setup: uvicorn with uvloop and hiredis; the Procfile's
  `--http h11` (kept for its header-size limit, see OPERATIONS.md) costs 0.03-0.1 ms per request
  over httptools (row above). gunicorn with uvicorn workers would add a process manager, not less
  CPU per request; sync views on a pooled thread cost one hop per request, where Django's handler
  made one per middleware and signal.
- Pairing step: 0.38 -> ~0.49 of raw ZADD+ZPOPMIN (target 0.5: at the line, not clearly met). Same
  method before and after: the bench's two loops, 20k pairs each, alternated six times on one
  Redis 7.0.15, read as CPU per pair (client process time, Redis from `/proc`), since wall-clock
  rates moved by half with the machine's load: Redis 22.5 -> 15.5 us per pair (`INFO commandstats`:
  EVALSHA 10.5 -> 6.7 us per call), client 28.9 -> 24.1 us, against 2.3 + 17.2 us for the raw
  pair. Counted by callgrind on a Redis under valgrind (exact, whatever the load): 111k -> 74k
  instructions per call; the raw pair is 21k. (Wall-clock medians of the same runs: 0.41 -> 0.56,
  too noisy to stand on.) Where they went: Redis 7.0 turns each Lua number
  given to `redis.call` into text with printf's `%.17g`, 2k-4k instructions, as much as the command
  on a small key, and the script passed 15 per pair (now one, ZADD's score: the rest are strings);
  two adjacent-level `ZRANGEBYSCORE`s on every arrival at an empty queue (now one `EXISTS`); the
  recently-met read (now a `ZSCORE` of a candidate that could still win); `cjson.decode` of each
  candidate, 9k (now `string.find`/`sub` on the canonical JSON, 2.7k); Lua closures, ~2k each with
  their upvalues (now built only when there is a candidate); 1.6k per EVALSHA argument (12 -> 10).
  The harness calls `pipe.evalsha` as the baseline calls `pipe.zadd` (`Script.__call__` cost 1.4 us
  more per call). What is left is the work: EVALSHA itself (~12k plus the 7 keys and arguments) and
  8 commands per pair (arrival: ZRANGE, EXISTS, ZADD, EXPIRE, SADD; pop: ZRANGE, ZSCORE, ZREM).
  Not done: naming the index and recently-met keys inside the script (2 arguments fewer, ~1 us per
  pair) breaks Redis's rule that a script declares its keys; Redis Functions would build the Lua
  helpers once at load (~4k instructions per pop) but bring a load-and-version step to every deploy.
- Heartbeats: the sessions table now also gives the web process's CPU per heartbeat, the steadier
  figure here. Before the socket work: 378-405 us against 143-173 us for the echo consumer (0.36-0.39;
  by rate 0.31-0.35); after: 227-308 us (0.52-0.63; by rate 0.60-0.84, target 0.7 met only in the
  quieter runs). What went: channels' thread hop before every socket message to close Django's SQL
  connections, which sockets never use (a fifth of the profile; the echo consumer, a plain channels
  consumer, still pays it). What stays: one script call to Redis per heartbeat (the seed's presence
  and the sweeper's index, ~17 % of the profile, mostly redis-py's pool and the write syscall) and
  the per-socket frame limit.
- Load run, socket side: the cost row now splits out the load client's own CPU (`client ms`, ~5 ms
  per journey on the same cores), and each level prints its Redis commands per journey: ~130, most
  of them the core channel layer's (ZADD/EXPIRE per group joined, ZREM per group left, a script per
  push). The pub/sub layer measured 78 commands and ~5 ms less web CPU per journey but was not
  taken (ARCHITECTURE.md, Sockets). The `TimeoutError`s some levels showed were a join erased by
  the pairing's presence publication (SCALING.md), fixed; the next run had 0 errors at every level.
- Load run: not met. ~17 journeys/s at the peak with 2 web processes, the knee at 16 learners,
  0 errors at every level; 4 web processes do no better on 2 shared cores. One journey costs ~34 ms
  of web CPU, ~35 ms of SecantusDB, ~13 ms of the workers, ~3 ms of Redis, plus the Python client on
  the same cores: the cores are full well before 64 learners. Robots cancel when they give up
  waiting ("gave up"), so the soak's 409 `in_session` are gone.
- Soak: see its table (journeys/s per minute, every process's RSS).
"""


def main() -> int:
    PLOTS.mkdir(parents=True, exist_ok=True)
    sections, images = [], []
    for result in sorted(RESULTS.glob("*.json")):
        data = json.loads(result.read_text())
        lines = ["| figure | value | baseline (same run) | ratio |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in data["rows"]]
        sections.append(f"## {result.stem}\n\n" + "\n".join(lines))
        for name, samples in data["series"].items():
            if name.startswith(("load:", "soak:")):
                kind, title = name.split(":", 1)
                x_label = "minute" if kind == "soak" else "learners"
                y_label = "p99 ms" if "p99" in title else "MB" if "RSS" in title else "journeys/s"
                svg = line_svg(title, [tuple(p) for p in samples], x_label, y_label)
            else:
                svg = histogram_svg(name, [s * 1000 for s in samples])
            slug = "".join(ch if ch.isalnum() else "-" for ch in name).strip("-")
            path = PLOTS / f"{result.stem}-{slug}.svg"
            path.write_text(svg)
            images.append(f"![{name}](bench/{path.name})")
    body = "\n\n".join(sections)
    plots = "\n\n".join(images)
    (DOCS / "BENCHMARKS.md").write_text(
        f"# Benchmarks\n\nWritten by `make bench` on {dt.date.today()} ({machine()}), against real servers started "
        f"for the run (Redis 7, SecantusDB, moto S3). Every baseline was measured in the same run on the same "
        f"servers. Rerun with `make bench`; the raw figures are in var/bench/.\n\n{body}\n\n{READING}\n"
        f"## Plots\n\n{plots}\n"
    )
    print(f"wrote {DOCS / 'BENCHMARKS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
