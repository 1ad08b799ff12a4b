"""Whether the MongoDB server's cost per pairing operation grows with what the database holds.

Starts a fresh SecantusDB per scenario (as `mongo_write_cost` does), creates the indexes the
documents declare (`ensure_indexes`), pre-loads a scenario's documents, then runs the pairing's six
operations through the hot path's own calls (`insert`, `Where.first`, `Where.update_one`), each kind
in its own phase, reading the server's CPU from /proc/<pid>/stat around each phase:
`python -m benchmarks.mongo_growth_cost [PAIRS] [SCENARIO ...]`.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from bson import ObjectId  # noqa: E402
from django.conf import settings  # noqa: E402

from benchmarks.history import created_since, history_load  # noqa: E402
from benchmarks.mongo_write_cost import cpu_ms, secantus  # noqa: E402
from conversation import mongo  # noqa: E402
from conversation.documents import Where, insert  # noqa: E402
from conversation.indexes import ensure_indexes  # noqa: E402
from matchmaking.documents import MATCHED, PENDING, MatchmakingRequest  # noqa: E402
from sessions_app.documents import WAITING, ConversationSession  # noqa: E402

NOW = dt.datetime.now(dt.UTC)
SERVER = {"pid": 0}  # the scenario's SecantusDB


def request_doc(user: str) -> MatchmakingRequest:
    return MatchmakingRequest(
        user_id=user, learning_profile_id="lp", target_language_code="en", user_level="B1",
        preferred_topic_id=None, preferred_duration=10, status=PENDING, created_at=NOW,
        expires_at=NOW + dt.timedelta(minutes=2), estimated_wait_seconds=0,
    )  # fmt: skip


def session_doc(a: str, b: str) -> ConversationSession:
    return ConversationSession(
        participant1_id=a, participant2_id=b, target_language_code="en", status=WAITING, level="B1",
        planned_duration_minutes=10, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def churn(pairs: int) -> None:
    """`pairs` pairs of history inserted, then deleted: dead rows and index entries, a full oplog."""
    started = dt.datetime.now(dt.UTC)
    history_load(pairs)
    created_since(started, ("matchmaking_request", "conversation_session"))


def extra_indexes_dropped() -> None:
    """Only the seed's indexes (seed-data-model.md) on the two collections: the reference."""
    for coll, keep in (
        ("matchmaking_request", {"userId_1_status_1", "targetLanguageCode_1_userLevel_1_status_1_createdAt_1",
                                 "expiresAt_1", "_id_"}),
        ("conversation_session", {"participant1Id_1_createdAt_-1", "participant2Id_1_createdAt_-1",
                                  "status_1_targetLanguageCode_1", "_id_"}),
    ):  # fmt: skip
        for name in mongo.db()[coll].index_information():
            if name not in keep:
                mongo.db()[coll].drop_index(name)


SCENARIOS: dict[str, Callable[[], None]] = {
    "empty": lambda: None,
    "10k pairs of history": lambda: history_load(10_000),
    "50k pairs of history": lambda: history_load(50_000),
    "10k pairs made by the hot path": lambda: pairing_ops(10_000, "pre"),
    "30k pairs of history inserted then deleted": lambda: churn(30_000),
    "seed indexes only (empty)": extra_indexes_dropped,
}


def pairing_ops(pairs: int, tag: str) -> dict[str, float]:
    """Server CPU ms per operation kind over `pairs` pairings made the hot path's way."""
    waiting = [request_doc(f"{tag}{i}a") for i in range(pairs)]
    arriving = [request_doc(f"{tag}{i}b") for i in range(pairs)]
    sessions = [session_doc(f"{tag}{i}a", f"{tag}{i}b") for i in range(pairs)]
    pid = SERVER["pid"]

    def inserts() -> None:
        for a, b in zip(waiting, arriving, strict=True):
            insert(a)
            insert(b)

    def reads() -> None:
        for a in waiting:
            assert Where(MatchmakingRequest, user_id=a.user_id, status=PENDING).first() is not None

    def session_inserts() -> None:
        for s in sessions:
            insert(s)

    def updates() -> None:
        for a, b, s in zip(waiting, arriving, sessions, strict=True):
            for mine, other in ((a, b), (b, a)):
                assert Where(MatchmakingRequest, id=mine.id, status=PENDING).update_one(
                    set__status=MATCHED, set__session_id=str(s.id), set__matched_at=NOW,
                    set__matched_with_user_id=other.user_id,
                )  # fmt: skip

    return {
        "insert request": cpu_ms(pid, inserts) / (2 * pairs),
        "find partner": cpu_ms(pid, reads) / pairs,
        "insert session": cpu_ms(pid, session_inserts) / pairs,
        "compare-and-set": cpu_ms(pid, updates) / (2 * pairs),
    }


def scenario(name: str, pairs: int, repeats: int) -> dict[str, float]:
    with secantus() as (uri, pid):
        settings.MONGODB_URI, SERVER["pid"] = f"{uri}?retryWrites=false", pid
        settings.MONGODB_TIMEOUT_MS = 20_000  # bulk pre-loads on a shared machine
        mongo.disconnect()
        mongo.connect()
        ensure_indexes()
        SCENARIOS[name]()
        samples = [pairing_ops(pairs, f"r{r}-{ObjectId()}-") for r in range(repeats)]
        counts = {c: mongo.db()[c].estimated_document_count() for c in ("matchmaking_request", "conversation_session")}
        mongo.disconnect()
    cost = {k: sorted(s[k] for s in samples)[len(samples) // 2] for k in samples[0]}
    cost["per pair"] = 2 * cost["insert request"] + cost["find partner"] + cost["insert session"] + 2 * cost[
        "compare-and-set"]  # fmt: skip
    print(f"| {name} | {counts['matchmaking_request']:,} / {counts['conversation_session']:,} | "
          + " | ".join(f"{cost[k]:.2f}" for k in cost) + " |", flush=True)  # fmt: skip
    return cost


def main() -> int:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    names = sys.argv[2:] or list(SCENARIOS)
    print(f"SecantusDB CPU per operation (ms), median of 3 runs of {pairs} pairs, a fresh server per scenario")
    print("| scenario | requests / sessions after | insert request | find partner | insert session | "
          "compare-and-set | per pair (6 ops) |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for name in names:
        scenario(name, pairs, 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
