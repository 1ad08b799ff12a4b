"""One error body for every 4xx and 5xx: `{detail, code, fields?}` (shared/API.md, Errors).

`error_body` is the only place that builds it: the DRF exception handler, Django's
404/400/500 handlers, middleware and socket `error` events all go through it.
`detail` is translatable text; `code` is a stable English word clients branch on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.defaults import bad_request, page_not_found, server_error
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

# Every `code` a 409 can carry (ARCHITECTURE.md, Errors).
CONFLICT_CODES = (
    "request_pending", "in_session", "not_pending", "not_active", "not_waiting", "consent_missing",
    "not_joinable", "not_ended", "feedback_exists", "session_ended", "idempotency_in_progress",
    "recording_exists", "upload_window_closed",
    "not_open", "already_suspended", "already_lifted", "suspension_in_progress",
    "too_many_invitations", "not_invited", "invitation_in_progress", "already_reported",
    "partner_in_session", "not_reportable",
)  # fmt: skip

# The code of each status when the exception names none of its own (shared/API.md, Errors).
STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "idempotency_key_reused",
    429: "rate_limited",
    500: "server_error",
    503: "service_unavailable",
}
# Every code a non-400 error body can carry: the schema's `Error.code` enum. `suspended` is the 403 of
# a caller staff suspended (conversation.auth.Suspended), on any authenticated call.
ERROR_CODES = tuple(
    dict.fromkeys([*(c for s, c in STATUS_CODES.items() if s not in (400, 409)), "suspended", *CONFLICT_CODES])
)
# Errors that belong to no single field (a serializer's `validate()`, a malformed body).
NON_FIELD_ERRORS = "non_field_errors"

S3_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)
STORE_ERRORS = (ConnectionFailure, ServerSelectionTimeoutError, RedisConnectionError, RedisTimeoutError, *S3_ERRORS)


def error_body(code: str, detail: Any, fields: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """The one error shape. `detail` may be lazy text: it is rendered in the active language here."""
    body: dict[str, Any] = {"detail": str(detail), "code": code}
    if fields:
        body["fields"] = {name: [str(message) for message in messages] for name, messages in fields.items()}
    return body


def error_response(
    status_code: int, code: str, detail: Any, *, fields=None, headers: Mapping[str, str] | None = None
) -> JsonResponse:
    """`error_body` as a plain Django response, for code that runs outside DRF views."""
    return JsonResponse(error_body(code, detail, fields), status=status_code, headers=headers)


class Conflict(exceptions.APIException):
    """A state conflict: the resource is not in the state the action needs."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("Conflict.")
    default_code = "conflict"

    def __init__(self, detail: Any, code: str) -> None:
        super().__init__(detail=detail, code=code)
        self.code = code


class NotFound(exceptions.NotFound):
    """404 with an optional detail saying what was not found."""


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _("This Idempotency-Key was already used with a different body.")
    default_code = "idempotency_key_reused"


class RateLimited(exceptions.Throttled):
    """429 that also carries the RateLimit-* headers of the window that refused it."""

    def __init__(self, *, wait: int, headers: Mapping[str, str]) -> None:
        super().__init__(wait=wait)
        self.headers = dict(headers)


def store_name(exc: BaseException) -> str:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "redis"
    return "s3" if isinstance(exc, S3_ERRORS) else "mongodb"


def unavailable_detail(store: str) -> str:
    return str(_("%(store)s is unavailable, retry shortly.") % {"store": store})


def unavailable_response(store: str, retry_after: int) -> JsonResponse:
    return error_response(
        503, "service_unavailable", unavailable_detail(store), headers={"Retry-After": str(retry_after)}
    )


def flatten_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors (`{"items": {0: [...]}}`) as flat dotted paths (`items.0`): one level for clients."""
    if isinstance(detail, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = str(key) if not prefix else f"{prefix}.{key}"
            flat.update(flatten_fields(value, name))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(item, Mapping | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_fields(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or NON_FIELD_ERRORS: [str(message) for message in messages]}


def _code_of(exc: exceptions.APIException, status_code: int) -> str:
    # Our exceptions name their stable code (Conflict's, Suspended's), and so does one raised with an
    # explicit code; DRF's defaults (`authentication_failed`, `throttled`, `parse_error`) become the
    # contract's code for the status.
    own = getattr(exc, "code", None)
    if isinstance(own, str):
        return own
    codes = exc.get_codes()
    if isinstance(codes, str) and codes != exc.default_code:
        return codes
    return STATUS_CODES.get(status_code, "invalid" if status_code < 500 else "server_error")


def _validation_detail(fields: dict[str, list[str]]) -> str:
    """The first problem in words, for logs and people; clients read `fields`."""
    name, messages = next(iter(fields.items()))
    first = str(messages[0]) if messages else str(_("Invalid input."))
    return first if name == NON_FIELD_ERRORS else f"{name}: {first}"


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):  # a service's own check (a write racing the serializer's): 400
        if not hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.messages)
        fields = {
            "non_field_errors" if name == "__all__" else name: messages for name, messages in exc.message_dict.items()
        }
        return exceptions.ValidationError(fields)
    return exc


def exception_handler(exc, context):
    """REST_FRAMEWORK EXCEPTION_HANDLER: every DRF view's error as `{detail, code, fields?}`."""
    if isinstance(exc, STORE_ERRORS):
        from conversation.breaker import store_failed

        store = store_name(exc)
        log.warning("store unavailable: %s (%s)", store, exc.__class__.__name__)
        retry_after = store_failed(store)
        body = error_body("service_unavailable", unavailable_detail(store))
        return Response(body, status=503, headers={"Retry-After": str(retry_after)})
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("payload_too_large", _("Request body too large.")), status=413)
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    for name, value in (getattr(exc, "headers", None) or {}).items():  # RateLimit-*, Retry-After
        response[name] = value
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_fields(exc.detail)
        response.data = error_body("invalid", _validation_detail(fields), fields)
        return response
    response.data = error_body(_code_of(exc, response.status_code), exc.detail)
    return response


def answers_json(request: HttpRequest) -> bool:
    """Where Django's own error answers (the handlers below) are the API's JSON error body, not a page."""
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: a URL no route matches (an id with a `/` or `.`) is a JSON 404 under /api/, like any other."""
    if answers_json(request):
        return error_response(404, "not_found", exceptions.NotFound.default_detail)
    return page_not_found(request, exception)


def bad_request_json(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: what Django refuses before any view (over DATA_UPLOAD_MAX_NUMBER_FIELDS parameters) is JSON too."""
    if answers_json(request):
        return error_response(400, "invalid", _("Bad request."))
    return bad_request(request, exception)


def server_error_json(request: HttpRequest) -> HttpResponse:
    """handler500: a bug is still a bug, but an API client gets the one error shape, never an HTML page."""
    if answers_json(request):
        return error_response(500, "server_error", _("Internal error; it has been logged."))
    return server_error(request)


def method_not_allowed(allowed: list[str]) -> JsonResponse:
    """405 for plain Django views, with the `Allow` header DRF would send."""
    return error_response(
        405, "method_not_allowed", _("Method not allowed."), headers={"Allow": ", ".join(sorted(allowed))}
    )
