"""The operations dashboard's figures: live queues and sessions, the last 24 h or 7 days, and the verdict.

Every query is bounded by an index: sessions by `createdAt`, requests by the seed's
`(targetLanguageCode, userLevel, status, createdAt)`, feedback and reports by `createdAt`, live sessions by `status`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from conversation import clock
from conversation.health import beat_last, stores_failing
from conversation.vocab import language_codes
from matchmaking.documents import CANCELLED, EXPIRED, MATCHED
from matchmaking.selectors import queues_overview, requests_created_since
from sessions_app.documents import ACTIVE, WAITING, ConversationSession, SessionFeedback, SessionReport
from topics.documents import Topic

WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}


@dataclass
class Dashboard:
    window: str
    queues: list[dict]
    waiting_learners: int
    longest_wait_seconds: float
    active_sessions: int
    waiting_sessions: int
    matches_per_hour: list[tuple[dt.datetime, int]]
    time_to_match: dict[str, float | None]
    endings: dict[str, int]
    average_duration_seconds: float | None
    feedback: dict[str, Any]
    reports: list[SessionReport] = field(default_factory=list)
    requests_by_outcome: dict[str, int] = field(default_factory=dict)
    expired_share: float | None = None
    as_of: dt.datetime | None = None
    beat_last: dt.datetime | None = None
    failing_stores: list[str] = field(default_factory=list)
    empty_languages: list[str] = field(default_factory=list)


WAIT_SAMPLE = 10_000  # matches the time-to-match percentiles read at most


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 2)


def _every_hour(since: dt.datetime, now: dt.datetime, counts: dict[dt.datetime, int]) -> list[tuple[dt.datetime, int]]:
    """One bar per hour of the window, quiet hours included, so the axis reads as time (labelled by the page)."""
    hour = since.replace(minute=0, second=0, microsecond=0)
    points = []
    while hour <= now:
        points.append((hour, counts.get(hour, 0)))
        hour += dt.timedelta(hours=1)
    return points


def _ending_label(status: str, reason: str | None) -> str:
    if status == "cancelled":
        return "no-show" if reason == "timeout" else ("reported" if reason == "reported" else "cancelled")
    return reason or "completed"


def _requests_by_outcome(since: dt.datetime) -> dict[str, int]:
    """Requests created in the window, by status."""
    return {
        status: requests_created_since(status=status, since=since).count() for status in (MATCHED, EXPIRED, CANCELLED)
    }


def _share(part: int, counts: dict[str, int]) -> float | None:
    total = sum(counts.values())
    return round(100 * part / total, 1) if total else None


def _empty_languages() -> list[str]:
    with_topics = set(Topic.objects(is_active=True).distinct("target_language_code"))
    return [code for code in language_codes() if code not in with_topics]


def dashboard(*, window: str = "24h", now: dt.datetime | None = None) -> Dashboard:
    now = now or clock.now()
    since = now - WINDOWS.get(window, WINDOWS["24h"])
    sessions = ConversationSession._get_collection()
    recent = {"createdAt": {"$gte": since}}

    per_hour = sessions.aggregate([
        {"$match": {**recent, "scheduledAt": None}},
        {"$group": {"_id": {"$dateTrunc": {"date": "$createdAt", "unit": "hour"}}, "n": {"$sum": 1}}},
        {"$sort": {"_id": 1}},
    ])  # fmt: skip
    endings: dict[str, int] = {}
    for row in sessions.aggregate([
        {"$match": {**recent, "status": {"$in": ["completed", "cancelled"]}}},
        {"$group": {"_id": {"status": "$status", "reason": "$endReason"}, "n": {"$sum": 1}}},
    ]):  # fmt: skip
        label = _ending_label(row["_id"]["status"], row["_id"].get("reason"))
        endings[label] = endings.get(label, 0) + row["n"]
    durations = list(sessions.aggregate([
        {"$match": {**recent, "status": "completed", "actualDurationSeconds": {"$ne": None}}},
        {"$group": {"_id": None, "avg": {"$avg": "$actualDurationSeconds"}}},
    ]))  # fmt: skip

    outcomes = _requests_by_outcome(since)
    matched = requests_created_since(status=MATCHED, since=since)
    if outcomes[MATCHED] > WAIT_SAMPLE:  # 7 days at 100k learners are ~10^8: a sample, the latest matches
        # among requests old enough to have settled (a request younger than the TTL that will wait long is
        # still pending: the newest alone would be the fast ones).
        settled = now - dt.timedelta(seconds=settings.MATCHMAKING_REQUEST_TTL_SECONDS)
        matched = matched.filter(created_at__lte=settled).order_by("-created_at").limit(WAIT_SAMPLE)
    matched = matched.only("created_at", "matched_at").exclude("id")
    waits = [
        (doc["matchedAt"] - doc["createdAt"]).total_seconds() for doc in matched.as_pymongo() if doc.get("matchedAt")
    ]
    feedback_rows = list(SessionFeedback._get_collection().aggregate([
        {"$match": recent},
        {"$group": {"_id": None, "n": {"$sum": 1}, "partner": {"$avg": "$partnerRating"},
                    "connection": {"$avg": "$connectionQuality"}, "topic": {"$avg": "$topicRating"},
                    "again": {"$avg": {"$cond": ["$talkAgain", 1, 0]}},
                    "level": {"$avg": {"$cond": ["$levelFeltRight", 1, 0]}}}},
    ]))  # fmt: skip
    queues = queues_overview(now=now.timestamp())
    return Dashboard(
        window=window if window in WINDOWS else "24h",
        queues=queues,
        waiting_learners=sum(q["waiting"] for q in queues),
        longest_wait_seconds=max((q["oldestWaitSeconds"] for q in queues), default=0.0),
        active_sessions=ConversationSession.objects(status=ACTIVE).count(),
        waiting_sessions=ConversationSession.objects(status=WAITING).count(),
        matches_per_hour=_every_hour(since, now, {row["_id"].replace(tzinfo=dt.UTC): row["n"] for row in per_hour}),
        time_to_match={f"p{p}": _percentile(waits, p) for p in (50, 90, 99)} | {"count": len(waits)},
        endings=endings,
        average_duration_seconds=round(durations[0]["avg"], 1) if durations and durations[0]["avg"] else None,
        feedback=feedback_rows[0] if feedback_rows else {"n": 0},
        reports=list(SessionReport.objects(created_at__gte=since).order_by("-created_at").limit(20)),
        requests_by_outcome=outcomes,
        expired_share=_share(outcomes[EXPIRED], outcomes),
        as_of=now,
        beat_last=beat_last(),
        failing_stores=stores_failing(("mongodb", "redis", "s3")),
        empty_languages=_empty_languages(),
    )
