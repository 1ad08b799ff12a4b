"""The seed's Topic document."""

from __future__ import annotations

import mongoengine as me

from conversation.documents import TimestampedDocument
from conversation.text import fold
from conversation.vocab import CATEGORIES, DURATIONS, LEVELS


class Topic(TimestampedDocument):
    target_language_code = me.StringField(db_field="targetLanguageCode", required=True, max_length=8)
    level = me.StringField(required=True, choices=LEVELS)
    title = me.StringField(required=True, min_length=1, max_length=200)
    description = me.StringField(max_length=2000, null=True)
    prompt_questions = me.ListField(me.StringField(max_length=300), db_field="promptQuestions", max_length=20)
    category = me.StringField(required=True, choices=CATEGORIES)
    estimated_duration_minutes = me.IntField(db_field="estimatedDurationMinutes", required=True, choices=DURATIONS)
    is_active = me.BooleanField(db_field="isActive", required=True, default=True)
    # Beyond the seed: the starter catalog's key, so reloading it never duplicates a topic.
    # Not null=True: a staff topic must leave it out, as the sparse unique index skips only missing fields.
    catalog_key = me.StringField(db_field="catalogKey")
    # Beyond the seed, kept by save(): the title folded (case and accents ignored) to find duplicates, and
    # title + description folded for accent-insensitive search (a regex on them needs no collation).
    title_key = me.StringField(db_field="titleKey")
    search_text = me.StringField(db_field="searchText")

    meta = {
        "collection": "topic",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["target_language_code", "level", "is_active"]},
            {"fields": ["category", "target_language_code"]},
            {"fields": ["catalog_key"], "unique": True, "sparse": True},
            {"fields": ["target_language_code", "level", "category", "title_key"]},
        ],
    }

    def save(self, *args, **kwargs):
        self.refresh_keys()
        return super().save(*args, **kwargs)

    def refresh_keys(self) -> None:
        self.title_key = fold(self.title)
        self.search_text = fold(f"{self.title or ''} {self.description or ''}")

    def __str__(self) -> str:
        return f"{self.title} ({self.target_language_code} {self.level})"
