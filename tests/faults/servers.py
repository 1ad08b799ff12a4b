"""Real servers the fault tests break: Redis (alone or under Sentinel), MongoDB-wire, Celery, web.

Every server runs in its own process group on a free port and is SIGKILLed by group on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis as redis_lib

from tests.processes import ROOT, free_port, stop_processes, wait_for, wait_ready

BIN = Path(sys.executable).parent
MASTER = "mymaster"


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def server(args: list[str], port: int) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port)
        yield proc
    finally:
        kill(proc)


def redis_args(port: int, *extra: str) -> list[str]:
    return [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", *extra]  # fmt: skip


def redis_server(port: int):
    return server(redis_args(port), port)


def mongo_server(port: int, path: str):
    return server(
        [str(BIN / "secantusd-py"), "--port", str(port), "--storage-path", path, "--log-level", "ERROR"], port
    )


@contextlib.contextmanager
def web(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--log-level", "critical"],
        cwd=ROOT, env={**os.environ, **env, "LOG_LEVEL": os.environ.get("FAULTS_LOG_LEVEL", "CRITICAL")},
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@contextlib.contextmanager
def celery(roles: list[list[str]], env: dict[str, str]) -> Iterator[list[subprocess.Popen]]:
    """Celery processes (`["beat", ...]`, `["worker", ...]`) of the service, stopped on exit."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *role, "--loglevel", "ERROR"],
            cwd=ROOT,
            env={**os.environ, **env},
        )
        for role in roles
    ]
    try:
        yield procs
    finally:
        stop_processes(procs, timeout=30)


def run_service(code: str, env: dict[str, str]) -> str:
    """Runs service code in a fresh process with `env` (as a worker would)."""
    script = (
        f"import django, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE','config.settings')\ndjango.setup()\n{code}"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, **env, "LOG_LEVEL": "ERROR"},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class SentinelTopology:
    """A Redis primary, one replica and three sentinels (quorum 2), from the same redis-server binary.

    Sentinels mark the primary down after 1 s of silence, as production ones would after a longer one.
    The primary's data directory survives its death, so it can come back with what it held.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="faults-sentinel-"))
        self.primary_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen] = {}

    def start_redis(self, port: int, *extra: str) -> redis_lib.Redis:
        data = self.dir / str(port)
        data.mkdir(exist_ok=True)
        proc = subprocess.Popen(redis_args(port, "--dir", str(data), *extra), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.procs[port] = proc
        wait_port(port)
        return redis_lib.Redis(port=port, socket_timeout=2)

    def start(self) -> None:
        self.start_redis(self.primary_port)
        self.start_redis(self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port))
        for port in self.sentinel_ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 5000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            proc = subprocess.Popen([shutil.which("redis-server"), str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            self.procs[port] = proc
        for port in self.sentinel_ports:
            wait_port(port)
        self.wait_synced(self.replica_port)
        # Every sentinel must know the replica (and the others) before a failover can elect it.
        self.wait_until(lambda: all(self.sentinel(p).sentinel_slaves(MASTER) for p in self.sentinel_ports), 30)

    def sentinel(self, port: int) -> redis_lib.Redis:
        return redis_lib.Redis(port=port, socket_timeout=1, decode_responses=True)

    def master_port(self) -> int:
        """The primary as the sentinels' majority names it."""
        ports = []
        for port in self.sentinel_ports:
            with contextlib.suppress(redis_lib.RedisError):
                ports.append(int(self.sentinel(port).sentinel_get_master_addr_by_name(MASTER)[1]))
        return max(set(ports), key=ports.count)

    def master(self) -> redis_lib.Redis:
        return redis_lib.Redis(port=self.master_port(), socket_timeout=2)

    def wait_synced(self, port: int, timeout: float = 30) -> None:
        replica = redis_lib.Redis(port=port, socket_timeout=2)
        self.wait_until(lambda: replica.info("replication").get("master_link_status") == "up", timeout)

    @staticmethod
    def wait_until(predicate, timeout: float) -> float:
        held = wait_for(predicate, timeout, interval=0.05)
        assert held is not None, f"not true within {timeout}s: {predicate}"
        return held

    def kill(self, port: int) -> None:
        kill(self.procs.pop(port))

    def env(self, *, via_sentinel: bool = True) -> dict[str, str]:
        """The service's settings: through the sentinels, or (to prove they matter) at the primary itself."""
        env = {"REDIS_URL": f"redis://127.0.0.1:{self.primary_port}/0", "REDIS_SENTINELS": ""}
        if via_sentinel:
            env |= {"REDIS_SENTINELS": ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports),
                    "REDIS_SENTINEL_MASTER": MASTER}  # fmt: skip
        return env

    def stop(self) -> None:
        for proc in self.procs.values():
            kill(proc)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def sentinel_topology() -> Iterator[SentinelTopology]:
    topology = SentinelTopology()
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()
