"""The admin back office for MongoDB documents: topics curation, sessions, matchmaking, audit trail."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from bson import ObjectId
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile

from conversation import mongo
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from mongoadmin.documents import AdminAuditEntry
from sessions_app.documents import ConversationSession, SessionFeedback, SessionReport
from tests.helpers import ask
from topics import services
from topics.documents import Topic

pytestmark = pytest.mark.django_db


TOPICS = "/admin/topics/topic/"
SESSIONS = "/admin/sessions_app/conversationsession/"
REQUESTS = "/admin/matchmaking/matchmakingrequest/"
AUDIT = "/admin/mongoadmin/adminauditentry/"


def make_topic(title: str = "At the Market", **overrides) -> Topic:
    data = {
        "title": title,
        "target_language_code": "fr",
        "level": "B1",
        "category": "daily_life",
        "estimated_duration_minutes": 10,
        "description": f"About {title.lower()}.",
        "prompt_questions": ["What do you buy?", "Where?"],
        "is_active": True,
    }
    return services.topic_create(data={**data, **overrides})


def form_data(**overrides) -> dict:
    data = {
        "title": "Weekend Plans",
        "target_language_code": "es",
        "level": "A2",
        "category": "hobbies",
        "estimated_duration_minutes": "15",
        "description": "",
        "prompt_questions": "What will you do?\n\n  Who with?  \n",
        "is_active": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def text(response) -> str:
    return response.content.decode()


def titles_in(response) -> list[str]:
    return [topic.title for topic in Topic.objects if f">{topic.title}</a>" in text(response)]


def audit_entries(**filters) -> list[AdminAuditEntry]:
    return list(AdminAuditEntry.objects(**filters).order_by("created_at"))


def test_topics_sessions_and_audit_are_on_the_admin_index_beside_users_and_groups(admin_client):
    page = text(admin_client.get("/admin/"))
    for link in (TOPICS, SESSIONS, REQUESTS, AUDIT, "/admin/auth/user/", "/admin/auth/group/"):
        assert f'href="{link}"' in page, link
    assert f'href="{TOPICS}add/"' in page
    assert f'href="{SESSIONS}add/"' not in page  # read-only
    app_page = admin_client.get("/admin/topics/")
    assert app_page.status_code == 200 and f'href="{TOPICS}"' in text(app_page)


def test_topic_list_filters_searches_sorts_and_paginates(admin_client, monkeypatch):
    make_topic("Breakfast Habits", level="A1", description="Morning FOOD and drinks")
    make_topic("Job Interview", level="B1", category="work")
    make_topic("Train Travel", level="B1", category="travel", is_active=False)
    make_topic("Zoo Visit", level="C1", target_language_code="de")

    page = admin_client.get(TOPICS)
    assert page.status_code == 200
    assert sorted(titles_in(page)) == ["Breakfast Habits", "Job Interview", "Train Travel", "Zoo Visit"]
    assert 'id="changelist-filter"' in text(page) and 'id="result_list"' in text(page)

    assert sorted(titles_in(admin_client.get(TOPICS, {"level": "B1"}))) == ["Job Interview", "Train Travel"]
    assert titles_in(admin_client.get(TOPICS, {"level": "B1", "is_active": "0"})) == ["Train Travel"]
    assert titles_in(admin_client.get(TOPICS, {"target_language_code": "de"})) == ["Zoo Visit"]
    assert titles_in(admin_client.get(TOPICS, {"category": "work"})) == ["Job Interview"]
    assert titles_in(admin_client.get(TOPICS, {"q": "food"})) == ["Breakfast Habits"]  # description, any case
    assert titles_in(admin_client.get(TOPICS, {"q": "INTERVIEW"})) == ["Job Interview"]

    body = text(admin_client.get(TOPICS, {"o": "-title"}))
    order = [body.index(f">{title}</a>") for title in ("Zoo Visit", "Train Travel", "Job Interview")]
    assert order == sorted(order)
    assert 'class="sortable column-title sorted descending"' in body

    monkeypatch.setattr(admin.site.admin_for(Topic), "list_per_page", 3)
    first, second = admin_client.get(TOPICS, {"o": "title"}), admin_client.get(TOPICS, {"o": "title", "p": "2"})
    assert titles_in(first) == ["Breakfast Habits", "Job Interview", "Train Travel"]
    assert titles_in(second) == ["Zoo Visit"]
    assert '<span class="this-page">2</span>' in text(second)


def test_adding_a_topic_shows_errors_inline_then_saves_the_fixed_form(admin_client):
    too_many = "\n".join(f"Question {n}?" for n in range(21))
    bad = admin_client.post(f"{TOPICS}add/", form_data(title="", level="D1", prompt_questions=too_many))
    assert bad.status_code == 200
    body = text(bad)
    assert "Please correct the errors below." in body
    assert "This field is required." in body and "Select a valid choice. D1 is not one of the available" in body
    assert "At most 20 lines (this has 21)." in body
    assert Topic.objects.count() == 0

    good = admin_client.post(f"{TOPICS}add/", form_data())
    assert good.status_code == 302 and good["Location"] == TOPICS
    stored = mongo.db()["topic"].find_one()
    assert stored["title"] == "Weekend Plans" and stored["targetLanguageCode"] == "es"
    assert stored["promptQuestions"] == ["What will you do?", "Who with?"]
    assert stored["estimatedDurationMinutes"] == 15 and stored["isActive"] is True
    assert stored["description"] is None
    [entry] = audit_entries(action="create")
    assert entry.username == "admin" and entry.document_type == "topics.Topic"
    assert entry.document_id == str(stored["_id"]) and entry.before is None and entry.after["title"] == "Weekend Plans"


def test_an_unsupported_language_is_refused(admin_client, settings):
    settings.SUPPORTED_LANGUAGE_CODES = ["en", "fr"]
    response = admin_client.post(f"{TOPICS}add/", form_data(target_language_code="es"))
    assert response.status_code == 200 and "Select a valid choice. es is not one" in text(response)


def test_editing_a_topic_stores_the_change_and_audits_before_and_after(admin_client):
    topic = make_topic()
    url = f"{TOPICS}{topic.id}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200 and 'value="At the Market"' in text(page)
    assert "What do you buy?\nWhere?" in text(page)

    data = form_data(
        title="At the Fish Market",
        target_language_code="fr",
        level="B1",
        category="daily_life",
        estimated_duration_minutes="10",
        description=topic.description,
        prompt_questions="What do you buy?\nWhere?",
        _continue="Save and continue editing",
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302 and response["Location"] == url
    topic.reload()
    assert topic.title == "At the Fish Market"
    [entry] = audit_entries(action="update")
    assert entry.before["title"] == "At the Market" and entry.after["title"] == "At the Fish Market"
    assert entry.changed_keys == ["searchText", "title", "titleKey", "updatedAt"]

    too_long = admin_client.post(url, {**data, "title": "x" * 201})
    assert "Ensure this value has at most 200 characters (it has 201)." in text(too_long)
    assert Topic.objects.get(id=topic.id).title == "At the Fish Market"


def test_bulk_deactivate_and_activate(admin_client):
    first, second, third = make_topic("One"), make_topic("Two"), make_topic("Three")
    response = admin_client.post(
        f"{TOPICS}?level=B1", {"action": "deactivate", "_selected_action": [str(first.id), str(second.id)]}
    )
    assert response.status_code == 302 and response["Location"] == f"{TOPICS}?level=B1"
    assert {t.title: t.is_active for t in Topic.objects} == {"One": False, "Two": False, "Three": True}
    entries = audit_entries(action="bulk_deactivate")
    assert sorted(e.document_id for e in entries) == sorted([str(first.id), str(second.id)])
    assert all(e.before["isActive"] is True and e.after["isActive"] is False for e in entries)

    admin_client.post(TOPICS, {"action": "activate", "_selected_action": [str(first.id), str(third.id)]})
    assert {t.title: t.is_active for t in Topic.objects} == {"One": True, "Two": False, "Three": True}
    assert len(audit_entries(action="bulk_activate")) == 1  # Three was already active


def test_delete_asks_for_confirmation_first(admin_client):
    topic, other = make_topic("Doomed"), make_topic("Also Doomed")
    make_topic("Kept")
    url = f"{TOPICS}{topic.id}/delete/"
    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and "Are you sure you want to delete the topic" in text(confirm)
    assert Topic.objects(id=topic.id).count() == 1
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert Topic.objects(id=topic.id).count() == 0

    bulk = {"action": "delete_selected", "_selected_action": [str(other.id)]}
    page = admin_client.post(TOPICS, bulk)
    assert page.status_code == 200 and "Are you sure you want to delete the selected topics?" in text(page)
    assert Topic.objects.count() == 2
    admin_client.post(TOPICS, {**bulk, "post": "yes"})
    assert [t.title for t in Topic.objects] == ["Kept"]
    assert [e.action for e in audit_entries(before__exists=True, after=None)] == ["delete", "bulk_delete"]


def test_export_csv_and_json_of_the_filtered_list(admin_client):
    make_topic("Cafe Talk", level="A2", prompt_questions=["Coffee or tea?", "Why, really?"])
    make_topic("Debate", level="C1")
    response = admin_client.get(f"{TOPICS}export/csv/", {"level": "A2"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["title"] == "Cafe Talk" and row["targetLanguageCode"] == "fr" and row["isActive"] == "true"
    assert row["promptQuestions"] == "Coffee or tea?\nWhy, really?" and row["estimatedDurationMinutes"] == "10"
    assert row["createdAt"].endswith("Z") and len(row["id"]) == 24

    rows = json.loads(admin_client.get(f"{TOPICS}export/json/", {"o": "title"}).content)
    assert [r["title"] for r in rows] == ["Cafe Talk", "Debate"]
    assert rows[0]["promptQuestions"] == ["Coffee or tea?", "Why, really?"] and rows[0]["isActive"] is True


def upload(client, name: str, content: str):
    return client.post(f"{TOPICS}import/", {"file": SimpleUploadedFile(name, content.encode())})


def test_import_round_trip_previews_then_writes_everything_on_confirm(admin_client):
    kept, renamed = make_topic("Kept As Is"), make_topic("Old Name")
    exported = admin_client.get(f"{TOPICS}export/csv/", {"o": "title"}).content.decode()
    rows = list(csv.DictReader(io.StringIO(exported)))
    for row in rows:
        if row["title"] == "Old Name":
            row["title"], row["isActive"] = "New Name", "false"
    rows.append({**rows[0], "id": "", "title": "Brand New", "level": "C2"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)

    preview = upload(admin_client, "topics.csv", out.getvalue())
    assert preview.status_code == 200
    body = text(preview)
    assert '<td class="field-status">unchanged</td>' in body and '<td class="field-status">updated</td>' in body
    assert '<td class="field-status">created</td>' in body and "title, active" in body
    assert "Confirming will create 1, update 1 and leave 1 unchanged." in body
    assert Topic.objects.get(id=renamed.id).title == "Old Name" and Topic.objects.count() == 2  # nothing written

    token = preview.context["token"]
    done = admin_client.post(f"{TOPICS}import/", {"confirm": token})
    assert done.status_code == 302 and done["Location"] == TOPICS
    renamed.reload()
    assert (renamed.title, renamed.is_active) == ("New Name", False)
    assert Topic.objects(title="Brand New", level="C2").count() == 1
    assert Topic.objects.get(id=kept.id).updated_at == kept.updated_at
    assert [e.action for e in audit_entries()] == ["import_update", "import_create"]

    again = admin_client.post(f"{TOPICS}import/", {"confirm": token})  # a second confirm writes nothing
    assert again.status_code == 302 and Topic.objects.count() == 3

    exported_json = admin_client.get(f"{TOPICS}export/json/").content.decode()
    unchanged = upload(admin_client, "topics.json", exported_json)
    assert text(unchanged).count('<td class="field-status">unchanged</td>') == 3


def test_an_invalid_row_blocks_the_whole_import(admin_client):
    topic = make_topic("Old Name")
    rows = [
        {"id": str(topic.id), "title": "New Name"},
        {"title": "Fine New Topic", "targetLanguageCode": "fr", "level": "B2", "category": "news",
         "estimatedDurationMinutes": 20, "promptQuestions": ["Why?"]},
        {"title": "Broken", "targetLanguageCode": "fr", "level": "Z9", "category": "news",
         "estimatedDurationMinutes": 7, "promptQuestions": ["x" * 301]},
        {"id": str(ObjectId()), "title": "Ghost"},
    ]  # fmt: skip
    preview = upload(admin_client, "topics.json", json.dumps(rows))
    body = text(preview)
    assert "2 rows are invalid: nothing will be imported." in body
    assert "level: Select a valid choice. Z9 is not one of the available choices." in body
    assert "estimatedDurationMinutes: Select a valid choice. 7 is not one" in body
    assert "promptQuestions: Line 1 has 301 characters; at most 300." in body
    assert "id: no topic with id" in body and "<td>Broken</td>" in body
    assert preview.context["token"] is None and 'name="confirm"' not in body

    forged = admin_client.post(f"{TOPICS}import/", {"confirm": "anything"})
    assert forged.status_code == 302
    assert [t.title for t in Topic.objects] == ["Old Name"] and audit_entries() == []

    unknown = upload(admin_client, "topics.csv", "title,colour\nA,red\n")
    assert "Unknown column(s): colour." in text(unknown)
    assert "Choose a .csv or .json file." in text(upload(admin_client, "topics.txt", "hello"))


def test_sessions_are_read_only_and_end_session_ends_live_ones(admin_client, api):
    ask(api, "alice")
    waiting_id = ask(api, "bob").json()["sessionId"]
    ask(api, "carol")
    active_id = ask(api, "dave").json()["sessionId"]
    for user in ("carol", "dave"):
        api(user).post(f"/api/v1/sessions/{active_id}/heartbeat/")
    assert ConversationSession.objects.get(id=active_id).status == "active"

    listing = text(admin_client.get(SESSIONS, {"status": "waiting"}))
    assert waiting_id in listing and active_id not in listing
    assert active_id in text(admin_client.get(SESSIONS, {"q": "dave"}))
    assert waiting_id not in text(admin_client.get(SESSIONS, {"q": "dave"}))
    detail = admin_client.get(f"{SESSIONS}{active_id}/change/")
    body = text(detail)
    assert detail.status_code == 200 and "End session" in body and "carol" in body
    assert "<select" not in body and "<textarea" not in body and 'name="_save"' not in body  # nothing to edit
    assert admin_client.get(f"{SESSIONS}add/").status_code == 403
    assert admin_client.post(f"{SESSIONS}{active_id}/change/", {"status": "completed"}).status_code == 403
    assert admin_client.get(f"{SESSIONS}{active_id}/delete/").status_code == 403

    for session_id in (active_id, waiting_id):
        action = f"{SESSIONS}{session_id}/actions/end_session/"
        asked = admin_client.post(action)  # the button: a confirmation page asking why, nothing ended yet
        assert asked.status_code == 200 and 'name="reason"' in text(asked)
        blank = admin_client.post(action, {"confirm": "yes", "reason": "   "})
        assert blank.status_code == 200 and "Say why the session is ended." in text(blank)
        assert ConversationSession.objects.get(id=session_id).status in ("waiting", "active")
        response = admin_client.post(action, {"confirm": "yes", "reason": "Learner asked support to stop it"})
        assert response.status_code == 302
    active, waiting = ConversationSession.objects.get(id=active_id), ConversationSession.objects.get(id=waiting_id)
    assert (active.status, active.end_reason) == ("completed", "completed")
    assert (waiting.status, waiting.end_reason) == ("cancelled", None)
    assert (active.ended_by, active.end_note) == ("admin", "Learner asked support to stop it")
    stored = mongo.db()["conversation_session"].find_one({"_id": ObjectId(active_id)})
    assert (stored["endedBy"], stored["endNote"], stored["endReason"]) == ("admin", active.end_note, "completed")
    assert not redis().exists(f"session:active:{active_id}") and not redis().exists("user:session:dave")
    [ended_active, ended_waiting] = audit_entries(action="end_session")
    assert ended_active.before["status"] == "active" and ended_active.after["status"] == "completed"
    assert ended_waiting.document_id == waiting_id and ended_waiting.after["status"] == "cancelled"

    assert "End session" not in text(admin_client.get(f"{SESSIONS}{active_id}/change/"))
    admin_client.post(f"{SESSIONS}{active_id}/actions/end_session/", {"confirm": "yes", "reason": "again"})
    assert len(audit_entries(action="end_session")) == 2  # an ended session is not ended twice


def test_matchmaking_requests_filter_by_status_level_and_date(admin_client):
    now = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    for user, status, level, days in (
        ("u1", "pending", "B1", 0),
        ("u2", "expired", "B1", 3),
        ("u3", "pending", "C1", 0),
    ):
        MatchmakingRequest(
            user_id=user, learning_profile_id="lp", target_language_code="fr", user_level=level, preferred_duration=10,
            status=status, created_at=now - dt.timedelta(days=days), expires_at=now + dt.timedelta(minutes=2),
        ).save()  # fmt: skip

    def users(**params) -> list[str]:
        body = text(admin_client.get(REQUESTS, params))
        return [
            user
            for user in ("u1", "u2", "u3")
            if f'href="/admin/moderation/learner/{user}/" class="learner-link">{user}</a></td>' in body
        ]

    assert users() == ["u1", "u2", "u3"]
    assert users(status="pending") == ["u1", "u3"]
    assert users(user_level="C1") == ["u3"]
    assert users(created_at__gte="2026-03-07", created_at__lte="2026-03-07") == ["u2"]
    assert users(created_at__gte="2026-03-08") == ["u1", "u3"]
    assert users(q="u2") == ["u2"]
    assert admin_client.get(f"{REQUESTS}add/").status_code == 403


def test_feedback_and_reports_are_listed_read_only(admin_client):
    now = dt.datetime.now(dt.UTC)
    session_id = str(ObjectId())
    SessionFeedback(session_id=session_id, user_id="u1", partner_rating=4, connection_quality=5, created_at=now).save()
    SessionReport(session_id=session_id, reporter_id="u1", reported_user_id="u2", reason="rude", created_at=now).save()
    feedback = text(admin_client.get("/admin/sessions_app/sessionfeedback/", {"partner_rating": "4"}))
    assert f'href="{SESSIONS}{session_id}/change/"' in feedback and "u1" in feedback
    assert "u2" in text(admin_client.get("/admin/sessions_app/sessionreport/", {"q": "u2"}))
    assert admin_client.get("/admin/sessions_app/sessionreport/add/").status_code == 403


def test_audit_trail_lists_by_type_and_action_and_shows_before_and_after(admin_client):
    topic = make_topic("Before")
    admin_client.post(TOPICS, {"action": "deactivate", "_selected_action": [str(topic.id)]})
    admin_client.post(f"{TOPICS}{topic.id}/delete/", {"post": "yes"})
    listing = admin_client.get(AUDIT, {"document_type": "topics.Topic", "action": "bulk_deactivate"})
    assert listing.status_code == 200
    assert text(listing).count('<td class="field-action">') == 1
    [entry] = audit_entries(action="bulk_deactivate")
    detail = text(admin_client.get(f"{AUDIT}{entry.id}/change/"))
    assert "&quot;isActive&quot;: true" in detail and "&quot;isActive&quot;: false" in detail
    assert "isActive, updatedAt" in detail
    history = text(admin_client.get(AUDIT, {"q": str(topic.id)}))
    assert history.count('<td class="field-action">') == 2
    assert admin_client.post(f"{AUDIT}{entry.id}/delete/", {"post": "yes"}).status_code == 403
    index = mongo.db()["admin_audit"].index_information()
    assert any(spec["key"] == [("createdAt", -1)] for spec in index.values())


def test_a_logged_in_user_who_is_not_staff_is_sent_to_the_login_page(client):
    client.force_login(User.objects.create_user("learner", password="x"))
    for url in (TOPICS, f"{TOPICS}export/csv/", SESSIONS, AUDIT):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_staff_need_the_documents_permissions(client):
    staff = User.objects.create_user("curator", password="x", is_staff=True)
    client.force_login(staff)
    topic = make_topic()
    assert client.get(TOPICS).status_code == 403
    assert 'href="/admin/topics/topic/"' not in text(client.get("/admin/"))

    staff.user_permissions.add(Permission.objects.get(content_type__app_label="topics", codename="view_topic"))
    staff = User.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert client.get(TOPICS).status_code == 200
    assert client.get(f"{TOPICS}{topic.id}/change/").status_code == 200  # read-only page
    assert client.post(f"{TOPICS}{topic.id}/change/", form_data()).status_code == 403
    assert client.get(f"{TOPICS}add/").status_code == 403
    assert client.post(TOPICS, {"action": "deactivate", "_selected_action": [str(topic.id)]}).status_code == 302
    assert Topic.objects.get(id=topic.id).is_active is True  # the action is not offered without change

    staff.user_permissions.add(Permission.objects.get(content_type__app_label="topics", codename="change_topic"))
    client.force_login(User.objects.get(pk=staff.pk))
    client.post(TOPICS, {"action": "deactivate", "_selected_action": [str(topic.id)]})
    assert Topic.objects.get(id=topic.id).is_active is False
    assert audit_entries()[0].username == "curator"


@pytest.mark.parametrize("fmt", ["csv", "excel"])
def test_export_escapes_cells_a_spreadsheet_would_run_as_formulas(admin_client, fmt):
    """Issue 14, CSV formula injection: = + - @ tab and CR first are written behind an apostrophe."""
    for title in ('=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "\tTabbed", "\rReturn", "Plain"):
        make_topic(title, prompt_questions=["=cmd|' /C calc'!A0", "fine"])
    body = admin_client.get(f"{TOPICS}export/{fmt}/").content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body, newline=""), delimiter=";" if fmt == "excel" else ","))
    titles = sorted(row["title"] for row in rows)
    assert titles == sorted(["'=HYPERLINK(\"http://evil\")", "'+1+1", "'-2", "'@SUM(A1)", "'\tTabbed", "'\rReturn",
                             "Plain"])  # fmt: skip
    assert all(row["promptQuestions"].startswith("'=cmd") for row in rows)
    json_titles = sorted(row["title"] for row in json.loads(admin_client.get(f"{TOPICS}export/json/").content))
    assert '=HYPERLINK("http://evil")' in json_titles  # JSON is data, not a spreadsheet: kept as is

    # A file exported here imports back to the same titles.
    plain = next(row for row in rows if row["title"] == "'-2")
    preview = admin_client.post(
        f"{TOPICS}import/",
        {"file": SimpleUploadedFile("back.csv", _csv_of([{"id": plain["id"], "title": plain["title"]}]).encode())},
    )
    assert preview.context["counts"] == {"created": 0, "updated": 0, "unchanged": 1}


def _csv_of(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
