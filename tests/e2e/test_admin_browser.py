"""The Django admin in a real browser: a staff member curates topics and reads the operations dashboard.

Headless Chromium against one real uvicorn process. The staff login lives in a throw-away SQLite file
that only this module's web server uses (DATABASE_URL in its environment), migrated and filled with
`manage.py` before the server starts (the `admin_server` fixture of tests/e2e/conftest.py).
SAVE_SCREENSHOTS=1 also writes docs/screenshots/admin-topic-list.png, admin-topic-edit.png and admin-dashboard.png.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from pathlib import Path

import pytest

from conversation.auth import mint_token
from mongoadmin.documents import AdminAuditEntry
from tests.e2e.conftest import (
    LEARNER,
    LEARNER_PASSWORD,
    STAFF,
    STAFF_PASSWORD,
    live_session,
    log_in,
    needs_chromium,
    new_page,
    screenshot,
)
from tests.helpers import request_body
from tests.processes import http
from topics.catalog import catalog_load
from topics.documents import Topic

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect

pytestmark = pytest.mark.timeout(120)

TOPICS = "/admin/topics/topic/"
DASHBOARD = "/admin/sessions_app/dashboard/"
STAFF_ONLY = "Please enter the correct username and password for a staff account."
NEW_TITLE = "Un week-end à Lyon"


def sql(db_path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db_path) as connection:
        return connection.execute(query).fetchall()


def listed_titles(page) -> list[str]:
    return page.locator("#result_list tbody th.field-title a").all_inner_texts()


def apply_filter(page, title: str, choice: str, param: str) -> None:
    page.locator(f'#changelist-filter details[data-filter-title="{title}"]').get_by_role(
        "link", name=choice, exact=True
    ).click()
    expect(page).to_have_url(re.compile(rf"[?&]{param}={re.escape(choice)}(&|$)"))
    expect(page.locator(f'#changelist-filter details[data-filter-title="{title}"] li.selected')).to_have_text(choice)


def filter_fr_b1_travel(page) -> None:
    apply_filter(page, "language", "fr", "target_language_code")
    apply_filter(page, "level", "B1", "level")
    apply_filter(page, "category", "travel", "category")


def expected_titles(**filters) -> list[str]:
    return [topic.title for topic in Topic.objects(**filters).order_by("target_language_code", "level", "title", "id")]


def make_dashboard_data(url: str) -> None:
    """Alice and Bob are in an active session, Dave and Erin's ended in a report, Carol waits for a partner."""
    api = f"{url}/api/v1"
    live_session(url)
    assert http("POST", f"{api}/matchmaking/requests/", mint_token("dave"), request_body(userLevel="A2"))[0] == 201
    _status, erin = http("POST", f"{api}/matchmaking/requests/", mint_token("erin"), request_body(userLevel="A2"))
    assert http("POST", f"{api}/sessions/{erin['sessionId']}/cancel/", mint_token("dave"))[0] == 200
    report = http("POST", f"{api}/sessions/{erin['sessionId']}/report/", mint_token("erin"), {"reason": "rude"})
    assert report[0] in (200, 201), report
    status, carol = http(
        "POST", f"{api}/matchmaking/requests/", mint_token("carol"), request_body(targetLanguageCode="es")
    )
    assert status == 201 and carol["status"] == "pending", carol


@needs_chromium
def test_staff_curates_topics_and_reads_the_dashboard(browser, admin_server):
    url, db_path = admin_server
    catalog_load()
    page = new_page(browser)

    log_in(page, url, STAFF, STAFF_PASSWORD)
    expect(page).to_have_url(f"{url}/admin/")
    expect(page.locator("#user-tools")).to_contain_text(f"Welcome, {STAFF}.")
    assert sql(db_path, "SELECT count(*) FROM django_session")[0][0] >= 1  # the server's SQL is the temporary file

    # Topics, from the index page.
    page.locator(f'#content-main a[href="{TOPICS}"]').first.click()
    expect(page).to_have_url(f"{url}{TOPICS}")
    expect(page.locator("#changelist .paginator")).to_contain_text(f"{Topic.objects.count()} topics")

    # Search: any case, in the title or the description.
    page.locator("#searchbar").fill("VOYAG")
    page.locator("#changelist-search").get_by_role("button", name="Search").click()
    expect(page.locator("#changelist-search")).to_contain_text("2 results")
    assert sorted(listed_titles(page)) == sorted(["Voyager au Québec", "L'exotisme en question"])
    page.locator("#changelist-search").get_by_role("link", name="Show all").click()
    expect(page.locator("#searchbar")).to_have_value("")

    # Filters: language, level, category.
    filter_fr_b1_travel(page)
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    assert listed_titles(page) == expected_titles(target_language_code="fr", level="B1", category="travel")
    assert listed_titles(page) == ["Voyager au Québec"]
    row = page.locator("#result_list tbody tr").first
    for column, value in (("target_language_code", "fr"), ("level", "B1"), ("category", "travel")):
        expect(row.locator(f"td.field-{column}")).to_have_text(value)

    # A new topic: the form refuses an empty title and 21 questions, then saves once fixed.
    page.get_by_role("link", name="Add topic").click()
    expect(page).to_have_url(f"{url}{TOPICS}add/")
    page.get_by_label("Language").select_option("fr")
    page.get_by_label("Level").select_option("B1")
    page.get_by_label("Category").select_option("travel")
    page.get_by_label("Duration (minutes)").select_option("15")
    page.get_by_label("Description").fill("Deux jours pour découvrir Lyon et sa cuisine.")
    page.get_by_label("Prompt questions").fill("\n".join(f"Question {n} ?" for n in range(1, 22)))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errornote")).to_have_text("Please correct the errors below.")
    expect(page.locator("#id_title_error")).to_have_text("This field is required.")
    expect(page.locator("#id_prompt_questions_error")).to_have_text("At most 20 lines (this has 21).")
    expect(page.get_by_label("Category")).to_have_value("travel")  # what was typed is kept
    screenshot(page, "admin-topic-edit.png")
    assert Topic.objects(title=NEW_TITLE).count() == 0

    page.get_by_label("Title").fill(NEW_TITLE)
    page.get_by_label("Prompt questions").fill("Que visiter à Lyon ?\n\nQu'aimez-vous manger ?\n")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"{url}{TOPICS}")
    expect(page.locator(".messagelist")).to_contain_text(f"The topic “{NEW_TITLE} (fr B1)” was added successfully.")
    created = Topic.objects.get(title=NEW_TITLE)
    assert (created.target_language_code, created.level, created.category) == ("fr", "B1", "travel")
    assert created.prompt_questions == ["Que visiter à Lyon ?", "Qu'aimez-vous manger ?"]
    assert created.estimated_duration_minutes == 15 and created.is_active is True

    filter_fr_b1_travel(page)
    assert listed_titles(page) == [NEW_TITLE, "Voyager au Québec"]
    assert listed_titles(page) == expected_titles(target_language_code="fr", level="B1", category="travel")
    screenshot(page, "admin-topic-list.png")

    # Bulk action: deactivate both.
    filtered_url = page.url
    for title in (NEW_TITLE, "Voyager au Québec"):
        page.locator("#result_list tbody tr", has_text=title).locator("input.action-select").check()
    expect(page.locator(".action-counter")).to_have_text("2 of 2 selected")
    page.get_by_label("Action:").select_option("deactivate")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("2 topics marked inactive.")
    assert page.url == filtered_url  # back on the same filtered list
    deactivated = Topic.objects(target_language_code="fr", level="B1", category="travel")
    assert {topic.title: topic.is_active for topic in deactivated} == {NEW_TITLE: False, "Voyager au Québec": False}
    assert Topic.objects(is_active=False).count() == 2  # nothing else touched
    audit = AdminAuditEntry.objects(action="bulk_deactivate")
    assert sorted(entry.document_id for entry in audit) == sorted(str(topic.id) for topic in deactivated)
    assert {entry.username for entry in audit} == {STAFF}

    # Export the filtered list: a real download.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"topics-topic-\d{8}-\d{6}\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [row["title"] for row in rows] == [NEW_TITLE, "Voyager au Québec"]
    assert {(row["targetLanguageCode"], row["level"], row["category"], row["isActive"]) for row in rows} == {
        ("fr", "B1", "travel", "false")
    }
    assert rows[0]["id"] == str(created.id)
    assert rows[0]["promptQuestions"] == "Que visiter à Lyon ?\nQu'aimez-vous manger ?"
    assert rows[0]["estimatedDurationMinutes"] == "15"

    # The operations dashboard, with a little traffic behind it.
    make_dashboard_data(url)
    page.goto(f"{url}/admin/")
    page.get_by_role("link", name="Operations dashboard").first.click()
    expect(page).to_have_url(f"{url}{DASHBOARD}")
    expect(page.locator("h1")).to_have_text("Operations dashboard")
    expect(page.locator("#waiting-learners")).to_have_text("1")
    expect(page.locator("#active-sessions")).to_have_text("1")
    expect(page.locator(".tile", has_text="Matched requests").locator("strong")).to_have_text("4")
    queues = page.locator("section", has=page.get_by_role("heading", name="Queues"))
    expect(queues.locator("tbody tr")).to_have_count(1)
    expect(queues.locator("tbody tr td").nth(0)).to_have_text("es")
    expect(page.locator("section", has_text="How sessions ended").locator("svg")).to_be_visible()
    reports = page.locator("section", has=page.get_by_role("heading", name="Reports to review"))
    expect(reports.locator("tbody tr")).to_have_count(1)
    expect(reports.locator("tbody tr")).to_contain_text("rude")
    screenshot(page, "admin-dashboard.png")

    page.get_by_role("link", name="last 7 days").click()
    expect(page).to_have_url(re.compile(r"\?window=7d$"))
    expect(page.locator("#waiting-learners")).to_have_text("1")

    # A filter value the field cannot hold lists nothing (it used to be a server error).
    page.goto(f"{url}/admin/sessions_app/sessionfeedback/?partner_rating=x")
    expect(page.locator("#changelist .paginator")).to_contain_text("0 session feedback")


@needs_chromium
def test_a_user_without_staff_status_is_refused(browser, admin_server):
    url, db_path = admin_server
    assert sql(db_path, f"SELECT is_staff, is_active FROM auth_user WHERE username = '{LEARNER}'") == [(0, 1)]
    page = new_page(browser)

    page.goto(f"{url}/admin/")
    expect(page).to_have_url(f"{url}/admin/login/?next=/admin/")
    page.goto(f"{url}{DASHBOARD}")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/sessions_app/dashboard/$"))

    log_in(page, url, LEARNER, LEARNER_PASSWORD)
    expect(page.locator(".errornote")).to_contain_text(STAFF_ONLY)
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.get_by_label("Username")).to_have_value(LEARNER)
    page.goto(f"{url}{TOPICS}")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/topics/topic/$"))
    expect(page.locator("#result_list")).to_have_count(0)

    log_in(page, url, STAFF, "not-the-password")  # a wrong password reads the same
    expect(page.locator(".errornote")).to_contain_text(STAFF_ONLY)
