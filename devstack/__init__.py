"""The embedded stack for a fresh machine: real Redis, MongoDB-wire and S3 servers.

`python -m devstack run` starts what is not configured by URL
(Redis from the OS package, SecantusDB, moto's S3 server), prepares the stores
and runs the Procfile's web, worker and beat until Ctrl-C.
`python -m devstack test [pytest args]` starts throw-away servers
on free ports, runs pytest against them and exits with pytest's status;
`python -m devstack test-prod` runs the service as production does (devstack/prod.py).
SecantusDB runs only as a separate process: the service never imports it.
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

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
BIN = Path(sys.executable).parent
DEV_PORTS = {"redis": 6390, "mongodb": 27027, "s3": 5055}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, name: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with status {proc.returncode}; see its log under var/")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not listen on port {port} within {timeout:.0f}s")


class Stack:
    """Starts the servers that are not given by environment variables."""

    def __init__(self, *, ephemeral: bool) -> None:
        self.ephemeral = ephemeral
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="conversation-stack-")) if ephemeral else None
        self.env: dict[str, str] = {}

    def data_dir(self, name: str) -> Path:
        path = (self.tmp if self.tmp else VAR) / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _port(self, name: str) -> int:
        return free_port() if self.ephemeral else DEV_PORTS[name]

    def _spawn(self, name: str, args: list[str], port: int) -> None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            raise SystemExit(f"port {port} for {name} is taken: is another dev stack running? Stop it first.")
        log = open(self.data_dir("logs") / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        self.procs.append((name, proc))
        # Benchmarks read each server's CPU and memory from /proc/<pid>.
        self.env[f"DEVSTACK_{name.upper()}_PID"] = str(proc.pid)
        wait_for_port(port, name, proc)

    def start(self) -> dict[str, str]:
        if not os.environ.get("REDIS_URL"):
            redis_server = shutil.which("redis-server")
            if not redis_server:
                raise SystemExit("redis-server not found: install the OS package (make deps does it)")
            port = self._port("redis")
            persistence = ["--save", ""] if self.ephemeral else ["--save", "60 1"]
            self._spawn(
                "redis",
                [
                    redis_server,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.data_dir("redis")),
                    "--appendonly",
                    "no",
                    *persistence,
                ],
                port,
            )
            self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        if not os.environ.get("MONGODB_URI"):
            port = self._port("mongodb")
            storage = str(self.data_dir("mongodb"))
            self._spawn(
                "mongodb",
                [
                    str(BIN / "secantusd-py"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--storage-path",
                    storage,
                    "--log-level",
                    "WARNING",
                    # No replica-set advertisement: the service uses neither change streams nor
                    # transactions, and a standalone server writes no oplog entry per write.
                    "--standalone",
                ],
                port,
            )
            name = "conversation_test" if self.ephemeral else "conversation"
            # One node, nothing to retry against: without retryable writes pymongo sends no txnNumber,
            # and SecantusDB keeps no per-write record (docs/OPERATIONS.md "The embedded MongoDB URI").
            self.env["MONGODB_URI"] = f"mongodb://127.0.0.1:{port}/{name}?retryWrites=false"
        if not os.environ.get("S3_ENDPOINT_URL") and not os.environ.get("AWS_ACCESS_KEY_ID"):
            port = self._port("s3")
            self._spawn("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port)
            self.env.update(
                S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                AWS_ACCESS_KEY_ID="devstack",
                AWS_SECRET_ACCESS_KEY="devstack",
                AWS_REGION=os.environ.get("AWS_REGION", "us-east-1"),
            )
        os.environ.update(self.env)
        return self.env

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, so the servers are stopped


@contextlib.contextmanager
def running(*, ephemeral: bool) -> Iterator[Stack]:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    stack = Stack(ephemeral=ephemeral)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def prepare() -> None:
    VAR.mkdir(exist_ok=True)
    manage("release", "-v", "0")  # the production release step: migrations, indexes, bucket, static, catalogs


def run() -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    port = os.environ.setdefault("PORT", "8000")
    with running(ephemeral=False):
        prepare()
        manage("load_topics")
        token = subprocess.run(
            [sys.executable, "manage.py", "mint_token", "learner-1", "--ttl", "86400"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        base = f"http://127.0.0.1:{port}"
        print(
            f"\n  API docs:  {base}/api/docs/\n  Admin:     {base}/admin/  (python manage.py createsuperuser)\n"
            f"  Ready:     {base}/health/ready\n  Dev token (learner-1, 24 h):\n  {token}\n",
            flush=True,
        )
        honcho = subprocess.Popen(
            [str(BIN / "honcho"), "start", "-f", "Procfile", "web", "worker", "beat"],
            cwd=ROOT,
            env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
        )
        return _wait_passing_stops_on(honcho)


def _wait_passing_stops_on(child: subprocess.Popen) -> int:
    """Waits for `child`. Ctrl-C or a SIGTERM to this process is passed on to it (honcho stops the web,
    worker and beat it runs; pytest its tests), and it is waited for before the servers it uses stop:
    a SIGTERM used to stop the servers and leave honcho and its processes running."""
    try:
        return child.wait()
    except (KeyboardInterrupt, SystemExit) as stop:
        child.send_signal(signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM)
        try:
            code = child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        if isinstance(stop, SystemExit):
            raise
        return code


def _throwaway_database(stack: Stack) -> None:
    """A migrated SQL database for the run (TEST_DATABASE_URL, else SQLite in the stack's temp dir).

    pytest-django makes its own for in-process tests, but service processes the tests start (uvicorn,
    Celery) open DATABASE_URL: a fresh clone has no var/db.sqlite3, and Django's session table is read
    whenever a request carries a session cookie.
    """
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{stack.data_dir('sql') / 'db.sqlite3'}"
    os.environ["DATABASE_URL"] = url
    manage("migrate", "--noinput", "-v", "0")


def test(args: list[str]) -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    with running(ephemeral=True) as stack:
        _throwaway_database(stack)
        manage("ensure_bucket")
        return _wait_passing_stops_on(subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=ROOT))


def bench(names: list[str]) -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    status = 0
    with running(ephemeral=True) as stack:
        _throwaway_database(stack)
        manage("ensure_indexes")
        manage("ensure_bucket")
        for name in names:
            status |= subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], cwd=ROOT).returncode
    if len(names) > 1:
        status |= subprocess.run([sys.executable, "-m", "benchmarks.report"], cwd=ROOT).returncode
    return status


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command == "bench":
        return bench(argv[1:])
    if command == "run":
        return run()
    if command == "test":
        return test(argv[1:])
    if command == "test-prod":
        from devstack.prod import test_prod

        return test_prod()
    if command == "services":
        with running(ephemeral=False) as stack:
            prepare()
            print("\n".join(f"export {k}={v}" for k, v in stack.env.items()), flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0
    print(f"usage: python -m devstack run|test [pytest args]|test-prod|services|bench NAME, not {command!r}")
    return 2
