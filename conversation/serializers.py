"""Serializer helpers shared by the apps."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers

from conversation.errors import CONFLICT_CODES


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields with a 400 naming them, so nothing unexpected is ever stored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)


class UTCDateTimeField(serializers.DateTimeField):
    """ISO 8601 UTC with a trailing Z, as the API promises."""

    def to_representation(self, value):
        from conversation.clock import isoformat

        return isoformat(value)


class ErrorSerializer(serializers.Serializer):
    """`{"detail": "..."}`: 401, 403, 404, 405, 413, 415, 429."""

    detail = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    """409 `{"detail": "...", "code": "..."}`."""

    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=CONFLICT_CODES)


class UnavailableSerializer(serializers.Serializer):
    """503 when MongoDB or Redis cannot be reached."""

    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=("service_unavailable",))


# `{"field": ["message", ...]}` (nested for list items) or `{"detail": "..."}`: any object.
VALIDATION_ERROR = {"type": "object", "additionalProperties": True}

_ERRORS: dict[int, tuple[object, str]] = {
    400: (VALIDATION_ERROR, "Bad input: field errors, or `detail` for a malformed body."),
    401: (ErrorSerializer, "No, malformed, expired or foreign token."),
    403: (ErrorSerializer, "Authenticated but not allowed (staff only)."),
    404: (ErrorSerializer, "Unknown or malformed id, or not yours."),
    409: (ConflictSerializer, "The resource is not in the state the action needs."),
    413: (ErrorSerializer, "Request body larger than MAX_REQUEST_BODY_BYTES."),
    415: (ErrorSerializer, "The body is not application/json."),
    429: (ErrorSerializer, "Rate limited; Retry-After says when to try again."),
    503: (UnavailableSerializer, "MongoDB or Redis is unreachable."),
}
BODY_ERRORS = (400, 413, 415)


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for `statuses`, plus the 401 and 503 every authenticated endpoint can answer."""
    wanted = sorted({401, 503, *statuses})
    return {code: OpenApiResponse(_ERRORS[code][0], description=_ERRORS[code][1]) for code in wanted}


RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, response=[429], required=True, description="Seconds to wait."
)


def paginated(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The `{count, next, previous, results}` page of PageNumberPagination, for the schema."""
    fields = {
        "count": serializers.IntegerField(min_value=0),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
    }
    # many=False: a viewset's `list` action would otherwise be documented as an array of pages.
    return extend_schema_serializer(many=False)(type(name, (serializers.Serializer,), fields))


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, required=False, description="1-based page number (404 past the last page)."),
    OpenApiParameter("pageSize", int, required=False, description="Items per page, at most 100."),
]
