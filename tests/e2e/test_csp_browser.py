"""The Content-Security-Policy in a real browser: the admin, Swagger UI and the practice page work under it.

Headless Chromium records every `securitypolicyviolation` and every console message about the policy.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import needs_chromium
from tests.processes import web_servers

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect

pytestmark = [needs_chromium, pytest.mark.timeout(120)]

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def watched_page(browser):
    context = browser.new_context(permissions=["microphone"])
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.console_messages_seen = []
    page.on("console", lambda msg: page.console_messages_seen.append(msg.text))
    return page


def violations(page) -> list[str]:
    said = [text for text in page.console_messages_seen if "Content Security Policy" in text]
    return page.evaluate("window.__violations") + said


def test_admin_swagger_ui_and_practice_page_load_with_no_csp_violation(browser):
    with web_servers(1) as urls:
        url = urls[0]
        admin = watched_page(browser)
        admin.goto(f"{url}/admin/login/")
        expect(admin.get_by_label("Username")).to_be_visible()
        assert violations(admin) == []

        docs = watched_page(browser)
        docs.goto(f"{url}/api/docs/")
        expect(docs.locator(".swagger-ui .info .title")).to_contain_text("Conversation Service API")
        docs.locator(".opblock-summary").first.click()  # expands: the UI's scripts and styles run
        assert violations(docs) == []

        practice = watched_page(browser)
        practice.goto(f"{url}/practice/")
        practice.get_by_label("User id").fill("alice")
        practice.get_by_role("button", name="Dev login").click()
        expect(practice.locator("#whoami-id")).to_have_text("alice")  # fetch + socket to the service
        practice.wait_for_timeout(500)
        assert violations(practice) == []
