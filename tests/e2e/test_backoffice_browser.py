"""The back office in a real browser: a session page read as a person reads, its recording played (and
audited), a live session ended behind a reason, the catalog coverage and the dashboard's verdict; and a
learner answering an invitation on the practice page.

SAVE_SCREENSHOTS=1 writes docs/screenshots/admin-session-detail.png, admin-session-end.png,
admin-coverage.png, admin-dashboard-verdict.png and practice-invitations.png.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings

from conversation.auth import mint_token
from conversation.s3 import s3
from mongoadmin.documents import AdminAuditEntry
from sessions_app.documents import ConversationSession
from tests.e2e.conftest import STAFF, STAFF_PASSWORD, live_session, log_in, needs_chromium, new_page, screenshot
from tests.e2e.test_practice import open_learner
from tests.processes import http, wait_for
from topics.catalog import catalog_load

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect
pytestmark = pytest.mark.timeout(120)
SESSIONS = "/admin/sessions_app/conversationsession/"


def _until(predicate, timeout: float = 10) -> None:
    assert wait_for(predicate, timeout) is not None, "condition not met in time"


@needs_chromium
def test_staff_reads_a_session_plays_its_recording_and_ends_one_behind_a_reason(browser, admin_server):
    url, _db = admin_server
    catalog_load()
    session_id = live_session(url)
    key = f"recordings/{session_id}/take.webm"
    s3().put_object(Bucket=settings.S3_BUCKET, Key=key, Body=b"\x1a\x45\xdf\xa3 webm", ContentType="audio/webm")
    ConversationSession.objects(id=session_id).update_one(set__audio_recording_url=f"s3://{settings.S3_BUCKET}/{key}")

    page = new_page(browser)
    log_in(page, url, STAFF, STAFF_PASSWORD)
    page.goto(f"{url}{SESSIONS}{session_id}/change/")
    expect(page.locator("audio[data-testid=recording-player]")).to_be_visible()
    topic_link = page.locator(".readonly a[href*='/admin/topics/topic/']")
    expect(topic_link).to_have_count(1)
    assert page.get_by_text("s3://").count() == 0
    screenshot(page, "admin-session-detail.png")

    page.evaluate("document.querySelector('audio').play().catch(() => {})")
    _until(lambda: AdminAuditEntry.objects(action="play_recording", document_id=session_id).count() >= 1)
    assert AdminAuditEntry.objects(action="play_recording").first().username == STAFF

    page.get_by_role("button", name="End session").click()
    expect(page.get_by_label("Reason")).to_be_visible()
    page.get_by_role("button", name="Yes, end it").click()
    expect(page.locator(".errorlist")).to_contain_text("Say why the session is ended.")
    assert ConversationSession.objects.get(id=session_id).status == "active"
    page.get_by_label("Reason").fill("Both learners asked support to stop")
    screenshot(page, "admin-session-end.png")
    page.get_by_role("button", name="Yes, end it").click()
    expect(page.locator(".messagelist")).to_contain_text("Session ended: completed.")
    ended = ConversationSession.objects.get(id=session_id)
    assert (ended.status, ended.end_reason, ended.ended_by, ended.end_note) == (
        "completed", "completed", STAFF, "Both learners asked support to stop",
    )  # fmt: skip


@needs_chromium
def test_staff_reads_coverage_and_the_dashboards_verdict(browser, admin_server):
    url, _db = admin_server
    catalog_load()
    page = new_page(browser)
    log_in(page, url, STAFF, STAFF_PASSWORD)
    page.goto(f"{url}/admin/topics/coverage/")
    expect(page.locator("#coverage-fr h2")).to_contain_text("active topics")
    screenshot(page, "admin-coverage.png")
    page.locator("[data-cell='fr-B1-0'] a").click()
    expect(page).to_have_url(
        f"{url}/admin/topics/topic/?target_language_code=fr&level=B1&category=daily_life&is_active=1"
    )

    page.goto(f"{url}/admin/sessions_app/dashboard/?refresh=0")
    expect(page.locator("#overall-verdict")).to_have_text("red")  # no beat has run against this server
    expect(page.locator("[data-signal=beat]")).to_have_attribute("data-level", "red")
    expect(page.locator("[data-signal=stores]")).to_have_attribute("data-level", "green")
    expect(page.locator("#as-of")).to_contain_text("UTC")
    screenshot(page, "admin-dashboard-verdict.png")
    page.locator("#expired-requests").click()
    expect(page).to_have_url(re.compile(r"status=expired"))


@needs_chromium
def test_a_learner_accepts_an_invitation_on_the_practice_page(browser, admin_server):
    url, _db = admin_server
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    body = {"participant2Id": "bob", "targetLanguageCode": "fr", "scheduledAt": at}
    status, invitation = http("POST", f"{url}/api/v1/sessions/", mint_token("alice"), body)
    assert status == 201 and invitation["invitation"] == "pending"
    page = open_learner(browser, url, "bob")
    item = page.locator(f"#invitation-list li[data-session-id='{invitation['id']}']")
    expect(item).to_contain_text("alice")
    screenshot(page, "practice-invitations.png")
    item.get_by_role("button", name="Accept").click()
    expect(page.locator("#notice")).to_contain_text("Invitation accepted")
    expect(page.locator("#invitations")).to_be_hidden()
    assert ConversationSession.objects.get(id=invitation["id"]).invitation == "accepted"
