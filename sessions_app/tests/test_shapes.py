"""One shape per response: session_json (the hot path) and SessionSerializer (the schema) agree."""

from __future__ import annotations

from sessions_app.documents import ConversationSession
from sessions_app.payloads import session_json
from sessions_app.serializers import SessionSerializer
from tests.helpers import ask
from topics import selectors
from topics.catalog import catalog_load
from topics.documents import Topic


def test_session_payload_has_exactly_the_serializers_keys_and_validates(api):
    catalog_load()
    ask(api, "alice")
    ask(api, "bob")
    session = ConversationSession.objects.get(participant1_id="alice")
    payload = session_json(session)
    fields = SessionSerializer().fields
    assert set(payload) == set(fields)
    assert set(payload["recordingConsent"]) == set(fields["recordingConsent"].fields)
    assert payload["topic"] is not None and set(payload["topic"]) == set(fields["topic"].fields)
    serializer = SessionSerializer(data=payload)
    assert serializer.is_valid(), serializer.errors


def test_session_payloads_take_their_topic_from_the_process_cache(api, monkeypatch):
    """Every payload names the session's topic; after the first, none reads it from MongoDB again, and a
    topic saved in this process shows at once (its save clears the cache)."""
    catalog_load()
    ask(api, "alice")
    ask(api, "bob")
    session = ConversationSession.objects.get(participant1_id="alice")
    topic = Topic.objects.get(id=session.topic_id)
    session_json(session)  # the first payload fills the cache
    reads: list[str] = []
    real_get = selectors.topic_get

    def counted_get(*, topic_id: str):
        reads.append(topic_id)
        return real_get(topic_id=topic_id)

    monkeypatch.setattr(selectors, "topic_get", counted_get)
    payloads = [session_json(session) for _ in range(3)]
    assert [p["topic"]["title"] for p in payloads] == [topic.title] * 3
    assert reads == []
    topic.title = "Renamed by staff"
    topic.save()
    assert session_json(session)["topic"]["title"] == "Renamed by staff"
    assert reads == [session.topic_id]  # read once more after the save emptied the cache
