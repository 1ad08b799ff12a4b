"""What the MongoDB server spends per request insert and per compare-and-set, by index layout and URI.

Starts its own SecantusDB and drives the matchmaking hot path's writes with
pymongo alone: insert a pending request, then `update_one({_id, status: pending}, {$set: matched})`.
Layouts: the indexes `MatchmakingRequest` declares (partial unique on pending), the same without
the partial index (not safe: the reference), and a sparse unique index on a field kept only while
pending (the pre-3.2 way to the same guarantee). Each with and without retryable writes.
Reads the server's CPU from /proc/<pid>/stat around each run (a fresh server per row, so retryable-write
records start from none):
`python -m benchmarks.mongo_write_cost [N]`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, MongoClient

from benchmarks.common import cpu_seconds, median
from devstack import BIN, free_port

COMMON = [
    IndexModel([("userId", ASCENDING), ("status", ASCENDING)]),
    IndexModel([("targetLanguageCode", 1), ("userLevel", 1), ("status", 1), ("createdAt", 1)]),
    IndexModel([("status", ASCENDING), ("expiresAt", ASCENDING)]),
    IndexModel([("expiresAt", ASCENDING)], expireAfterSeconds=7 * 86400),
]
LAYOUTS: dict[str, list[IndexModel]] = {
    "partial unique (kept)": [
        *COMMON,
        IndexModel(
            [("userId", 1)], name="one_pending_per_user", unique=True, partialFilterExpression={"status": "pending"}
        ),
    ],
    "no uniqueness (reference, unsafe)": COMMON,
    "sparse unique pendingUserId": [*COMMON, IndexModel([("pendingUserId", 1)], unique=True, sparse=True)],
}


@contextmanager
def secantus() -> Iterator[tuple[str, int]]:
    """A throw-away SecantusDB: its URI and pid."""
    import subprocess

    from devstack import wait_for_port

    port, data = free_port(), tempfile.mkdtemp(prefix="write-cost-")
    args = [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port), "--storage-path", data,
            "--log-level", "WARNING"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port, "secantusd-py", proc)
        yield f"mongodb://127.0.0.1:{port}/write_cost", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


def run(uri: str, pid: int, layout: str, *, retry: bool, n: int) -> tuple[float, float]:
    """Server CPU ms per insert and per compare-and-set, over `n` requests on a fresh collection."""
    client = MongoClient(uri, retryWrites=retry)
    coll = client.get_default_database()["matchmaking_request"]
    coll.drop()
    coll.create_indexes(LAYOUTS[layout])
    sparse = layout.startswith("sparse")
    now = dt.datetime.now(dt.UTC)

    def doc(i: int) -> dict:
        user = f"u{i}"
        body = {"_id": ObjectId(), "userId": user, "learningProfileId": "lp", "targetLanguageCode": "en",
                "userLevel": "B1", "preferredTopicId": None, "preferredDuration": 10, "status": "pending",
                "createdAt": now, "expiresAt": now + dt.timedelta(minutes=2), "estimatedWaitSeconds": 0}  # fmt: skip
        return {**body, "pendingUserId": user} if sparse else body

    docs = [doc(i) for i in range(n)]
    unset = {"$unset": {"pendingUserId": ""}} if sparse else {}

    def inserts() -> None:
        for d in docs:
            coll.insert_one(d)

    def updates() -> None:
        for d in docs:
            result = coll.update_one({"_id": d["_id"], "status": "pending"}, {"$set": {"status": "matched"}, **unset})
            assert result.modified_count == 1

    costs = [cpu_ms(pid, work) / n for work in (inserts, updates)]
    client.close()
    return costs[0], costs[1]


def cpu_ms(pid: int, work: Callable[[], None]) -> float:
    before = cpu_seconds(pid)
    work()
    return (cpu_seconds(pid) - before) * 1000


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    repeats = 3
    print(f"SecantusDB CPU per operation (ms), median of {repeats} runs of {n} requests each, a fresh server each")
    print("| index layout | retryWrites | insert | compare-and-set |\n|---|---|---|---|")
    for layout in LAYOUTS:
        for retry in (True, False):
            with secantus() as (uri, pid):
                samples = [run(uri, pid, layout, retry=retry, n=n) for _ in range(repeats)]
            ins, upd = median([s[0] for s in samples]), median([s[1] for s in samples])
            print(f"| {layout} | {str(retry).lower()} | {ins:.2f} | {upd:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.exit(main())
