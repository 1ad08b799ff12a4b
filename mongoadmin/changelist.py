"""The change list's query: filters, search, sorting and pagination read from the query string."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import mongoengine as me
from django.core.paginator import InvalidPage
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal
from mongoengine import Q
from mongoengine.queryset import QuerySet

from conversation.lookups import parse_object_id
from conversation.pagination import DocumentPaginator
from conversation.text import fold

if TYPE_CHECKING:
    from mongoadmin.options import DocumentAdmin

SEARCH_VAR, ORDER_VAR, PAGE_VAR = "q", "o", "p"
UNSORTABLE = (me.ListField, me.DictField, me.EmbeddedDocumentField)
# MongoDB refuses a NUL in a regex (a 500 before); no title or id holds any control character anyway.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
MAX_QUERY_LENGTH = 200


def prefix_range(field: str, prefix: str) -> Q:
    """`field` starts with `prefix`, as an index range: no regex to escape, and SecantusDB answers it too."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": upper})


def _search_term(spec: str, word: str) -> Q | None:
    """ "=name" exact, "^name" starts with (ids: `alice` finds `alice.martin`), "~name" contains on a field
    the document keeps folded (conversation.text.fold: case and accents ignored), "name" contains (any case)."""
    name = spec.lstrip("=^~")
    if name == "id":
        oid = parse_object_id(word)
        return Q(id=oid) if oid else None
    if spec.startswith("="):
        return Q(**{name: word})
    if spec.startswith("^"):
        return prefix_range(name, word)
    if spec.startswith("~"):
        return Q(**{f"{name}__contains": fold(word)})
    return Q(**{f"{name}__icontains": word})


class ChangeList:
    def __init__(self, request: HttpRequest, doc_admin: DocumentAdmin) -> None:
        self.admin = doc_admin
        self.params = request.GET
        self.filters = doc_admin.get_list_filters()
        self.search_fields = doc_admin.search_fields
        self.query = CONTROL_CHARACTERS.sub(" ", self.params.get(SEARCH_VAR, ""))[:MAX_QUERY_LENGTH].strip()
        self.ordering = self._ordering()
        self.queryset = self._queryset(request)

    # Query string helpers (links keep the other parameters; a new filter starts at page 1).
    def query_string(self, new: dict[str, Any] | None = None, remove: list[str] | tuple[str, ...] = ()) -> str:
        params = self.params.copy()
        for name in (*remove, PAGE_VAR):
            params.pop(name, None)
        for name, value in (new or {}).items():
            params[name] = value
        return f"?{params.urlencode()}" if params else "?"

    @property
    def has_active_filters(self) -> bool:
        return any(self.params.get(name) for spec in self.filters for name in spec.params())

    @property
    def clear_filters_query_string(self) -> str:
        return self.query_string(remove=[name for spec in self.filters for name in spec.params()])

    # The query.
    def sortable_fields(self) -> set[str]:
        fields = self.admin.document._fields
        return {name for name in self.admin.list_display if name in fields and not isinstance(fields[name], UNSORTABLE)}

    def _ordering(self) -> list[str]:
        requested = self.params.get(ORDER_VAR, "")
        if requested.lstrip("-") in self.sortable_fields():
            return [requested]
        return list(self.admin.ordering)

    def _search(self, queryset: QuerySet) -> QuerySet:
        for word in smart_split(self.query):
            if word[0] in "\"'" and word[0] == word[-1]:
                word = unescape_string_literal(word)
            condition = None
            for spec in self.search_fields:
                term = _search_term(spec, word)
                if term is not None:
                    condition = term if condition is None else condition | term
            queryset = queryset.filter(condition) if condition is not None else queryset.none()
        return queryset

    def _queryset(self, request: HttpRequest) -> QuerySet:
        queryset = self.admin.get_queryset(request)
        for spec in self.filters:
            queryset = spec.apply(queryset, self.params)
        if self.query and self.search_fields:
            queryset = self._search(queryset)
        tiebreak = [] if any(key.lstrip("-") == "id" for key in self.ordering) else ["id"]
        return queryset.order_by(*self.ordering, *tiebreak)

    # The page.
    def page(self):
        paginator = DocumentPaginator(self.queryset, self.admin.list_per_page)
        try:
            number = int(self.params.get(PAGE_VAR, 1))
            return paginator.page(number)
        except (ValueError, InvalidPage):
            return paginator.page(1)

    def page_links(self, page) -> list[dict[str, Any]]:
        links = []
        for number in page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1):
            if number == page.paginator.ELLIPSIS:
                links.append({"ellipsis": number})
            else:
                links.append(
                    {"number": number, "current": number == page.number, "url": self.query_string({PAGE_VAR: number})}
                )
        return links

    def headers(self) -> list[dict[str, Any]]:
        sortable = self.sortable_fields()
        current = self.ordering[0] if self.ordering else ""
        headers = []
        for name in self.admin.list_display:
            sorted_here = current.lstrip("-") == name
            descending = sorted_here and current.startswith("-")
            classes = [f"column-{name}"]
            if name in sortable:
                classes.insert(0, "sortable")
            if sorted_here and name in sortable:
                classes += ["sorted", "descending" if descending else "ascending"]
            headers.append(
                {
                    "text": self.admin.label(name),
                    "sortable": name in sortable,
                    "sorted": sorted_here and name in sortable,
                    "ascending": not descending,
                    "class_attrib": format_html(' class="{}"', " ".join(classes)),
                    "url_primary": self.query_string(
                        {ORDER_VAR: name if descending or not sorted_here else f"-{name}"}
                    ),
                    "url_toggle": self.query_string({ORDER_VAR: name if descending else f"-{name}"}),
                    "url_remove": self.query_string(remove=[ORDER_VAR]),
                }
            )
        return headers

    def rows(self, documents: list[me.Document]) -> list[dict[str, Any]]:
        documents = list(documents)
        self.admin.prefetch(documents)
        rows = []
        for document in documents:
            cells = []
            for index, name in enumerate(self.admin.list_display):
                value = self.admin.display(document, name, context="list")
                if index == 0:
                    value = format_html('<a href="{}">{}</a>', self.admin.url("change", document.pk), value)
                cells.append(format_html('<{0} class="field-{1}">{2}</{0}>', "th" if index == 0 else "td", name, value))
            rows.append({"pk": str(document.pk), "cells": cells})
        return rows
