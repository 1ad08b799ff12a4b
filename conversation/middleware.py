"""Django middleware of the kernel: the request id, store outages answered 503 in one shape, the
browser pages' middleware kept off the JSON API, and the site's Content-Security-Policy built once.
"""

from __future__ import annotations

import functools

import csp.middleware
from csp.constants import HEADER as CSP_HEADER
from csp.middleware import CheckableLazyObject
from csp.utils import build_policy
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.core.signals import request_finished, setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware.common import CommonMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware

from conversation import breaker
from conversation.errors import STORE_ERRORS, answers_json, not_found, store_name, unavailable_response
from conversation.request_id import HEADER, request_id_from, set_request_id

# Where an open breaker answers before any view runs; health and metrics always probe for real.
SHORT_CIRCUIT_PREFIX = "/api/v1/"
# Paths no browser page lives under: bearer-token JSON and the probes. Static files and flash messages
# serve the admin, the API docs and the practice page only.
API_PATH_PREFIXES = ("/api/v1/", "/health/", "/metrics")


def is_api_path(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PATH_PREFIXES)


class PagesOnly:
    """Mixin: the middleware it is mixed into runs for pages and is skipped on API paths.

    A subclass rather than a wrapper, so Django's and the admin's checks still find the class they ask for.
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request):
            return self.get_response(request)
        return super().__call__(request)


class SlashOnPagesMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, appending no slash on API paths: `POST /api/v1/sessions/<id>/end` would be
    redirected with a 301 and an HTML body (the POST's body lost), and under DEBUG fail with a 500. Like any
    route the API does not have, it is a JSON 404 `not_found`. Pages (the admin) keep the redirect.

    Under DEBUG, Django answers a path no route matches with its HTML technical 404 page, never calling
    handler404: on the API that page is swapped for handler404's JSON one, so the dev server answers as
    production does. A view's own 404 (a route matched) is left as it is.
    """

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        return not is_api_path(request) and super().should_redirect_with_slash(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            response.status_code == 404
            and settings.DEBUG
            and request.resolver_match is None  # no route matched: Django's own 404, not a view's
            and answers_json(request)  # where handler404 answers JSON
        ):
            response = not_found(request)
        return super().process_response(request, response)


class PageStaticFilesMiddleware(PagesOnly, WhiteNoiseMiddleware):
    """WhiteNoise: /static/ for the admin, Swagger UI and the practice page."""


class PageMessageMiddleware(PagesOnly, MessageMiddleware):
    """The admin's flash messages."""


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


class CSPMiddleware(csp.middleware.CSPMiddleware):
    """django-csp's, with the site policy built once instead of per response (a tenth of /health/live's CPU).

    Responses that carry their own policy (a `csp_update`/`csp_exempt` view, a template that used the nonce),
    DEBUG error pages and settings that make the header vary go through django-csp unchanged.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        policy = _site_policy()
        if (
            policy is None
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_RESPONSE_POLICY)
            or (settings.DEBUG and response.status_code in (404, 500))
        ):
            return super().process_response(request, response)
        response.headers.setdefault(CSP_HEADER, policy)
        # As django-csp does: a nonce asked for after the header is written is an error, not a silent gap.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


# What django-csp's decorators set on a response; none of them: the site policy applies.
_PER_RESPONSE_POLICY = tuple(
    f"_csp_{name}{suffix}" for name in ("config", "update", "replace", "exempt") for suffix in ("", "_ro")
)


@functools.cache
def _site_policy() -> str | None:
    """The header of every plain response; None when the settings make it vary by path or add a report-only one."""
    if getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None):
        return None
    if (getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}).get("EXCLUDE_URL_PREFIXES"):
        return None
    return build_policy()


@receiver(setting_changed)
def _forget_site_policy(*, setting: str, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _site_policy.cache_clear()
