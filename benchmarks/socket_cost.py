"""Unit costs of the socket side of a journey: web CPU and Redis commands per socket connect+close and per push.

One web process in the production form (DEBUG off, the Procfile's uvicorn options); each phase runs
N units from 8 concurrent clients and reads the web process's CPU (`/proc/<pid>/stat`) and Redis
`INFO commandstats` around it. Phases: a lobby socket opened and closed; a session socket opened
(until its `session.state`) and closed; a push delivered to an open lobby socket. Run with
`python -m devstack bench socket_cost` (BENCH_SOCKET_UNITS, default 400; BENCH_SOCKET_PHASES, default
lobby,session,push).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import django

from benchmarks.common import production_env

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
PROD_ENV = production_env()  # the web process in the production form, as the load run's
django.setup()

import websockets  # noqa: E402

from benchmarks.common import cpu_seconds, machine, server_pid, store_counts, table, web_pid  # noqa: E402
from benchmarks.load import next_of  # noqa: E402
from benchmarks.report import save  # noqa: E402
from conversation import clock  # noqa: E402
from conversation.auth import mint_token  # noqa: E402
from conversation.events import apush, user_group  # noqa: E402
from sessions_app.documents import ConversationSession  # noqa: E402
from tests.processes import procfile_web_options, web_servers  # noqa: E402

UNITS = int(os.environ.get("BENCH_SOCKET_UNITS", "400"))
PHASES = os.environ.get("BENCH_SOCKET_PHASES", "lobby,session,push").split(",")
CLIENTS = 8
NAMES = {
    "lobby": "lobby socket connect+close",
    "session": "session socket connect+close (until session.state)",
    "push": "push delivered (one socket; sent by the bench)",
}


async def lobby_cycle(base: str, index: int) -> None:
    user = f"sc-lobby-{index}"
    async with websockets.connect(f"{base}/ws/v1/matchmaking/?token={mint_token(user)}"):
        pass  # accepted once its groups are joined


async def session_cycle(base: str, index: int, sessions: list[str]) -> None:
    session_id = sessions[index]
    user = f"sc-p1-{index}"
    async with websockets.connect(f"{base}/ws/v1/sessions/{session_id}/?token={mint_token(user)}") as room:
        await next_of(room, "session.state")


def waiting_sessions(count: int) -> list[str]:
    now = clock.now()
    fields = {"target_language_code": "en", "created_at": now, "updated_at": now}
    docs = [
        ConversationSession(participant1_id=f"sc-p1-{i}", participant2_id=f"sc-p2-{i}", **fields) for i in range(count)
    ]
    return [
        str(doc.id)
        for start in range(0, count, 200)
        for doc in ConversationSession.objects.insert(docs[start : start + 200])
    ]


async def pushes(base: str, count: int) -> None:
    """`count` pushes, each to one of CLIENTS open lobby sockets, each read by its socket."""
    users = [f"sc-push-{i}" for i in range(CLIENTS)]
    sockets = [await websockets.connect(f"{base}/ws/v1/matchmaking/?token={mint_token(u)}") for u in users]
    for socket in sockets:  # connected and in their groups
        await socket.send('{"type":"ping"}')
        await next_of(socket, "pong")
    try:
        for start in range(0, count, CLIENTS):
            await asyncio.gather(*(apush(user_group(u), "bench.push", {"n": start}) for u in users))
            await asyncio.gather(*(next_of(s, "bench.push") for s in sockets))
    finally:
        for socket in sockets:
            await socket.close()


async def concurrently(unit: Callable[[int], Awaitable[None]], count: int) -> None:
    queue = iter(range(count))

    async def client() -> None:
        for index in queue:
            await unit(index)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))


def measure(pids: dict[str, int], units: int, run: Callable[[], None]) -> dict[str, float]:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    _, redis0 = store_counts()
    run()
    time.sleep(0.5)  # closes finish on the server after the client returns
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    _, redis1 = store_counts()
    cost = {f"{name} us": (after[name] - before[name]) * 1e6 / units for name in pids}
    cmds: Counter = redis1 - redis0
    cost["redis cmds"] = cmds.total() / units
    print("  Redis per unit:", ", ".join(f"{k} {v / units:.2f}" for k, v in cmds.most_common(10)))
    return cost


def main() -> int:
    rows = []
    with web_servers(1, env=PROD_ENV, args=procfile_web_options()) as urls:
        base = urls[0].replace("http", "ws")
        pids = {"web": web_pid(urls[0])}
        pids.update({name: pid for name in ("redis",) if (pid := server_pid(name))})
        asyncio.run(concurrently(lambda i: lobby_cycle(base, 10_000 + i), 50))  # warm-up
        sessions = waiting_sessions(UNITS) if "session" in PHASES else []
        phases = {
            "lobby": lambda: asyncio.run(concurrently(lambda i: lobby_cycle(base, i), UNITS)),
            "session": lambda: asyncio.run(concurrently(lambda i: session_cycle(base, i, sessions), UNITS)),
            "push": lambda: asyncio.run(pushes(base, UNITS)),
        }
        for name in PHASES:
            print(NAMES[name])
            cost = measure(pids, UNITS, phases[name])
            rows.append((NAMES[name], ", ".join(f"{k} {v:.1f}" for k, v in cost.items()), "-", "-"))
    print(f"\nSocket unit costs ({machine()}; 1 web process; {UNITS} units from {CLIENTS} clients)\n")
    print(table(rows))
    save("socket_cost", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
