"""The starter catalog of topics (topics.json), loaded by `manage.py load_topics`."""

from __future__ import annotations

import json
from pathlib import Path

from topics.documents import Topic

CATALOG = Path(__file__).with_name("topics.json")


def catalog_key(entry: dict) -> str:
    return f"{entry['targetLanguageCode']}:{entry['level']}:{entry['category']}:{entry['title']}"


def catalog_entries(path: Path = CATALOG) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def catalog_load(*, force: bool = False, path: Path = CATALOG) -> dict[str, int]:
    """Creates missing catalog topics; keeps staff edits unless `force` (idempotent)."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for entry in catalog_entries(path):
        key = catalog_key(entry)
        fields = {
            "target_language_code": entry["targetLanguageCode"],
            "level": entry["level"],
            "category": entry["category"],
            "title": entry["title"],
            "description": entry.get("description"),
            "prompt_questions": entry.get("promptQuestions", []),
            "estimated_duration_minutes": entry["estimatedDurationMinutes"],
        }
        topic = Topic.objects(catalog_key=key).first()
        if topic is None:
            Topic(catalog_key=key, is_active=True, **fields).save()
            counts["created"] += 1
        elif force and any(getattr(topic, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(topic, name, value)
            topic.save()
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return counts
