"""Turns store outages outside DRF views (admin, pages) into a 503 JSON body."""

from __future__ import annotations

from django.http import JsonResponse

from conversation.errors import STORE_ERRORS, unavailable_body


class StoreUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, STORE_ERRORS):
            return JsonResponse(unavailable_body(exception), status=503)
        return None
