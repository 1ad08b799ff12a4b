"""The seed's enumerations: CEFR levels, topic categories, durations, statuses."""

from __future__ import annotations

from django.conf import settings

LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
CATEGORIES = ("daily_life", "work", "travel", "culture", "hobbies", "news")
DURATIONS = (5, 10, 15, 20)
DURATION_CHOICES = tuple((minutes, minutes) for minutes in DURATIONS)  # drf-spectacular's ENUM_NAME_OVERRIDES form


def language_codes() -> tuple[str, ...]:
    return tuple(settings.SUPPORTED_LANGUAGE_CODES)


def adjacent_levels(level: str) -> list[str]:
    """Levels one CEFR step away (rule relaxation never goes further)."""
    index = LEVELS.index(level)
    return [LEVELS[i] for i in (index - 1, index + 1) if 0 <= i < len(LEVELS)]
