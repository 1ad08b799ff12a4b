"""The dashboard's verdict: thresholds from settings, the beat heartbeat, request outcomes, links, refresh."""

from __future__ import annotations

import datetime as dt

import pytest

from conversation import clock, redis_keys
from conversation.health import beat_last, beat_mark
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from ops.verdict import AMBER, GREEN, RED, level_of
from sessions_app.tasks import sweep_sessions
from topics import services

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/sessions_app/dashboard/"


def test_levels_follow_the_two_thresholds():
    assert [level_of(v, (30, 90)) for v in (None, 0, 29.9, 30, 89, 90, 500)] == [
        GREEN, GREEN, GREEN, AMBER, AMBER, RED, RED,
    ]  # fmt: skip


def test_the_sweep_task_leaves_a_beat_heartbeat_with_a_ttl():
    assert beat_last() is None
    sweep_sessions()
    assert (clock.now() - beat_last()).total_seconds() < 5
    assert 0 < redis().ttl(redis_keys.beat_last()) <= 24 * 3600


def _requests(now: dt.datetime, **counts: int) -> None:
    for status, count in counts.items():
        for n in range(count):
            MatchmakingRequest(
                user_id=f"{status}{n}", learning_profile_id="lp", target_language_code="fr", user_level="B1",
                preferred_duration=10, status=status, created_at=now - dt.timedelta(minutes=5),
                expires_at=now - dt.timedelta(minutes=3),
            ).save()  # fmt: skip


def test_verdict_signals_counts_and_links(admin_client, settings):
    settings.SUPPORTED_LANGUAGE_CODES = ["fr", "pt"]
    settings.OPS_EXPIRED_SHARE_PERCENT = (10, 30)
    services.topic_create(data={"title": "Mon métier", "target_language_code": "fr", "level": "B1",
                                "category": "work", "estimated_duration_minutes": 10,
                                "prompt_questions": ["Pourquoi ?"], "is_active": True})  # fmt: skip
    now = clock.now()
    _requests(now, matched=6, expired=3, cancelled=1)

    page = admin_client.get(DASHBOARD)
    assert page.status_code == 200
    signals = {signal.key: signal for signal in page.context["signals"]}
    assert page.context["d"].requests_by_outcome == {"matched": 6, "expired": 3, "cancelled": 1}
    assert (signals["expired_share"].value, signals["expired_share"].level) == ("30 %", RED)
    assert (signals["beat"].value, signals["beat"].level) == ("never seen", RED)
    assert (signals["stores"].level, signals["oldest_wait"].level) == (GREEN, GREEN)
    assert page.context["overall"] == RED
    assert page.context["d"].empty_languages == ["pt"]
    body = page.content.decode()
    day = (now - dt.timedelta(hours=24)).date().isoformat()
    expired_list = f"/admin/matchmaking/matchmakingrequest/?status=expired&amp;created_at__gte={day}"
    assert f'<a href="{expired_list}" id="expired-requests">3</a>' in body
    assert 'id="cancelled-requests">1</a>' in body
    assert '<meta http-equiv="refresh" content="30">' in body and 'id="as-of"' in body
    assert 'id="empty-languages"' in body and "/admin/topics/coverage/" in body

    beat_mark(now - dt.timedelta(seconds=40))
    settings.OPS_EXPIRED_SHARE_PERCENT = (50, 80)
    again = admin_client.get(DASHBOARD, {"refresh": "0"})
    signals = {signal.key: signal for signal in again.context["signals"]}
    assert (signals["beat"].level, signals["expired_share"].level, again.context["overall"]) == (AMBER, GREEN, AMBER)
    assert 'http-equiv="refresh"' not in again.content.decode()
    # The list behind a figure answers with exactly what the figure counts.
    listing = admin_client.get("/admin/matchmaking/matchmakingrequest/", {"status": "expired", "created_at__gte": day})
    assert listing.context["page"].paginator.count == 3
