"""Real service processes for tests that cross processes (uvicorn web servers)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.contract import check_response

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def drop_options(words: list[str], names: set[str]) -> list[str]:
    """Command-line words without the named options and the value after each."""
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in names:
            skip = True
        else:
            kept.append(word)
    return kept


def procfile_web_options() -> list[str]:
    """The uvicorn options of the Procfile's `web` line (parser, timeouts, limits), minus where it listens."""
    line = next(row for row in (ROOT / "Procfile").read_text().splitlines() if row.startswith("web:"))
    words = shlex.split(line.split(":", 1)[1])[2:]  # after `uvicorn config.asgi:application`
    return drop_options(words, {"--host", "--port", "--workers"})


@contextlib.contextmanager
def web_servers(count: int, env: dict[str, str] | None = None, args: list[str] | None = None) -> Iterator[list[str]]:
    """`count` uvicorn processes of the ASGI app on free ports, sharing the test stores; `env` overrides
    settings, `args` adds uvicorn options."""
    procs, urls = [], []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "config.asgi:application",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                        "--no-server-header",
                        *(args or []),
                    ],
                    cwd=ROOT,
                    env={**os.environ, **(env or {})},
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            wait_ready(url, proc)
        yield urls
    finally:
        stop_processes(procs, timeout=10)


def stop_processes(procs: list[subprocess.Popen], *, timeout: float) -> None:
    """SIGTERM to all, then wait for each; a process still running after `timeout` is killed."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for(predicate, timeout: float, interval: float = 0.1) -> float | None:
    """The monotonic time `predicate` first held, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    return None


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"web process exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health/live", timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start within {timeout}s")


def http(method: str, url: str, token: str, body: dict | None = None, headers: dict | None = None):
    """(status, json body) of one HTTP call."""
    status, _headers, parsed = http_call(method, url, token, body, headers)
    return status, parsed


def http_call(
    method: str, url: str, token: str, body: dict | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], Any]:
    """(status, headers with lower-case names, json body) of one HTTP call to a real server, its response
    checked against the OpenAPI schema."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, received = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, received = error.code, error.read(), error.headers
    parsed = urllib.parse.urlsplit(url)
    check_response(method, parsed.path, status, raw, dict(received.items()), query=parsed.query)
    return status, {name.lower(): value for name, value in received.items()}, json.loads(raw or b"null")
