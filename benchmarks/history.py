"""A past for the benches to run against: pairs already made, and removing what a bench created.

A service's MongoDB is never empty: matched requests stay `MATCHMAKING_REQUEST_HISTORY_DAYS`
(the seed's TTL index), sessions stay. `history_load` writes `pairs` such pairs (two matched
requests and one completed session each) spread over the retention window, in the stored form
the service writes; `created_since` removes everything a bench inserted, as the tests' flush does.
"""

from __future__ import annotations

import datetime as dt

from bson import ObjectId

from conversation import clock, mongo
from matchmaking.documents import MATCHED, MatchmakingRequest
from sessions_app.documents import COMPLETED, END_COMPLETED, ConversationSession

CHUNK = 500  # documents per insert_many / delete_many: well inside the client's socket timeout on SecantusDB
PAIRING_COLLECTIONS = ("matchmaking_request", "conversation_session")


def history_load(pairs: int, *, tag: str = "hist") -> None:
    """`pairs` past pairings, one a minute back from two minutes ago (so the TTL index keeps them all)."""
    now = clock.now()
    requests, sessions = [], []
    for i in range(pairs):
        at = now - dt.timedelta(minutes=2 + i % (6 * 24 * 60))
        session_id = ObjectId()
        a, b = f"{tag}{i}a", f"{tag}{i}b"
        sessions.append(ConversationSession(
            id=session_id, participant1_id=a, participant2_id=b, target_language_code="en", level="B1",
            status=COMPLETED, end_reason=END_COMPLETED, planned_duration_minutes=10, created_at=at, updated_at=at,
            started_at=at, ended_at=at + dt.timedelta(minutes=10), actual_duration_seconds=600,
        ).to_mongo())  # fmt: skip
        for user, partner in ((a, b), (b, a)):
            requests.append(MatchmakingRequest(
                user_id=user, learning_profile_id="lp", target_language_code="en", user_level="B1",
                preferred_duration=10, status=MATCHED, matched_with_user_id=partner, session_id=str(session_id),
                created_at=at, expires_at=at + dt.timedelta(minutes=2), matched_at=at, estimated_wait_seconds=0,
            ).to_mongo())  # fmt: skip
    for model, docs in ((MatchmakingRequest, requests), (ConversationSession, sessions)):
        collection = model._get_collection()
        for start in range(0, len(docs), CHUNK):
            collection.insert_many(docs[start : start + CHUNK], ordered=False)


def created_since(started: dt.datetime, collections: tuple[str, ...] = PAIRING_COLLECTIONS) -> int:
    """Deletes the documents inserted since `started`, a wall-clock time (their ObjectIds carry it); returns
    how many."""
    floor = ObjectId.from_datetime(started)
    removed = 0
    for name in collections:
        collection = mongo.db()[name]
        ids = [doc["_id"] for doc in collection.find({"_id": {"$gte": floor}}, {"_id": 1})]
        for start in range(0, len(ids), CHUNK):
            removed += collection.delete_many({"_id": {"$in": ids[start : start + CHUNK]}}).deleted_count
    return removed
