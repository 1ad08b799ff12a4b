"""One shape per response: session_json (the hot path) and SessionSerializer (the schema) agree."""

from __future__ import annotations

from sessions_app.documents import ConversationSession
from sessions_app.payloads import session_json
from sessions_app.serializers import SessionSerializer
from tests.helpers import ask
from topics.catalog import catalog_load


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
