"""Topic JSON: the seed's camelCase fields, validated strictly."""

from __future__ import annotations

from rest_framework import serializers

from conversation.serializers import StrictSerializer, UTCDateTimeField
from conversation.vocab import CATEGORIES, DURATIONS, LEVELS, language_codes
from topics.services import topic_problems


class TopicSerializer(StrictSerializer):
    id = serializers.CharField(read_only=True)
    targetLanguageCode = serializers.ChoiceField(choices=(), source="target_language_code")
    level = serializers.ChoiceField(choices=LEVELS)
    title = serializers.CharField(min_length=1, max_length=200)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, allow_null=True)
    promptQuestions = serializers.ListField(
        child=serializers.CharField(min_length=1, max_length=300),
        max_length=20,
        required=False,
        source="prompt_questions",
    )
    category = serializers.ChoiceField(choices=CATEGORIES)
    estimatedDurationMinutes = serializers.ChoiceField(choices=DURATIONS, source="estimated_duration_minutes")
    isActive = serializers.BooleanField(required=False, default=True, source="is_active")
    createdAt = UTCDateTimeField(read_only=True, source="created_at")
    updatedAt = UTCDateTimeField(read_only=True, source="updated_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["targetLanguageCode"].choices = language_codes()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["id"] = str(instance.id)
        data["promptQuestions"] = list(instance.prompt_questions or [])
        return data


_json_memo: dict[tuple[str, object], dict] = {}


def topic_json(topic) -> dict:
    """TopicSerializer's output, kept per (id, updatedAt): every match event and topic read renders one,
    and building the serializer (a deep copy of its fields) costs more than the rest of the response.
    Do not mutate it."""
    key = (str(topic.id), topic.updated_at)
    found = _json_memo.get(key)
    if found is None:
        if len(_json_memo) >= 4096:
            _json_memo.clear()
        found = _json_memo[key] = TopicSerializer(topic).data
    return found


class TopicWriteSerializer(TopicSerializer):
    """What staff send: the topic's fields, then the catalog's rules on the merged result."""

    def validate(self, attrs):
        # The merged topic (a PATCH changes some fields) is checked against the catalog's rules.
        current = {name: getattr(self.instance, name) for name in self.instance._fields} if self.instance else {}
        problems = topic_problems(values={**current, **attrs}, topic_id=getattr(self.instance, "id", None))
        if problems:
            names = {field.source: name for name, field in self.fields.items()}
            raise serializers.ValidationError({names.get(key, key): value for key, value in problems.items()})
        return attrs


class RandomQuerySerializer(serializers.Serializer):
    targetLanguageCode = serializers.ChoiceField(choices=())
    level = serializers.ChoiceField(choices=LEVELS)
    category = serializers.ChoiceField(choices=CATEGORIES, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["targetLanguageCode"].choices = language_codes()


class TopicListQuerySerializer(serializers.Serializer):
    """List filters, typed like the fields they filter (an unknown level is a 400 naming it); `search`
    is bounded and free of NUL bytes, which MongoDB refuses in the regex it becomes."""

    targetLanguageCode = serializers.ChoiceField(choices=(), required=False, allow_blank=True)
    level = serializers.ChoiceField(choices=LEVELS, required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=CATEGORIES, required=False, allow_blank=True)
    search = serializers.CharField(required=False, allow_blank=True, max_length=200)
    isActive = serializers.BooleanField(required=False, allow_null=True, default=None, help_text="Staff only.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["targetLanguageCode"].choices = language_codes()
