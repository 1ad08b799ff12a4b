"""List filters of the change list sidebar: one value of a field, or a date range.

Query parameters are the documents' attribute names (`?level=B1&is_active=1`,
`?created_at__gte=2026-01-01&created_at__lte=2026-01-31`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import mongoengine as me
from django.http import QueryDict
from django.utils.translation import gettext as _
from mongoengine.queryset import QuerySet

DISTINCT_LIMIT = 100


class ListFilter:
    title: str | None = None
    template = "admin/filter.html"

    def bind(self, document: type[me.Document], label: Callable[[str], str]) -> ListFilter:
        return self

    def params(self) -> tuple[str, ...]:
        return ()

    def apply(self, queryset: QuerySet, params: QueryDict) -> QuerySet:
        return queryset

    def context(self, changelist) -> dict[str, Any]:
        return {"title": self.title}


class ChoicesFilter(ListFilter):
    """`?field=value`; choices from the field's choices, yes/no for booleans, else its distinct values."""

    def __init__(
        self,
        field: str,
        *,
        title: str | None = None,
        choices: Iterable | Callable[[], Iterable] | None = None,
    ) -> None:
        # Kept as given: truth-testing a lazy title here would translate it at import, in English.
        self.field, self.title, self._choices = field, title, choices
        self.document: type[me.Document] | None = None

    def bind(self, document: type[me.Document], label: Callable[[str], str]) -> ChoicesFilter:
        bound = ChoicesFilter(self.field, title=self.title or label(self.field), choices=self._choices)
        bound.document = document
        return bound

    @property
    def _document_field(self) -> me.fields.BaseField:
        return self.document._fields[self.field]

    def params(self) -> tuple[str, ...]:
        return (self.field,)

    def _is_boolean(self) -> bool:
        return isinstance(self._document_field, me.BooleanField)

    def choices_values(self) -> list[tuple[str, str]]:
        if self._is_boolean():
            return [("1", _("Yes")), ("0", _("No"))]
        source = self._choices
        if callable(source):
            source = source()
        if source is None:
            source = self._document_field.choices
        if source is None:
            source = sorted(
                str(v) for v in self.document.objects.distinct(self.field)[:DISTINCT_LIMIT] if v is not None
            )
        pairs = []
        for choice in source:
            value, display = choice if isinstance(choice, list | tuple) else (choice, choice)
            pairs.append((str(value), str(display)))
        return pairs

    def apply(self, queryset: QuerySet, params: QueryDict) -> QuerySet:
        raw = params.get(self.field)
        if raw in (None, ""):
            return queryset
        if self._is_boolean():
            if raw not in ("1", "0"):
                return queryset
            return queryset.filter(**{self.field: raw == "1"})
        field = self._document_field
        value = field.to_python(raw)
        try:
            # A value the field cannot hold (`?partner_rating=x` on an IntField) matches nothing, not a 500.
            field.prepare_query_value(None, value)
        except (ValueError, TypeError, me.ValidationError):
            return queryset.none()
        return queryset.filter(**{self.field: value})

    def context(self, changelist) -> dict[str, Any]:
        current = changelist.params.get(self.field)
        choices = [
            {
                "display": _("All"),
                "selected": current in (None, ""),
                "query_string": changelist.query_string(remove=[self.field]),
            }
        ]
        for value, display in self.choices_values():
            choices.append(
                {
                    "display": display,
                    "selected": current == value,
                    "query_string": changelist.query_string({self.field: value}),
                }
            )
        return {"title": self.title, "choices": choices}


def _day(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


class DateRangeFilter(ListFilter):
    """`?field__gte=YYYY-MM-DD&field__lte=YYYY-MM-DD`, both days included (UTC)."""

    template = "mongoadmin/includes/date_range_filter.html"

    def __init__(self, field: str, *, title: str | None = None) -> None:
        self.field, self.title = field, title

    def bind(self, document: type[me.Document], label: Callable[[str], str]) -> DateRangeFilter:
        return DateRangeFilter(self.field, title=self.title or label(self.field))

    def params(self) -> tuple[str, ...]:
        return (f"{self.field}__gte", f"{self.field}__lte")

    def apply(self, queryset: QuerySet, params: QueryDict) -> QuerySet:
        start, end = (_day(params.get(name)) for name in self.params())
        if start:
            queryset = queryset.filter(**{f"{self.field}__gte": dt.datetime.combine(start, dt.time.min, dt.UTC)})
        if end:
            next_day = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, dt.UTC)
            queryset = queryset.filter(**{f"{self.field}__lt": next_day})
        return queryset

    def context(self, changelist) -> dict[str, Any]:
        gte, lte = self.params()
        return {
            "title": self.title,
            "gte_name": gte,
            "lte_name": lte,
            "gte": changelist.params.get(gte, ""),
            "lte": changelist.params.get(lte, ""),
            "hidden": [(k, v) for k, v in changelist.params.items() if k not in (gte, lte, "p")],
            "clear_query_string": changelist.query_string(remove=[gte, lte]),
            "active": bool(changelist.params.get(gte) or changelist.params.get(lte)),
        }
