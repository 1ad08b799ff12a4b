"""Django middleware of the kernel: the request id, and store outages answered 503 in one shape."""

from __future__ import annotations

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from conversation import breaker
from conversation.errors import STORE_ERRORS, store_name, unavailable_response
from conversation.request_id import HEADER, request_id_from, set_request_id

# Where an open breaker answers before any view runs; health and metrics always probe for real.
SHORT_CIRCUIT_PREFIX = "/api/v1/"


class RequestIdMiddleware:
    """Reuses the id the ASGI layer chose (config/asgi.py); under WSGI or the test client, picks one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scope = getattr(request, "scope", None) or {}
        rid = scope.get("request_id") or request_id_from(request.headers.get(HEADER))
        request.request_id = rid
        # Reset at request_finished, not on the way out: Django logs a 4xx/5xx after the middleware
        # chain returns, and that line belongs to this request too.
        set_request_id(rid)
        response = self.get_response(request)
        response.headers.setdefault(HEADER, rid)
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs) -> None:
    # Under WSGI or the test client one thread serves request after request: no id may outlive its own.
    set_request_id(None)


class StoreUnavailableMiddleware:
    """503 `service_unavailable` with Retry-After: at once while a breaker is open, else on a store error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        down = breaker.open_store()
        if down and request.path.startswith(SHORT_CIRCUIT_PREFIX):
            return unavailable_response(down, breaker.RETRY_AFTER_SECONDS)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, STORE_ERRORS):
            store = store_name(exception)
            return unavailable_response(store, breaker.store_failed(store))
        return None
