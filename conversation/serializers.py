"""Serializer helpers shared by the apps."""

from __future__ import annotations

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields with a 400 naming them, so nothing unexpected is ever stored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class UTCDateTimeField(serializers.DateTimeField):
    """ISO 8601 UTC with a trailing Z, as the API promises."""

    def to_representation(self, value):
        from conversation.clock import isoformat

        return isoformat(value)
