"""`python -m devstack test-prod`: the service run the way production runs it, then driven through a journey.

A fresh virtualenv from the runtime lock only, DEBUG off with production secrets, the release
step, and every Procfile line as written (two web, worker, beat) against embedded servers.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack import ROOT, free_port, running

# Any of these in a process's output is a crash, whatever the process went on to do.
CRASH = re.compile(r"Traceback|ModuleNotFoundError|ImportError|CRITICAL|\bERROR\b")
STOP_TIMEOUT = 10.0
TTL_SECONDS, SWEEP_SECONDS = 10, 2  # 10 is the smallest TTL the settings accept


class Failed(Exception):
    """A step of the production run went wrong; the message says which."""


@dataclass
class Service:
    name: str
    command: str
    proc: subprocess.Popen
    log: Path
    port: int | None = None


@dataclass
class Run:
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def procfile() -> dict[str, str]:
    """The Procfile's `name: command` lines."""
    lines = (line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ":" in line)
    return {name.strip(): command.strip() for name, command in lines if not name.lstrip().startswith("#")}


def build_venv(target: Path) -> Path:
    """A new virtualenv with the runtime lock only, hashes required; returns its bin/."""
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(target)], check=True)
    install = [str(target / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--require-hashes"]
    result = subprocess.run([*install, "-r", str(ROOT / "requirements.txt")], capture_output=True, text=True)
    if result.returncode:
        noise = "is ignored: it is neither a file nor a directory"
        errors = "\n".join(line for line in result.stderr.splitlines() if noise not in line)
        raise Failed(f"pip install --require-hashes -r requirements.txt failed:\n{errors}")
    return target / "bin"


def production_env(run: Run, bin_dir: Path, stores: dict[str, str]) -> dict[str, str]:
    """What an operator sets: DEBUG off, real-sized secrets, hosts, the proxy, the stores; PATH at the prod venv."""
    inherited = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    return {
        **inherited,
        **stores,
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SECRET": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TRUST_PROXY_HEADERS": "1",
        "DATABASE_URL": f"sqlite:///{run.tmp / 'db.sqlite3'}",
        "CELERY_BEAT_SCHEDULE": str(run.tmp / "celerybeat-schedule"),
        "MATCHMAKING_REQUEST_TTL_SECONDS": str(TTL_SECONDS),
        "SWEEP_INTERVAL_SECONDS": str(SWEEP_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }


def crash_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if CRASH.search(line)]


def release(run: Run, command: str) -> None:
    log = run.tmp / "release.log"
    with log.open("wb") as out:
        result = subprocess.run(["sh", "-c", command], cwd=ROOT, env=run.env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode or crash_lines(log):
        raise Failed(f"release `{command}` failed ({result.returncode}):\n{log.read_text()[-3000:]}")


def start(run: Run, name: str, command: str, port: int | None = None) -> Service:
    log = run.tmp / f"{name}.log"
    env = {**run.env, "PORT": str(port)} if port else run.env
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    service = Service(name, command, proc, log, port)
    run.services.append(service)
    return service


def wait_live(service: Service, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise Failed(f"{service.name} exited with {service.proc.returncode}:\n{service.log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{service.port}/health/live", timeout=1),
        ):
            return
        time.sleep(0.2)
    raise Failed(f"{service.name} did not answer /health/live within {timeout:.0f}s")


def wait_for_line(service: Service, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise Failed(f"{service.name} exited with {service.proc.returncode}:\n{service.log.read_text()[-3000:]}")
        if text in service.log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise Failed(f"{service.name} did not log {text!r} within {timeout:.0f}s")


def journey(run: Run, webs: list[Service]) -> None:
    urls = [f"http://127.0.0.1:{web.port}" for web in webs]
    command = [sys.executable, str(ROOT / "tests" / "prod" / "journey.py"), *urls]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **run.env, "PATH": os.environ["PATH"]})
    if result.returncode:
        raise Failed(f"the journey failed (exit {result.returncode}); process logs under {run.tmp}")


def stop(service: Service) -> float:
    """SIGTERM to the process group, as a process manager does; seconds until every process in it exited."""
    began = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.proc.pid, signal.SIGTERM)
    while time.monotonic() - began < STOP_TIMEOUT:
        service.proc.poll()
        try:
            os.killpg(service.proc.pid, 0)
        except ProcessLookupError:
            return time.monotonic() - began
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.proc.pid, signal.SIGKILL)
    service.proc.wait()
    raise Failed(f"{service.name} did not exit within {STOP_TIMEOUT:.0f}s of SIGTERM (killed)")


def stop_all(run: Run) -> list[str]:
    problems = []
    for service in run.services:
        try:
            run.timings[f"stop {service.name}"] = stop(service)
        except Failed as error:
            problems.append(str(error))
    return problems


def scan_logs(run: Run) -> list[str]:
    problems = []
    for service in run.services:
        lines = crash_lines(service.log)
        if lines:
            problems.append(f"{service.name} logged a crash ({service.log}):\n  " + "\n  ".join(lines[:10]))
    return problems


def start_processes(run: Run, commands: dict[str, str]) -> list[Service]:
    missing = {"release", "web", "worker", "beat"} - set(commands)
    if missing:
        raise Failed(f"Procfile lacks {', '.join(sorted(missing))}")
    webs = [start(run, f"web-{i}", commands["web"], port=free_port()) for i in (1, 2)]
    worker = start(run, "worker", commands["worker"])
    beat = start(run, "beat", commands["beat"])
    for web in webs:
        wait_live(web)
    wait_for_line(worker, "ready.")
    wait_for_line(beat, "beat: Starting")
    return webs


def timed(run: Run, name: str, function, *args):
    began = time.monotonic()
    result = function(*args)
    run.timings[name] = time.monotonic() - began
    return result


def execute(run: Run) -> list[str]:
    """Every step; returns the problems found after the processes were stopped."""
    commands = procfile()
    bin_dir = timed(run, "venv from requirements.txt", build_venv, run.tmp / "venv")
    with running(ephemeral=True) as stack:
        run.env = production_env(run, bin_dir, stack.env)
        shutil.rmtree(ROOT / "staticfiles", ignore_errors=True)  # the release step must collect them
        timed(run, "release", release, run, commands.get("release", ""))
        try:
            webs = timed(run, "processes up", start_processes, run, commands)
            timed(run, "journey", journey, run, webs)
        finally:
            problems = stop_all(run)
    return problems + scan_logs(run)


def test_prod() -> int:
    began = time.monotonic()
    run = Run(tmp=Path(tempfile.mkdtemp(prefix="conversation-prod-")))
    try:
        problems = execute(run)
    except (Failed, subprocess.CalledProcessError) as error:
        problems = [str(error), *scan_logs(run)]
    summary = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in run.timings.items())
    if problems:
        print("\nmake test-prod FAILED:\n" + "\n".join(problems), file=sys.stderr)
        print(f"logs kept in {run.tmp}; {summary}", file=sys.stderr)
        return 1
    print(f"\nmake test-prod passed in {time.monotonic() - began:.0f}s: {summary}")
    shutil.rmtree(run.tmp, ignore_errors=True)
    return 0
