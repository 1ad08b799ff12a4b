"""Input validation of matchmaking requests."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from conversation.serializers import PlainFieldsSerializer, StrictSerializer
from conversation.vocab import DURATIONS, LEVELS, language_codes
from matchmaking.documents import STATUSES
from topics.selectors import topic_get_active


class RequestCreateSerializer(PlainFieldsSerializer, StrictSerializer):
    learningProfileId = serializers.RegexField(r"^[A-Za-z0-9_.:@-]{1,128}$", max_length=128)
    targetLanguageCode = serializers.ChoiceField(choices=())
    userLevel = serializers.ChoiceField(choices=LEVELS)
    preferredTopicId = serializers.CharField(required=False, allow_null=True, max_length=24)
    preferredDuration = serializers.ChoiceField(choices=DURATIONS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["targetLanguageCode"].choices = language_codes()

    def validate(self, attrs):
        topic_id = attrs.get("preferredTopicId")
        if topic_id and topic_get_active(topic_id=topic_id, language=attrs["targetLanguageCode"]) is None:
            raise serializers.ValidationError(
                {"preferredTopicId": [_("No active topic with this id for the requested language.")]}
            )
        return attrs


class RequestSerializer(serializers.Serializer):
    """The response schema; payloads.request_json renders it on the hot path (tests/test_shapes.py: they agree)."""

    id = serializers.CharField()
    userId = serializers.CharField()
    learningProfileId = serializers.CharField()
    targetLanguageCode = serializers.CharField()
    userLevel = serializers.CharField()
    preferredTopicId = serializers.CharField(allow_null=True)
    preferredDuration = serializers.IntegerField()
    status = serializers.ChoiceField(choices=STATUSES)
    matchedWithUserId = serializers.CharField(allow_null=True)
    sessionId = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    matchedAt = serializers.DateTimeField(allow_null=True)
    estimatedWaitSeconds = serializers.IntegerField(allow_null=True)


class QueueSerializer(serializers.Serializer):
    targetLanguageCode = serializers.CharField()
    level = serializers.CharField()
    waiting = serializers.IntegerField()
    oldestWaitSeconds = serializers.FloatField()
