"""Input validation and response shapes of the moderation API (staff only)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversation import clock
from conversation.auth import USER_ID_RE
from conversation.serializers import StrictSerializer, UTCDateTimeField
from sessions_app.documents import REPORT_OUTCOMES, REPORT_STATES
from sessions_app.serializers import SessionSerializer


@extend_schema_field(SessionSerializer(many=True))
class RenderedSessionsField(serializers.Field):
    """Sessions already in their one JSON shape (`payloads.session_json`, as every session answer has them),
    passed through: SessionSerializer would read their rendered topic by the Topic's attribute names."""

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: list[dict]) -> list[dict]:
        return value


class ReportSerializer(serializers.Serializer):
    id = serializers.CharField()
    sessionId = serializers.CharField(source="session_id")
    reporterId = serializers.CharField(source="reporter_id")
    reportedUserId = serializers.CharField(source="reported_user_id")
    reason = serializers.CharField()
    details = serializers.CharField(allow_null=True)
    state = serializers.ChoiceField(choices=REPORT_STATES)
    assignee = serializers.CharField(allow_null=True)
    notes = serializers.CharField(allow_null=True)
    createdAt = UTCDateTimeField(source="created_at")
    resolvedAt = UTCDateTimeField(source="resolved_at", allow_null=True)
    resolvedBy = serializers.CharField(source="resolved_by", allow_null=True)


class ResolveSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=REPORT_OUTCOMES)
    notes = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)


class SuspensionSerializer(serializers.Serializer):
    id = serializers.CharField()
    userId = serializers.CharField(source="user_id")
    reason = serializers.CharField()
    until = UTCDateTimeField(allow_null=True)
    createdBy = serializers.CharField(source="created_by")
    createdAt = UTCDateTimeField(source="created_at")
    liftedAt = UTCDateTimeField(source="lifted_at", allow_null=True)
    liftedBy = serializers.CharField(source="lifted_by", allow_null=True)
    active = serializers.SerializerMethodField()

    def get_active(self, suspension) -> bool:
        return suspension.is_active(clock.now())


class SuspensionCreateSerializer(StrictSerializer):
    userId = serializers.RegexField(USER_ID_RE.pattern, max_length=128)
    reason = serializers.CharField(min_length=1, max_length=500)
    until = UTCDateTimeField(required=False, allow_null=True)

    def validate_until(self, value):
        if value is not None and value <= clock.now():
            raise serializers.ValidationError(_("Must be in the future (leave it out for: until lifted)."))
        return value


class BlockSerializer(serializers.Serializer):
    userId = serializers.CharField(source="user_id")
    blockedUserId = serializers.CharField(source="blocked_user_id")
    sessionId = serializers.CharField(source="session_id", allow_null=True)
    createdAt = UTCDateTimeField(source="created_at")


class FeedbackSummarySerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    averageRating = serializers.FloatField(source="average_rating", allow_null=True)


class LearnerSerializer(serializers.Serializer):
    """GET /moderation/users/{userId}/: the latest 50 of each kind, and counts."""

    userId = serializers.CharField(source="user_id")
    sessions = RenderedSessionsField()
    sessionCount = serializers.IntegerField(source="session_count")
    reportsMade = ReportSerializer(many=True, source="reports_made")
    reportsReceived = ReportSerializer(many=True, source="reports_received")
    openReports = serializers.IntegerField(source="open_reports")
    feedbackReceived = FeedbackSummarySerializer(source="feedback_summary")
    blocks = BlockSerializer(many=True)
    suspension = SuspensionSerializer(allow_null=True)
