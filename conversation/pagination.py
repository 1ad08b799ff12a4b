"""Page-number pagination for MongoEngine querysets: counts in MongoDB, reads one page.

Django's Paginator calls `len()` on an object list whose `count` takes arguments (as
MongoEngine's does), which would load every matching document to serve one page.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

MAX_PAGE_SIZE = 100


class DocumentPaginator(Paginator):
    """Counts with one count command and reads one page as a list (for the API and the admin alike)."""

    @cached_property
    def count(self) -> int:
        return self.object_list.count()

    def _get_page(self, object_list, *args, **kwargs):
        return super()._get_page(list(object_list), *args, **kwargs)


def _is_count(raw: str, maximum: int) -> bool:
    return raw.isascii() and raw.isdigit() and 1 <= int(raw) <= maximum


class DocumentPagination(PageNumberPagination):
    """`page` (from 1) and `pageSize` (1-100): anything else is a 400 naming the parameter, not a silent default."""

    django_paginator_class = DocumentPaginator
    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        page, size = (request.query_params.get(name) for name in (self.page_query_param, self.page_size_query_param))
        problems = {}
        if page is not None and not _is_count(page, 10**9):
            problems[self.page_query_param] = [_("A whole number from 1.")]
        if size is not None and not _is_count(size, self.max_page_size):
            problems[self.page_size_query_param] = [_("A whole number from 1 to %(max)d.") % {"max": MAX_PAGE_SIZE}]
        if problems:
            raise ValidationError(problems)
        return super().paginate_queryset(queryset, request, view)


PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="1-based page (404 past the last page)."),
    OpenApiParameter("pageSize", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, description="Per page."),
]
