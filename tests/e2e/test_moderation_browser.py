"""The moderator's journey in a real browser: a report in the queue, the learner view, suspend, lift.

Headless Chromium against one real uvicorn process (the `admin_server` fixture of tests/e2e/conftest.py); the learner
uses the same server over HTTP and a real WebSocket. SAVE_SCREENSHOTS=1 also writes
docs/screenshots/moderation-queue.png, moderation-learner.png and moderation-suspended.png.
"""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conversation.auth import mint_token
from moderation.documents import Suspension
from mongoadmin.documents import AdminAuditEntry
from sessions_app.documents import SessionReport
from tests.e2e.conftest import STAFF, STAFF_PASSWORD, log_in, needs_chromium, new_page, screenshot
from tests.helpers import request_body
from tests.processes import http

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect

pytestmark = pytest.mark.timeout(120)

QUEUE = "/admin/sessions_app/sessionreport/"


def learner_reports_partner(url: str) -> str:
    """Alice and Bob meet; Alice reports Bob. Returns the session id."""
    api = f"{url}/api/v1"
    assert http("POST", f"{api}/matchmaking/requests/", mint_token("alice"), request_body())[0] == 201
    status, bob = http("POST", f"{api}/matchmaking/requests/", mint_token("bob.martin"), request_body())
    assert status == 201 and bob["sessionId"], bob
    body = {"reason": "harassment", "details": "insults from the first minute"}
    assert http("POST", f"{api}/sessions/{bob['sessionId']}/report/", mint_token("alice"), body)[0] == 200
    return bob["sessionId"]


def closed_code(socket, timeout: float) -> int | None:
    """The close code the server sends within `timeout` seconds (events before it are skipped)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            socket.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None
    return None


@needs_chromium
def test_a_moderator_reviews_a_report_suspends_the_learner_and_lifts_it(browser, admin_server):
    url, _db_path = admin_server
    session_id = learner_reports_partner(url)
    bob = mint_token("bob.martin")
    page = new_page(browser)
    log_in(page, url, STAFF, STAFF_PASSWORD)

    # The report is in the queue, open, linking to its session and both learners.
    page.goto(f"{url}{QUEUE}?state=open")
    expect(page.locator('#changelist-filter details[data-filter-title="state"] li.selected')).to_have_text("open (1)")
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.field-reason")).to_have_text("harassment")
    expect(row.locator("td.field-session a")).to_have_text(session_id)
    screenshot(page, "moderation-queue.png")

    # The learner view of the reported user, from the link in the queue.
    row.locator("td.field-reported a").click()
    expect(page).to_have_url(f"{url}/admin/moderation/learner/bob.martin/")
    expect(page.locator("#open-reports")).to_have_text("1")
    expect(page.locator("#reports-received")).to_contain_text("harassment")
    expect(page.locator("#sessions")).to_contain_text("alice")
    screenshot(page, "moderation-learner.png")

    # Suspend: Bob's next call is refused and his open socket closes with 4403.
    with connect(f"{url.replace('http', 'ws')}/ws/v1/matchmaking/?token={bob}") as socket:
        assert http("GET", f"{url}/api/v1/sessions/", bob)[0] == 200
        page.locator("#suspend-learner").click()
        expect(page.get_by_label("User id")).to_have_value("bob.martin")
        page.get_by_label("Reason").fill("Harassment confirmed by two reports.")
        page.get_by_label("Until").fill("yesterday")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator("#id_until_error")).to_contain_text("Enter a valid date/time.")
        assert Suspension.objects.count() == 0
        page.get_by_label("Until").fill("")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")
        started = time.monotonic()
        status, refused = http("GET", f"{url}/api/v1/sessions/", bob)
        assert (status, refused["code"]) == (403, "suspended")
        assert closed_code(socket, timeout=2) == 4403
        assert time.monotonic() - started < 2

    page.goto(f"{url}/admin/moderation/learner/bob.martin/")
    expect(page.locator("#suspension-status")).to_contain_text("Harassment confirmed by two reports.")
    expect(page.locator("#suspension-status")).to_contain_text("until lifted")
    screenshot(page, "moderation-suspended.png")

    # Lift: Bob works again at once.
    page.locator("#lift-suspension").click()
    expect(page.locator(".messagelist")).to_contain_text("Suspension lifted: bob.martin can use the service again.")
    assert http("GET", f"{url}/api/v1/sessions/", bob)[0] == 200
    assert http("POST", f"{url}/api/v1/matchmaking/requests/", bob, request_body())[0] == 201

    # Close the report from the queue with notes.
    page.goto(f"{url}{QUEUE}?state=open")
    page.locator("#result_list tbody tr input.action-select").check()
    page.locator('select[name="action"]').select_option("resolve_selected")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("actioned").check()
    page.get_by_label("Notes").fill("Suspended, then lifted after a warning.")
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("1 report resolved.")
    report = SessionReport.objects.get(session_id=session_id)
    assert (report.state, report.resolved_by, report.notes) == (
        "actioned", STAFF, "Suspended, then lifted after a warning."
    )  # fmt: skip
    actions = {entry.action for entry in AdminAuditEntry.objects(username=STAFF)}
    assert {"suspend", "lift_suspension", "resolve_report_actioned"} <= actions
