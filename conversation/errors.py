"""Error types of the domain and the DRF exception handler that renders them.

Clients get 409 `{detail, code}` for state conflicts and 503 `{detail, code}`
when MongoDB or Redis cannot be reached, never a stack trace.
"""

from __future__ import annotations

import logging

from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.defaults import bad_request, page_not_found
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

# Every `code` a 409 can carry (ARCHITECTURE.md, Errors).
CONFLICT_CODES = (
    "request_pending", "in_session", "not_pending", "not_active", "not_waiting", "consent_missing",
    "not_joinable", "not_ended", "feedback_exists", "session_ended", "idempotency_in_progress",
    "recording_exists", "upload_window_closed",
    "not_open", "already_suspended", "already_lifted",
)  # fmt: skip

S3_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)
STORE_ERRORS = (ConnectionFailure, ServerSelectionTimeoutError, RedisConnectionError, RedisTimeoutError, *S3_ERRORS)


class Conflict(APIException):
    """A state conflict: the resource is not in the state the action needs."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("Conflict.")
    default_code = "conflict"

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail=detail, code=code)
        self.code = code


class NotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = _("Not found.")
    default_code = "not_found"


def store_name(exc: BaseException) -> str:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "redis"
    return "s3" if isinstance(exc, S3_ERRORS) else "mongodb"


def unavailable_body(exc: BaseException) -> dict:
    return {"detail": gettext("%(store)s is unavailable, retry shortly.") % {"store": store_name(exc)},
            "code": "service_unavailable"}  # fmt: skip


def exception_handler(exc, context):
    if isinstance(exc, STORE_ERRORS):
        log.warning("store unavailable: %s", exc.__class__.__name__)
        return Response(unavailable_body(exc), status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": gettext("Request body too large.")}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    response = drf_exception_handler(exc, context)
    code = getattr(exc, "code", None)  # our exceptions name their stable code (Conflict, Suspended, StaffOnly)
    if response is not None and isinstance(code, str):
        response.data = {"detail": str(exc.detail), "code": code}
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: a URL no route matches (an id with a `/` or `.`) is a JSON 404 under /api/, like any other."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": gettext("Not found.")}, status=404)
    return page_not_found(request, exception)


def bad_request_json(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: what Django refuses before any view (over DATA_UPLOAD_MAX_NUMBER_FIELDS parameters) is JSON too."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": gettext("Bad request.")}, status=400)
    return bad_request(request, exception)
