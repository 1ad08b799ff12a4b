"""Topics API and starter catalog against the real MongoDB-wire server."""

from __future__ import annotations

import itertools

import pytest

from conversation.vocab import CATEGORIES, LEVELS
from topics import services
from topics.catalog import catalog_entries, catalog_load
from topics.documents import Topic

URL = "/api/v1/topics/"
NEW = {"targetLanguageCode": "fr", "level": "A2", "title": "Au marché", "category": "daily_life",
       "estimatedDurationMinutes": 10, "promptQuestions": ["Qu'achetez-vous ?"]}  # fmt: skip


def test_catalog_covers_every_language_level_and_category_once():
    entries = catalog_entries()
    combos = {(e["targetLanguageCode"], e["level"], e["category"]) for e in entries}
    assert combos == set(itertools.product(("en", "fr", "es", "de", "it", "pt"), LEVELS, CATEGORIES))
    assert len(entries) == 216
    assert all(3 <= len(e["promptQuestions"]) <= 5 for e in entries)


def test_load_topics_is_idempotent_and_keeps_staff_edits_unless_forced():
    assert catalog_load() == {"created": 216, "updated": 0, "unchanged": 0}
    topic = Topic.objects(target_language_code="es", level="C2", category="news").get()
    original = topic.title
    topic.title = "Editado por el equipo"
    topic.save()
    assert catalog_load() == {"created": 0, "updated": 0, "unchanged": 216}
    assert Topic.objects.get(id=topic.id).title == "Editado por el equipo"
    assert catalog_load(force=True)["updated"] == 1
    assert Topic.objects.get(id=topic.id).title == original
    assert Topic.objects.count() == 216


def test_list_filters_search_and_pagination(api):
    catalog_load()
    learner = api("learner")
    page = learner.get(URL, {"targetLanguageCode": "de", "level": "B2"}).json()
    assert page["count"] == 6 and len(page["results"]) == 6
    assert {t["category"] for t in page["results"]} == set(CATEGORIES)
    one = learner.get(URL, {"targetLanguageCode": "fr", "level": "B1", "category": "travel"}).json()
    assert one["count"] == 1
    word = one["results"][0]["title"].split()[-1]
    found = learner.get(URL, {"targetLanguageCode": "fr", "search": word.upper()}).json()
    assert one["results"][0]["id"] in {t["id"] for t in found["results"]}
    everything = learner.get(URL).json()
    assert everything["count"] == 216 and len(everything["results"]) == 20 and everything["next"]
    unknown = learner.get(URL, {"level": "Z9"})  # typed filters: an unknown level is named, not silently empty
    assert unknown.status_code == 400 and list(unknown.json()["fields"]) == ["level"]


def test_pages_are_counted_in_mongodb_not_loaded(api, monkeypatch):
    from mongoengine.queryset import QuerySet

    catalog_load()

    original_len = QuerySet.__len__

    def refuse_unbounded(self):
        assert self._limit is not None, "a page must not load every matching document"
        return original_len(self)

    monkeypatch.setattr(QuerySet, "__len__", refuse_unbounded)
    body = api("learner").get(URL, {"page": 3}).json()
    assert body["count"] == 216 and len(body["results"]) == 20


def test_learners_see_active_topics_only_staff_see_all(api):
    catalog_load()
    hidden = Topic.objects(target_language_code="it", level="A1").first()
    hidden.is_active = False
    hidden.save()
    assert api("learner").get(f"{URL}{hidden.id}/").status_code == 404
    assert api("learner").get(URL, {"targetLanguageCode": "it", "level": "A1"}).json()["count"] == 5
    staff = api("editor", staff=True)
    assert staff.get(f"{URL}{hidden.id}/").status_code == 200
    assert staff.get(URL, {"targetLanguageCode": "it", "level": "A1", "isActive": "false"}).json()["count"] == 1


def test_random_topic_is_active_and_of_the_asked_language_and_level(api):
    catalog_load()
    seen = set()
    for _ in range(15):
        topic = api("learner").get(f"{URL}random/", {"targetLanguageCode": "pt", "level": "C1"}).json()
        assert (topic["targetLanguageCode"], topic["level"], topic["isActive"]) == ("pt", "C1", True)
        seen.add(topic["id"])
    assert len(seen) > 1  # not always the same one
    assert api("learner").get(f"{URL}random/", {"targetLanguageCode": "ja", "level": "C1"}).status_code == 404
    bad = api("learner").get(f"{URL}random/", {"targetLanguageCode": "pt"})
    assert bad.status_code == 400 and "level" in bad.json()["fields"]


def test_staff_curate_and_updated_at_is_maintained(api):
    staff = api("editor", staff=True)
    created = staff.post(URL, NEW, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["createdAt"] == body["updatedAt"] and body["isActive"] is True
    patched = staff.patch(f"{URL}{body['id']}/", {"title": "Au marché du samedi"}, format="json").json()
    assert patched["title"] == "Au marché du samedi" and patched["updatedAt"] >= body["updatedAt"]
    stored = Topic._get_collection().find_one({"title": "Au marché du samedi"})
    assert stored["estimatedDurationMinutes"] == 10 and stored["promptQuestions"] == ["Qu'achetez-vous ?"]
    assert staff.put(f"{URL}{body['id']}/", {**NEW, "isActive": False}, format="json").json()["isActive"] is False
    assert staff.delete(f"{URL}{body['id']}/").status_code == 204
    assert Topic.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 2001}, "description"),
        ({"promptQuestions": ["q"] * 21}, "promptQuestions"),
        ({"promptQuestions": ["x" * 301]}, "promptQuestions.0"),  # nested errors: dotted paths
        ({"estimatedDurationMinutes": 7}, "estimatedDurationMinutes"),
        ({"targetLanguageCode": "xx"}, "targetLanguageCode"),
        ({"level": "D1"}, "level"),
        ({"category": "sports"}, "category"),
        ({"createdBy": "me"}, "createdBy"),
    ],
)
def test_bad_topics_get_field_errors_and_nothing_is_stored(api, change, field):
    response = api("editor", staff=True).post(URL, {**NEW, **change}, format="json")
    assert response.status_code == 400 and field in response.json()["fields"]
    assert Topic.objects.count() == 0


def test_a_twin_written_between_the_serializers_check_and_the_services_is_a_400(api, monkeypatch):
    """Two staff saving the same title at once: the service's own check refuses the second (was a 500)."""
    twin = {"title": ["A topic with this title already exists for this language, level and category."]}
    monkeypatch.setattr(services, "topic_problems", lambda **kwargs: twin)  # the serializer's check passed
    response = api("editor", staff=True).post(URL, NEW, format="json")
    assert response.status_code == 400 and response.json()["fields"] == twin
    assert Topic.objects.count() == 0


def test_learners_cannot_write(api):
    assert api("learner").post(URL, NEW, format="json").status_code == 403
    assert Topic.objects.count() == 0
