"""The practice page in a real browser: two learners meet, talk over WebRTC, record, end.

Two headless Chromium contexts with fake microphones against one real uvicorn process.
SAVE_SCREENSHOTS=1 also writes docs/screenshots/practice-waiting.png and practice-session.png.
"""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings

from conversation.auth import decode_token, mint_token
from matchmaking.documents import MatchmakingRequest
from sessions_app.documents import ConversationSession, SessionFeedback, SessionReport, UserBlock
from sessions_app.services.recording import s3
from tests.e2e.conftest import needs_chromium, screenshot
from tests.helpers import request_body
from tests.processes import http, web_servers
from topics.catalog import catalog_load

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect

pytestmark = pytest.mark.timeout(240)

PHONE = {"width": 390, "height": 844}


def open_learner(browser, url: str, user_id: str):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, permissions=["microphone"])
    page = context.new_page()
    # Shown by pytest when the test fails: what the page itself said.
    page.on("console", lambda msg: print(f"[{user_id} console.{msg.type}] {msg.text}"))
    page.on("pageerror", lambda error: print(f"[{user_id} pageerror] {error}"))
    page.goto(f"{url}/practice/")
    page.get_by_label("User id").fill(user_id)
    page.get_by_role("button", name="Dev login").click()
    expect(page.locator("#whoami-id")).to_have_text(user_id)
    return page


def choose_fr_b1(page, *, topic_index: int = 0) -> str:
    page.get_by_label("Language").select_option("fr")
    page.get_by_label("Level", exact=True).select_option("B1")
    expect(page.get_by_label("Topic", exact=True)).to_have_attribute("data-loaded", "fr:B1")
    page.get_by_label("Topic", exact=True).select_option(index=topic_index)
    page.get_by_label("Duration").select_option("5")
    return page.get_by_label("Topic", exact=True).evaluate("select => select.selectedOptions[0].textContent")


def wait_for_audio(page, timeout: float = 30) -> dict:
    """The browser's own view of the call: connected, audio bytes sent and arriving (stats lag under load)."""
    deadline = time.monotonic() + timeout
    stats: dict = {}
    while time.monotonic() < deadline:
        stats = page.evaluate("window.practice.stats()")
        if stats["connectionState"] == "connected" and stats["bytesReceived"] > 0 and stats["bytesSent"] > 0:
            return stats
        page.wait_for_timeout(250)
    raise AssertionError(f"no audio flowing within {timeout}s: {stats}")


@needs_chromium
def test_two_learners_meet_talk_record_and_end(browser):
    catalog_load()
    expect.set_options(timeout=20_000)
    with web_servers(1) as [url]:
        alice = open_learner(browser, url, "alice")
        bob = open_learner(browser, url, "bob")

        # Alice asks first, for a topic of her choice, and waits in the fr/B1 queue.
        topic_title = choose_fr_b1(alice, topic_index=1)
        alice.get_by_role("button", name="Find a partner").click()
        expect(alice.locator("#waiting")).to_be_visible()
        expect(alice.locator("#wait-queue")).to_contain_text("1 learner waiting")
        expect(alice.locator("#wait-estimate")).not_to_be_empty()
        screenshot(alice, "practice-waiting.png")

        # Bob asks for any fr/B1 topic: they meet at once, on Alice's topic.
        choose_fr_b1(bob)
        bob.get_by_role("button", name="Find a partner").click()
        for page, partner in ((alice, "bob"), (bob, "alice")):
            expect(page.locator("#session")).to_be_visible()
            expect(page.locator("#partner-id")).to_have_text(partner)
            expect(page.locator("#topic-title")).to_have_text(topic_title)
            expect(page.locator("#prompts li").first).not_to_be_empty()
            expect(page.locator("#session-status")).to_have_text("active")  # both joined by heartbeat
            expect(page.locator("#countdown")).to_contain_text("left")

        # Real audio both ways, peer to peer.
        alice_stats, bob_stats = wait_for_audio(alice), wait_for_audio(bob)
        assert alice_stats["bytesSent"] > 0 and bob_stats["bytesSent"] > 0
        assert alice.evaluate("window.practice.state()")["offerer"] is True  # participant1 (who waited) offers
        expect(alice.locator("#audio-state")).to_contain_text("received")  # the page's own stats poll
        screenshot(alice, "practice-session.png")

        # Bob reloads the page mid-call: he rejoins the session and the audio is negotiated afresh.
        bob.reload()
        expect(bob.locator("#session-status")).to_have_text("active")
        wait_for_audio(bob)
        wait_for_audio(alice)

        # Recording starts only once both agreed, in participant1's browser.
        alice.get_by_label("I agree to this session being recorded").check()
        expect(alice.locator("#recording-state")).to_contain_text("partner: no")
        bob.get_by_label("I agree to this session being recorded").check()
        expect(alice.locator("#recording-state")).to_contain_text("Recording you and your partner")
        expect(bob.locator("#recording-state")).to_contain_text("partner's browser is recording")
        alice.wait_for_timeout(3000)
        alice.get_by_role("button", name="Stop and save the recording").click()
        expect(alice.locator("#recording-state")).to_contain_text("Recording saved")

        session = ConversationSession.objects.get()
        key = session.audio_recording_url.removeprefix(f"s3://{settings.S3_BUCKET}/")
        head = s3().head_object(Bucket=settings.S3_BUCKET, Key=key)
        assert head["ContentType"] == "audio/webm" and head["ContentLength"] > 1000
        # Sent as a presigned POST, then copied where no upload policy reaches; the upload itself is gone.
        assert key.startswith(f"recordings/{session.id}/")
        assert s3().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=f"uploads/{session.id}/")["KeyCount"] == 0

        # Bob plays it from his history: a presigned GET in an <audio> element.
        bob.get_by_role("button", name=re.compile("Play the recording")).click()
        bob.wait_for_function(
            "() => { const a = document.querySelector('#history-list audio'); return a && a.readyState >= 1; }"
        )
        assert bob.evaluate("document.querySelector('#history-list audio').error") is None

        # Bob ends; both see the end, and Bob leaves feedback.
        bob.get_by_role("button", name="End the session").click()
        for page in (alice, bob):
            expect(page.locator("#ended")).to_be_visible()
            expect(page.locator("#ended-summary")).to_contain_text("ended after")
            expect(page.locator("#history-list li").first).to_contain_text("completed (completed)")
        bob.locator("#fb-partner").select_option("5")
        bob.get_by_label("I would talk with this partner again").check()
        bob.get_by_role("button", name="Send feedback").click()
        expect(bob.get_by_text("Thank you for your feedback.")).to_be_visible()

    session.reload()
    assert (session.status, session.end_reason) == ("completed", "completed")
    assert session.participant1_id == "alice" and session.actual_duration_seconds is not None
    feedback = SessionFeedback.objects.get(session_id=str(session.id))
    assert (feedback.user_id, feedback.partner_rating, feedback.talk_again) == ("bob", 5, True)


@needs_chromium
def test_errors_read_as_words_and_a_search_can_be_cancelled(browser):
    with web_servers(1) as [url]:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        page.goto(f"{url}/practice/")
        page.get_by_label("Access token").fill("not-a-token")
        page.get_by_role("button", name="Use this token").click()
        expect(page.get_by_role("alert")).to_contain_text("does not look like a JWT")
        page.get_by_label("User id").fill("no spaces allowed")
        page.get_by_role("button", name="Dev login").click()
        expect(page.get_by_role("alert")).to_contain_text("User id: 1 to 128 characters")

        page.get_by_label("User id").fill("carol")
        page.get_by_role("button", name="Dev login").click()
        page.get_by_label("Learning profile id").fill("bad profile!")
        page.get_by_role("button", name="Find a partner").click()
        expect(page.get_by_role("alert")).to_contain_text("Learning profile id: This value does not match")

        page.get_by_label("Learning profile id").fill("lp-carol")
        page.get_by_role("button", name="Find a partner").click()
        expect(page.locator("#wait-queue")).to_contain_text("1 learner waiting")
        page.get_by_role("button", name="Cancel the search").click()
        expect(page.get_by_role("status").first).to_contain_text("Search cancelled.")
        expect(page.locator("#find")).to_be_visible()
    assert MatchmakingRequest.objects.get(user_id="carol").status == "cancelled"


@needs_chromium
def test_a_waiting_session_can_be_cancelled_and_an_active_one_reported(browser):
    """The partner is an API client here: no socket, so the session waits until it heartbeats over HTTP."""
    catalog_load()
    with web_servers(1) as [url]:
        page = browser.new_context(viewport=PHONE).new_page()
        page.goto(f"{url}/practice/")
        page.get_by_label("User id").fill("erin")
        page.get_by_role("button", name="Dev login").click()

        page.get_by_role("button", name="Find a partner").click()
        expect(page.locator("#waiting")).to_be_visible()
        assert http("POST", f"{url}/api/v1/matchmaking/requests/", mint_token("frank"), request_body())[0] == 201
        expect(page.locator("#session-status")).to_have_text("waiting")
        page.get_by_role("button", name="Cancel the session").click()
        expect(page.locator("#ended-summary")).to_have_text("The session with frank was cancelled.")
        expect(page.locator("#feedback-form")).to_be_hidden()  # feedback is for completed sessions

        page.get_by_role("button", name="Practise again").click()
        page.get_by_role("button", name="Find a partner").click()
        expect(page.locator("#waiting")).to_be_visible()
        _status, request = http("POST", f"{url}/api/v1/matchmaking/requests/", mint_token("gina"), request_body())
        expect(page.locator("#session")).to_be_visible()
        http("POST", f"{url}/api/v1/sessions/{request['sessionId']}/heartbeat/", mint_token("gina"))
        expect(page.locator("#session-status")).to_have_text("active")
        page.get_by_text("Report a problem with your partner").click()
        page.get_by_label("Reason").select_option("spam")
        page.get_by_label("Details (optional)").fill("kept posting links")
        page.get_by_role("button", name="Report and end the session").click()
        expect(page.locator("#ended-summary")).to_have_text("The session with gina ended with a report.")
    assert SessionReport.objects.get(reporter_id="erin").reason == "spam"
    assert UserBlock.objects(user_id="erin", blocked_user_id="gina").count() == 1


def test_dev_login_exists_only_in_debug(client, settings):
    settings.DEBUG = True
    response = client.post("/practice/dev-token", {"userId": "dana"}, content_type="application/json")
    assert response.status_code == 200
    assert decode_token(response.json()["token"]).id == "dana"
    page = client.get("/practice/")
    assert page.status_code == 200 and b"Dev login" in page.content and b"practice/app.js" in page.content

    settings.DEBUG = False
    assert client.post("/practice/dev-token", {"userId": "dana"}, content_type="application/json").status_code == 404
    assert client.get("/practice/dev-token").status_code == 404
    assert b"Dev login" not in client.get("/practice/").content
