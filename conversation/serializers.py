"""Serializer helpers shared by the apps."""

from __future__ import annotations

import copy
import datetime as dt
import re

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers

from conversation.errors import CONFLICT_CODES, ERROR_CODES, NON_FIELD_ERRORS


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields with a 400 naming them, so nothing unexpected is ever stored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)


class PlainFieldsSerializer(serializers.Serializer):
    """For a body of plain fields on a hot path: each instance gets shallow copies of the declared fields.

    DRF deep-copies them per instance, which builds every field anew (its validators, its choices): half the
    CPU of validating the pairing POST's body. A plain field keeps no state of its own once declared but what
    `bind` sets, on the copy; a field that holds fields (a nested serializer, a list's child) would share them
    between requests, so a subclass declaring one is refused when it is defined.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, declared in cls._declared_fields.items():
            if isinstance(declared, serializers.BaseSerializer) or hasattr(declared, "child"):
                raise TypeError(f"{cls.__name__}.{name} holds other fields: declare it on a plain Serializer")

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: copy.copy(declared) for name, declared in self._declared_fields.items()}


# The one form of a date and time a client may send. Django's parse_datetime (DRF's DateTimeField) takes far
# more: a date alone, a time without an offset (then read as UTC, silently), week dates, fullwidth or other
# scripts' digits (its fallback regex uses \d), a NUL before the `Z` (Python 3.11's fromisoformat skips it).
# Hence [0-9], not \d, and fullmatch, not `$`, which lets a trailing newline through.
_ISO_DATETIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?:(?P<utc>Z)|(?P<sign>[+-])(?P<offset_hours>[0-9]{2}):(?P<offset_minutes>[0-9]{2}))"
)


def _parse_iso_datetime(value: str) -> dt.datetime | None:
    """The aware datetime `value` writes, None if it is not the API's form; ValueError if no such time exists."""
    match = _ISO_DATETIME.fullmatch(value)
    if match is None:
        return None
    parts = match.groupdict()
    tz = dt.UTC
    if not parts["utc"]:
        hours, minutes = int(parts["offset_hours"]), int(parts["offset_minutes"])
        if minutes > 59:
            raise ValueError("offset minutes out of range")
        sign = -1 if parts["sign"] == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))  # ValueError past 23:59
    fraction = (parts["fraction"] or "")[:6].ljust(6, "0")  # beyond microseconds: cut, as Python and Django do
    return dt.datetime(
        *(int(parts[name]) for name in ("year", "month", "day", "hour", "minute")),
        int(parts["second"] or 0),
        int(fraction),
        tzinfo=tz,
    )


class UTCDateTimeField(serializers.DateTimeField):
    """ISO 8601 UTC with a trailing Z, as the API promises; as input, ISO 8601 with an offset and nothing else.

    Accepted: `YYYY-MM-DDTHH:MM[:SS[.f…]]` then `Z` or `±HH:MM`, ASCII only, `T` and `Z` upper case; read as
    the UTC instant it names. A date alone, a time without an offset, a space for the `T` or any other
    spelling is a 400 naming the field, never a guess.
    """

    default_error_messages = {
        "invalid": _("Use an ISO 8601 date and time with a UTC offset, such as 2026-12-24T18:00:00Z."),
        "impossible": _("This date and time does not exist."),
    }

    def to_internal_value(self, value) -> dt.datetime:
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            parsed = _parse_iso_datetime(value)
            if parsed is None:
                self.fail("invalid")
            return parsed.astimezone(dt.UTC)
        except (ValueError, OverflowError):  # 2026-02-30, 24:00, +24:00; a UTC instant past year 9999 or before 1
            self.fail("impossible")

    def to_representation(self, value):
        from conversation.clock import isoformat

        return isoformat(value)


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """Every error but a 400: `{detail, code}`."""

    detail = serializers.CharField(help_text="Human text in the caller's language (Accept-Language).")
    code = serializers.CharField(help_text="Stable English code to branch on: " + ", ".join(ERROR_CODES) + ".")


@extend_schema_serializer(component_name="ValidationError")
class ValidationErrorSerializer(serializers.Serializer):
    """400: `{detail, code: "invalid", fields?}`; `fields` maps each bad field to its messages."""

    detail = serializers.CharField(help_text="The first problem, in words.")
    code = serializers.ChoiceField(choices=("invalid",))
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=f"Field name (nested: `items.0`; the `Idempotency-Key` header by its name; errors of no one field:"
        f" `{NON_FIELD_ERRORS}`) to messages.",
    )


_ERRORS: dict[int, tuple[type[serializers.Serializer], str]] = {
    400: (ValidationErrorSerializer, "Bad input: `fields` names each bad field; a malformed body has none."),
    401: (ErrorSerializer, "`not_authenticated`: no, malformed, expired or foreign token."),
    403: (
        ErrorSerializer,
        "`permission_denied`: authenticated but not allowed (staff only); `suspended`: staff suspended the caller,"
        " so every authenticated call is refused until the suspension ends.",
    ),
    404: (ErrorSerializer, "`not_found`: unknown or malformed id, or not yours."),
    405: (ErrorSerializer, "`method_not_allowed`."),
    409: (ErrorSerializer, "The resource is not in the state the action needs: " + ", ".join(CONFLICT_CODES) + "."),
    413: (ErrorSerializer, "`payload_too_large`: body larger than MAX_REQUEST_BODY_BYTES."),
    415: (ErrorSerializer, "`unsupported_media_type`: the body is not application/json."),
    422: (ErrorSerializer, "`idempotency_key_reused`: the same Idempotency-Key with a different body."),
    429: (ErrorSerializer, "`rate_limited`; Retry-After says when to try again."),
    503: (ErrorSerializer, "`service_unavailable`: MongoDB or Redis is unreachable; Retry-After, `detail` names it."),
}
BODY_ERRORS = (400, 413, 415)


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for `statuses`, plus the 401, 403 (`suspended`) and 503 any endpoint can answer."""
    wanted = sorted({401, 403, 503, *statuses})
    return {code: OpenApiResponse(_ERRORS[code][0], description=_ERRORS[code][1]) for code in wanted}


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
