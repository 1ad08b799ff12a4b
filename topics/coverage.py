"""Catalog coverage: active topics per language x level x category for the supported languages, one
aggregation; which cells are empty; the staff page that shows it (listed under Topics in the admin)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from conversation.vocab import CATEGORIES, LEVELS, language_codes
from topics.documents import Topic


def languages_with_topics() -> list[str]:
    """Language filter choices: the languages that have topics, not every supported one."""
    return sorted(code for code in Topic.objects.distinct("target_language_code") if code)


def _active_counts() -> dict[tuple[str, str, str], int]:
    rows = Topic._get_collection().aggregate([
        {"$match": {"isActive": True}},
        {"$group": {"_id": {"l": "$targetLanguageCode", "v": "$level", "c": "$category"}, "n": {"$sum": 1}}},
    ])  # fmt: skip
    return {(row["_id"]["l"], row["_id"]["v"], row["_id"]["c"]): row["n"] for row in rows}


def empty_cells(cells: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Of these (language, level) cells, those with no active topic now."""
    return {(language, level) for language, level in cells if not Topic.objects(
        target_language_code=language, level=level, is_active=True
    ).count()}  # fmt: skip


@dataclass
class LanguageCoverage:
    language: str
    rows: list[tuple[str, list[tuple[int, str]], int]]  # level, [(count, list url) per category], level total
    total: int
    empty_cells: int


def coverage(*, changelist_url: str) -> list[LanguageCoverage]:
    counts = _active_counts()
    result = []
    for language in language_codes():
        rows = []
        for level in LEVELS:
            cells = []
            for category in CATEGORIES:
                query = {"target_language_code": language, "level": level, "category": category, "is_active": "1"}
                cells.append((counts.get((language, level, category), 0), f"{changelist_url}?{urlencode(query)}"))
            rows.append((level, cells, sum(n for n, _url in cells)))
        result.append(LanguageCoverage(
            language=language, rows=rows, total=sum(total for _level, _cells, total in rows),
            empty_cells=sum(1 for _level, cells, _total in rows for n, _url in cells if n == 0),
        ))  # fmt: skip
    return result


def coverage_view(request: HttpRequest):
    languages = coverage(changelist_url=reverse("admin:topics_topic_changelist"))
    context = {
        **admin.site.each_context(request),
        "title": _("Catalog coverage"),
        "languages": languages,
        "categories": CATEGORIES,
        "empty_languages": [entry.language for entry in languages if entry.total == 0],
        "topics_url": reverse("admin:topics_topic_changelist"),
    }
    return TemplateResponse(request, "topics/coverage.html", context)
