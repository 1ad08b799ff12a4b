"""One shape per response: the hot-path payload and the schema's serializer name the same keys and types."""

from __future__ import annotations

from matchmaking.documents import MatchmakingRequest
from matchmaking.payloads import request_json
from matchmaking.serializers import RequestSerializer
from tests.helpers import ask


def test_request_payload_has_exactly_the_serializers_keys_and_validates(api):
    ask(api, "alice")
    ask(api, "bob")
    for request in MatchmakingRequest.objects(user_id__in=["alice", "bob"]):  # one pending then matched, one matched
        payload = request_json(request)
        assert set(payload) == set(RequestSerializer().fields)
        serializer = RequestSerializer(data=payload)
        assert serializer.is_valid(), serializer.errors
