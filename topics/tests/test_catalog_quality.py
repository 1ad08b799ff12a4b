"""Catalog quality: duplicates and prompt-less active topics refused everywhere, accent-insensitive search,
coverage, warnings when a bulk action empties a cell, usage and ratings, French Excel CSV imports."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversation import clock
from sessions_app.documents import ConversationSession, SessionFeedback
from topics import services
from topics.documents import Topic

pytestmark = pytest.mark.django_db
TOPICS = "/admin/topics/topic/"
BASE = {
    "target_language_code": "fr", "level": "B1", "category": "work", "estimated_duration_minutes": 10,
    "prompt_questions": ["Quel est votre métier ?"], "is_active": True,
}  # fmt: skip
API_TOPIC = {"targetLanguageCode": "fr", "level": "B1", "category": "work", "estimatedDurationMinutes": 10,
             "promptQuestions": ["Pourquoi ?"]}  # fmt: skip


def topic(title: str = "Mon métier", **overrides) -> Topic:
    return services.topic_create(data={**BASE, "title": title, **overrides})


def form(**overrides) -> dict:
    data = {"title": "MON METIER", "target_language_code": "fr", "level": "B1", "category": "work",
            "estimated_duration_minutes": "10", "prompt_questions": "Pourquoi ?", "is_active": "on",
            "_save": "Save"}  # fmt: skip
    return {k: v for k, v in (data | overrides).items() if v is not None}


def upload(client, name: str, content: bytes):
    return client.post(f"{TOPICS}import/", {"file": SimpleUploadedFile(name, content)})


def test_a_duplicate_title_ignoring_case_and_accents_is_refused_by_form_api_and_import(admin_client, api):
    original = topic()
    page = admin_client.post(f"{TOPICS}add/", form())
    assert page.status_code == 200 and "already exists for this language, level and category" in page.content.decode()
    assert page.context["adminform"].form.errors["title"]
    assert admin_client.post(f"{TOPICS}add/", form(category="travel")).status_code == 302  # another cell: fine

    staff = api("boss", staff=True)
    refused = staff.post("/api/v1/topics/", {**API_TOPIC, "title": "mon Métier"}, format="json")
    assert refused.status_code == 400 and "title" in refused.json()["fields"]
    renamed = staff.patch(f"/api/v1/topics/{original.id}/", {"title": "MON MÉTIER"}, format="json")
    assert renamed.status_code == 200  # renaming a topic to itself is no duplicate

    csv = "targetLanguageCode,level,category,title,estimatedDurationMinutes,promptQuestions\n"
    csv += "fr,B1,work,mon metier,10,Q?\nfr,A1,work,Nouveau,10,Q?\nfr,A1,work,NOUVEAU,10,Q?\n"
    preview = upload(admin_client, "topics.csv", csv.encode()).content.decode()
    assert "2 rows are invalid: nothing will be imported." in preview
    assert "title: A topic with this title already exists" in preview
    assert "title: an earlier row of the file is the same title." in preview
    assert Topic.objects.count() == 2


def test_an_active_topic_needs_a_prompt_question(admin_client, api):
    page = admin_client.post(f"{TOPICS}add/", form(title="Sans questions", prompt_questions=""))
    assert page.context["adminform"].form.errors["prompt_questions"] == [
        "An active topic needs at least one prompt question."
    ]
    assert (
        admin_client.post(f"{TOPICS}add/", form(title="Brouillon", prompt_questions="", is_active=None)).status_code
        == 302
    )
    staff = api("boss", staff=True)
    refused = staff.post("/api/v1/topics/", {**API_TOPIC, "title": "Vide", "promptQuestions": []}, format="json")
    assert refused.status_code == 400 and "promptQuestions" in refused.json()["fields"]
    draft = Topic.objects.get(title="Brouillon")
    activated = staff.patch(f"/api/v1/topics/{draft.id}/", {"isActive": True}, format="json")
    assert activated.status_code == 400 and "promptQuestions" in activated.json()["fields"]
    assert Topic.objects.get(id=draft.id).is_active is False


def test_search_ignores_case_and_accents_in_the_admin_and_the_api(admin_client, api):
    topic("Mon métier")
    topic("Les vacances", category="travel", description="Été à la mer")
    topic("Cooking", category="hobbies", description="Cuisine rapide")
    for query, expected in (("metier", ["Mon métier"]), ("MÉTIER", ["Mon métier"]), ("ete", ["Les vacances"]),
                            ("cuisine", ["Cooking"]), ("rapide-", [])):  # fmt: skip
        listing = admin_client.get(TOPICS, {"q": query}).context["rows"]
        assert sorted(row["pk"] for row in listing) == sorted(str(t.id) for t in Topic.objects(title__in=expected))
        found = api("alice").get("/api/v1/topics/", {"search": query}).json()["results"]
        assert [t["title"] for t in found] == expected, query


def test_language_filter_offers_only_languages_that_have_topics(admin_client):
    topic("Mon métier")
    topic("Work talk", target_language_code="en")
    filters = [spec for _template, spec in admin_client.get(TOPICS).context["filters"]]
    language = next(spec for spec in filters if spec["title"] == "language")
    assert [c["display"] for c in language["choices"]] == ["All", "en", "fr"]


def test_coverage_flags_empty_cells_and_languages(admin_client, settings):
    settings.SUPPORTED_LANGUAGE_CODES = ["fr", "pt"]
    topic("Mon métier")
    topic("Inactif", level="C2", is_active=False)
    page = admin_client.get("/admin/topics/coverage/")
    assert page.status_code == 200
    fr, pt = page.context["languages"]
    assert (fr.total, fr.empty_cells, pt.total, pt.empty_cells) == (1, 35, 0, 36)
    assert page.context["empty_languages"] == ["pt"]
    body = page.content.decode()
    cell = "/admin/topics/topic/?target_language_code=fr&amp;level=B1&amp;category=work&amp;is_active=1"
    assert f'data-cell="fr-B1-1"><a href="{cell}">1</a>' in body
    assert "Catalog coverage" in admin_client.get("/admin/").content.decode()


def test_bulk_deactivate_or_delete_warns_when_a_level_is_left_without_topics(admin_client):
    first, second = topic("Mon métier", level="C2"), topic("Ma ville", level="C2", category="travel")
    kept = topic("Garde", level="B2")
    response = admin_client.post(TOPICS, {"action": "deactivate", "_selected_action": [str(first.id)]}, follow=True)
    assert "No active topic is left" not in response.content.decode()
    response = admin_client.post(TOPICS, {"action": "deactivate", "_selected_action": [str(second.id)]}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert "No active topic is left for fr C2: learners of that level get no topic." in messages
    deleted = admin_client.post(
        TOPICS, {"action": "delete_selected", "_selected_action": [str(kept.id)], "post": "yes"}, follow=True
    )
    assert "No active topic is left for fr B2: learners of that level get no topic." in [
        str(m) for m in deleted.context["messages"]
    ]


def test_each_topic_shows_its_sessions_of_30_days_and_average_rating(admin_client):
    used, unused = topic("Mon métier"), topic("Ma ville", category="travel")
    now = clock.now()
    for days, rating in ((1, 4), (2, 5), (40, 1)):
        session = ConversationSession(
            topic_id=str(used.id), target_language_code="fr", participant1_id="a", participant2_id="b",
            status="completed", created_at=now - dt.timedelta(days=days), updated_at=now,
        )  # fmt: skip
        session.save()
        SessionFeedback(session_id=str(session.id), topic_id=str(used.id), user_id="a", partner_rating=5,
                        connection_quality=5, topic_rating=rating, created_at=now).save()  # fmt: skip
    page = admin_client.get(TOPICS)
    rows = {row["pk"]: "".join(row["cells"]) for row in page.context["rows"]}
    assert 'class="field-sessions_30d">2<' in rows[str(used.id)]
    assert "3.33 / 5" in rows[str(used.id)]
    assert 'class="field-sessions_30d">0<' in rows[str(unused.id)] and "/ 5" not in rows[str(unused.id)]
    assert "3.33 / 5" in admin_client.get(f"{TOPICS}{used.id}/change/").content.decode()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("excel-fr.csv", "title;targetLanguageCode;level;category;estimatedDurationMinutes;promptQuestions\r\n"
                         "Mon métier;fr;B1;work;10;Pourquoi ?\r\n".encode("cp1252")),
        ("bom-semicolon.csv", "\ufefftitle;targetLanguageCode;level;category;estimatedDurationMinutes;promptQuestions\n"
                              "Mon métier;fr;B1;work;10;Pourquoi ?\n".encode()),
        ("comma.csv", b"title,targetLanguageCode,level,category,estimatedDurationMinutes,promptQuestions\n"
                      b"Mon m\xc3\xa9tier,fr,B1,work,10,Pourquoi ?\n"),
    ],
)  # fmt: skip
def test_csv_import_takes_semicolons_a_bom_and_windows_1252(admin_client, name, content):
    preview = upload(admin_client, name, content)
    assert preview.status_code == 200 and preview.context["counts"]["created"] == 1, preview.content.decode()[:2000]
    admin_client.post(f"{TOPICS}import/", {"confirm": preview.context["token"]})
    assert [t.title for t in Topic.objects] == ["Mon métier"]


def test_an_unreadable_file_is_refused_with_a_message_naming_the_problem(admin_client):
    page = upload(admin_client, "broken.csv", b"title\nA\x81B\n")
    assert "neither UTF-8 nor Windows-1252 text: byte 0x81 at position 7" in page.content.decode()
    assert Topic.objects.count() == 0


HEADER = "title,targetLanguageCode,level,category,estimatedDurationMinutes,promptQuestions"


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("huge-field.csv", f"{HEADER}\n{'x' * 140_000},fr,B1,work,10,Q ?\n".encode(), "The file is not valid CSV"),
        ("deep.json", b"[" * 5000 + b"]" * 5000, "The file is not valid JSON"),
        ("surrogate.json", b'[{"title": "\\ud800x", "targetLanguageCode": "fr", "level": "B1", "category": "work",'
                           b' "estimatedDurationMinutes": 10, "promptQuestions": ["Q ?"]}]', "an unpaired surrogate"),
    ],
)  # fmt: skip
def test_hostile_import_files_are_refused_with_a_message_not_a_500(admin_client, name, content, said):
    page = upload(admin_client, name, content)
    assert page.status_code == 200 and said in page.content.decode()
    assert Topic.objects.count() == 0


def test_a_csv_with_mac_line_endings_imports(admin_client):
    """Carriage returns alone end its lines (Excel for Mac's "CSV"): read as lines, not one unquoted field."""
    preview = upload(admin_client, "mac.csv", f"{HEADER}\rMon métier,fr,B1,work,10,Pourquoi ?\r".encode())
    assert preview.status_code == 200 and preview.context["counts"]["created"] == 1, preview.content.decode()[:2000]


def test_excel_export_has_a_bom_and_semicolons(admin_client):
    topic("Mon métier")
    response = admin_client.get(f"{TOPICS}export/excel/")
    assert response.status_code == 200 and response["Content-Disposition"].endswith('.excel.csv"')
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeffid;targetLanguageCode;level;")
    assert ";Mon métier;" in body and "\r\n" in body
    assert f'href="{TOPICS}export/excel/"' in admin_client.get(TOPICS).content.decode()


def test_topics_stored_before_the_folded_fields_get_them_at_release(api):
    legacy = topic("Mon métier")
    Topic.objects(id=legacy.id).update_one(unset__search_text=True, unset__title_key=True)
    assert api("alice").get("/api/v1/topics/", {"search": "metier"}).json()["count"] == 0
    assert services.topics_refresh_keys() == 1
    assert services.topics_refresh_keys() == 0
    assert api("alice").get("/api/v1/topics/", {"search": "metier"}).json()["count"] == 1
