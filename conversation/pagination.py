"""Page-number pagination for MongoEngine querysets: counts in MongoDB, reads one page.

Django's Paginator calls `len()` on an object list whose `count` takes arguments (as
MongoEngine's does), which would load every matching document to serve one page.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination


class DocumentPaginator(Paginator):
    """Counts with one count command and reads one page as a list (for the API and the admin alike)."""

    @cached_property
    def count(self) -> int:
        return self.object_list.count()

    def _get_page(self, object_list, *args, **kwargs):
        return super()._get_page(list(object_list), *args, **kwargs)


class DocumentPagination(PageNumberPagination):
    django_paginator_class = DocumentPaginator
    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100
