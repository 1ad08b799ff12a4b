"""Fixtures for browser tests: headless Chromium (the Debian package) driven by Playwright.

Playwright's own browser downloads are never used; `make deps` installs the chromium package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conversation.auth import mint_token
from tests.helpers import request_body
from tests.processes import ROOT, http, web_servers

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
    "--use-fake-device-for-media-stream",  # a synthetic microphone (a beep), so audio flows
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
STAFF, STAFF_PASSWORD = "olga", "staff-pw-7f3k2m9q"
LEARNER, LEARNER_PASSWORD = "lena", "learner-pw-4h8d1x6z"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install the chromium OS package (make deps does it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def screenshot(page, name: str) -> None:
    """docs/screenshots/<name> when SAVE_SCREENSHOTS=1."""
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """(url, SQLite path) of a web server whose SQL database holds a superuser and a non-staff user.

    The logins live in a throw-away SQLite file only this server uses (DATABASE_URL in its environment).
    """
    db_path = tmp_path_factory.mktemp("admin-sql") / "db.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{db_path}"}  # an absolute path: sqlite:////tmp/...
    full_env = {**os.environ, **env, "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD}
    manage(full_env, "migrate", "--noinput", "-v", "0")
    manage(full_env, "createsuperuser", "--noinput", "--username", STAFF, "--email", f"{STAFF}@example.com")
    manage(
        full_env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({LEARNER!r}, '{LEARNER}@example.com', {LEARNER_PASSWORD!r})",
    )
    with web_servers(1, env=env) as [url]:
        yield url, db_path


def new_page(browser, *, locale: str | None = None):
    """A desktop page; `locale` ("fr-FR") is the browser's language, sent as Accept-Language."""
    page = browser.new_context(viewport=DESKTOP, accept_downloads=True, locale=locale).new_page()
    page.on("pageerror", lambda error: print(f"[pageerror] {error}"))
    page.set_default_timeout(10_000)
    return page


def log_in(page, url: str, username: str, password: str) -> None:
    """The admin login form, found by its fields' ids so it works in any language."""
    page.goto(f"{url}/admin/login/?next=/admin/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("#login-form [type=submit]").click()


def live_session(url: str) -> str:
    """Alice and Bob matched over HTTP and both joined by a heartbeat: the id of their active session."""
    api = f"{url}/api/v1"
    assert http("POST", f"{api}/matchmaking/requests/", mint_token("alice"), request_body())[0] == 201
    status, bob = http("POST", f"{api}/matchmaking/requests/", mint_token("bob"), request_body())
    assert status == 201 and bob["sessionId"]
    for user in ("alice", "bob"):
        assert http("POST", f"{api}/sessions/{bob['sessionId']}/heartbeat/", mint_token(user))[0] == 200
    return bob["sessionId"]
