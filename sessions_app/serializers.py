"""Input validation of the sessions API."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from conversation.auth import USER_ID_RE
from conversation.serializers import StrictSerializer, UTCDateTimeField
from conversation.vocab import DURATIONS, language_codes
from sessions_app.documents import END_REASONS, INVITATIONS, STATUSES
from sessions_app.services.recording import AUDIO_TYPES
from topics.selectors import topic_get_active
from topics.serializers import TopicSerializer


class ScheduleSerializer(StrictSerializer):
    participant2Id = serializers.RegexField(USER_ID_RE.pattern, max_length=128)
    targetLanguageCode = serializers.ChoiceField(choices=())
    scheduledAt = UTCDateTimeField()
    topicId = serializers.CharField(required=False, allow_null=True, max_length=24)
    plannedDurationMinutes = serializers.ChoiceField(choices=DURATIONS, required=False, default=10)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["targetLanguageCode"].choices = language_codes()

    def validate(self, attrs):
        topic_id = attrs.get("topicId")
        if topic_id and topic_get_active(topic_id=topic_id, language=attrs["targetLanguageCode"]) is None:
            raise serializers.ValidationError({"topicId": [_("No active topic with this id for this language.")]})
        return attrs


class ReportSerializer(StrictSerializer):
    reason = serializers.CharField(min_length=1, max_length=100)
    details = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)


class ConsentSerializer(StrictSerializer):
    consent = serializers.BooleanField()


class UploadUrlSerializer(StrictSerializer):
    contentType = serializers.ChoiceField(choices=sorted(AUDIO_TYPES), required=False, default="audio/webm")


class CompleteSerializer(StrictSerializer):
    key = serializers.CharField(max_length=300)


class FeedbackSerializer(StrictSerializer):
    partnerRating = serializers.IntegerField(min_value=1, max_value=5, source="partner_rating")
    connectionQuality = serializers.IntegerField(min_value=1, max_value=5, source="connection_quality")
    topicRating = serializers.IntegerField(min_value=1, max_value=5, source="topic_rating")
    talkAgain = serializers.BooleanField(source="talk_again")
    levelFeltRight = serializers.BooleanField(source="level_felt_right")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class RecordingConsentSerializer(serializers.Serializer):
    participant1 = serializers.BooleanField()
    participant2 = serializers.BooleanField()


class SessionSerializer(serializers.Serializer):
    """The response schema; payloads.session_json renders it on the hot path (tests/test_shapes.py: they agree)."""

    id = serializers.CharField()
    topicId = serializers.CharField(allow_null=True)
    targetLanguageCode = serializers.CharField()
    participant1Id = serializers.CharField()
    participant2Id = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    scheduledAt = serializers.DateTimeField(allow_null=True)
    startedAt = serializers.DateTimeField(allow_null=True)
    endedAt = serializers.DateTimeField(allow_null=True)
    actualDurationSeconds = serializers.IntegerField(allow_null=True)
    endReason = serializers.ChoiceField(choices=END_REASONS, allow_null=True)
    audioRecordingUrl = serializers.CharField(allow_null=True)
    recordingConsent = RecordingConsentSerializer()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    topic = TopicSerializer(allow_null=True)
    plannedDurationMinutes = serializers.ChoiceField(choices=DURATIONS)
    level = serializers.CharField(allow_null=True)
    invitation = serializers.ChoiceField(choices=INVITATIONS, allow_null=True)


class HeartbeatResponseSerializer(serializers.Serializer):
    serverTime = serializers.DateTimeField()
    session = SessionSerializer()


class UploadUrlResponseSerializer(serializers.Serializer):
    uploadUrl = serializers.URLField()
    method = serializers.ChoiceField(choices=("POST",))
    fields = serializers.DictField(
        child=serializers.CharField(), help_text="Form fields to send, in order, before the file (multipart)."
    )
    key = serializers.CharField()
    expiresIn = serializers.IntegerField()
    maxBytes = serializers.IntegerField()


class DownloadUrlSerializer(serializers.Serializer):
    downloadUrl = serializers.URLField()
    expiresIn = serializers.IntegerField()


class FeedbackGivenSerializer(serializers.Serializer):
    """What the service stored, rendered from the document (never an echo of the request)."""

    sessionId = serializers.CharField(source="session_id")
    userId = serializers.CharField(source="user_id")
    partnerRating = serializers.IntegerField(source="partner_rating")
    connectionQuality = serializers.IntegerField(source="connection_quality")
    topicRating = serializers.IntegerField(source="topic_rating", allow_null=True)
    talkAgain = serializers.BooleanField(source="talk_again", allow_null=True)
    levelFeltRight = serializers.BooleanField(source="level_felt_right", allow_null=True)
    comment = serializers.CharField(allow_null=True)
    createdAt = UTCDateTimeField(source="created_at")
