"""The operations dashboard in the admin: staff only, figures from the real stores."""

from __future__ import annotations

import pytest

from ops import dashboard
from sessions_app.documents import SessionFeedback
from tests.helpers import ask

DASHBOARD = "/admin/sessions_app/dashboard/"


@pytest.mark.django_db
def test_dashboard_shows_live_and_recent_figures(api, admin_client):
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    for user in ("alice", "bob"):
        api(user).post(f"/api/v1/sessions/{session_id}/heartbeat/")
    ask(api, "carol", targetLanguageCode="es")
    ask(api, "dave")
    second = ask(api, "erin").json()["sessionId"]
    api("dave").post(f"/api/v1/sessions/{second}/cancel/")
    api("erin").post(f"/api/v1/sessions/{second}/report/", {"reason": "rude"}, format="json")
    SessionFeedback(session_id=session_id, user_id="alice", partner_rating=4, connection_quality=5, topic_rating=3,
                    talk_again=True, level_felt_right=False, created_at=_now()).save()  # fmt: skip

    page = admin_client.get(DASHBOARD)
    assert page.status_code == 200
    figures = page.context["d"]
    assert (figures.waiting_learners, figures.active_sessions, figures.waiting_sessions) == (1, 1, 0)
    assert figures.time_to_match["count"] == 4
    assert figures.endings == {"cancelled": 1}
    assert sum(n for _hour, n in figures.matches_per_hour) == 2
    assert figures.feedback["n"] == 1 and figures.feedback["partner"] == 4
    assert [r.reason for r in figures.reports] == ["rude"]
    html = page.content.decode()
    assert "<svg" in html and "Operations dashboard" in html
    assert 'id="waiting-learners">1<' in html
    assert "Operations dashboard" in admin_client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_time_to_match_reads_only_the_latest_matches_of_the_window(api, admin_client, monkeypatch, frozen_clock):
    """Bounded whatever the window holds: past WAIT_SAMPLE matches, the percentiles come from the latest
    WAIT_SAMPLE of the requests that have settled."""
    monkeypatch.setattr(dashboard, "WAIT_SAMPLE", 2)
    for waiter, arrival in (("alice", "bob"), ("carol", "dave"), ("erin", "frank")):
        ask(api, waiter)
        frozen_clock.advance(seconds=30)
        assert ask(api, arrival).json()["status"] == "matched"
        frozen_clock.advance(seconds=1)
    frozen_clock.advance(seconds=120)  # a sample is taken among requests that have settled (older than the TTL)
    figures = admin_client.get(DASHBOARD).context["d"]
    # Each pair's waiter waited 30 s, its arrival 0: the latest two requests are frank's (0 s) and erin's (30 s).
    assert figures.time_to_match["count"] == 2
    assert (figures.time_to_match["p50"], figures.time_to_match["p99"]) == (0.0, 30.0)


def _now():
    from conversation import clock

    return clock.now()


@pytest.mark.django_db
def test_dashboard_is_staff_only(client, django_user_model):
    user = django_user_model.objects.create_user(username="learner", password="pw-12345678")
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 302
