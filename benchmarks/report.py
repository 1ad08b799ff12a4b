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


READING = """## Reading the figures against the targets

- Pairing step: the issue asks for >= 10,000 pairs/s and >= 0.5 of the raw baseline. The first holds; the
  ratio does not (about 0.36). Redis' own accounting (`INFO commandstats`) puts the script at ~14-16 us
  per call against ~1 us for ZADD or ZPOPMIN, and the one-client harness does not overlap client and
  server work. The script ranks candidates, prunes stale members and keeps the queue index, which the
  baseline does not.
- Time-to-match with a partner waiting: p50 well under the 50 ms target.
- Full HTTP path: one uvicorn process runs Django's sync views on one thread, so pairs/s is about
  1/latency; scale with more web processes.
- Heartbeats: socket heartbeats stay on the event loop; the echo consumer on the same server is the
  ceiling. The 500/1000-socket rows send a heartbeat per second per socket (10x the product's rate)
  from a Python client on the same 2 cores, so they measure the machine as much as the service.
- Sweeper: 10k and 100k active sessions with the same 100 stale take about the same time: its cost
  follows the sessions it ends.
- Load run: about 41 journeys/s (request, match, join, heartbeats, end) from 8 learners on, with no
  errors; beyond that the throughput stays flat and latency grows with the number of learners. The
  2 cores are shared by the client, 2 web processes, 2 workers, beat and the three servers.
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
