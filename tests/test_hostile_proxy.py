"""The reverse proxy of docs/OPERATIONS.md, run as written (nginx from Debian) in front of a real uvicorn.

Slow-header and idle clients, which uvicorn alone holds for as long as they like, are cut off by nginx;
WebSockets still pass through.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from conversation.auth import mint_token
from tests.processes import ROOT, free_port, web_servers

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = [
    pytest.mark.skipif(
        NGINX is None, reason="nginx is missing: install the nginx-light OS package (make deps does it)"
    ),
    pytest.mark.timeout(90),
]
HEADER_TIMEOUT = 2  # the documented 10 s, shortened so the test is quick


def documented_server_block() -> str:
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    after = text.split("<!-- nginx-snippet:", 1)[1]
    return after.split("```nginx\n", 1)[1].split("```", 1)[0]


def nginx_conf(block: str, *, listen: int, upstream: int, prefix: Path) -> str:
    block = block.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};")
    block = block.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    block = re.sub(r"client_header_timeout \d+s;", f"client_header_timeout {HEADER_TIMEOUT}s;", block)
    block = re.sub(r"keepalive_timeout \d+s;", f"keepalive_timeout {HEADER_TIMEOUT}s;", block)
    temp = " ".join(
        f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off; master_process off; pid {prefix / 'nginx.pid'}; error_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{ access_log off; {temp}\n{block}\n}}\n"
    )


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[str, str]]:
    """(nginx URL, uvicorn URL) for the documented server block in front of one web process."""
    with web_servers(1) as urls, tempfile.TemporaryDirectory() as tmp:
        prefix, listen = Path(tmp), free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_conf(documented_server_block(), listen=listen, upstream=int(urls[0].rsplit(":", 1)[1]),
                                   prefix=prefix))  # fmt: skip
        proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf)], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"nginx did not start: {proc.stderr.read().decode()}") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{listen}", urls[0]
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def seconds_held(url: str, *, trickle: bool, limit: float) -> float:
    """How long a client sending its headers one byte every 0.25 s (or nothing) is kept, up to `limit`."""
    port = int(url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(0.25)
        if trickle:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while time.monotonic() - started < limit:
            try:
                if trickle:
                    sock.sendall(b"X")
                if sock.recv(4096) == b"":
                    break
                break  # nginx's 408 page
            except TimeoutError:
                continue
            except OSError:
                break
    return time.monotonic() - started


def test_the_proxy_cuts_off_slow_header_and_idle_clients_uvicorn_would_keep(proxied):
    proxy, direct = proxied
    assert seconds_held(proxy, trickle=True, limit=8) < HEADER_TIMEOUT + 1.5
    assert seconds_held(proxy, trickle=False, limit=8) < HEADER_TIMEOUT + 1.5
    assert seconds_held(direct, trickle=True, limit=HEADER_TIMEOUT + 2) >= HEADER_TIMEOUT + 2  # why the proxy


def test_http_and_websockets_pass_through_the_proxy(proxied):
    proxy, _direct = proxied
    port = int(proxy.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b'{"status": "ok"}' in answer
    assert b"\r\nserver: nginx\r\n" in answer.lower()  # server_tokens off: no version; uvicorn's header gone

    async def ping() -> str:
        url = proxy.replace("http://", "ws://") + f"/ws/v1/matchmaking/?token={mint_token('alice')}"
        async with websockets.connect(url) as sock:
            await sock.send(json.dumps({"type": "ping"}))
            return json.loads(await asyncio.wait_for(sock.recv(), 5))["type"]

    assert asyncio.run(ping()) == "pong"
