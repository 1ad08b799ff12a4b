"""The served OpenAPI schema as a test-time check: every /api/v1/ response of the suite must match it.

The root conftest.py wraps Django's test client, and tests/processes.http checks what real uvicorn
processes answer, so a response the schema does not describe fails the test that received it.
A test that means to send garbage to non-API paths can opt out with `@pytest.mark.no_contract`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from conversation.errors import CONFLICT_CODES, STATUS_CODES

CHECKED_PREFIX = "/api/v1/"
KNOWN_CODES = {*STATUS_CODES.values(), *CONFLICT_CODES, "suspended"}
state = {"enabled": True}


@cache
def served_schema() -> dict[str, Any]:
    """What GET /api/schema/ serves, fetched once per test session."""
    from django.test import Client

    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.status_code
    return json.loads(response.content)


@cache
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(served_schema())


@cache
def _error_validator() -> OAS30Validator:
    schema = served_schema()
    registry = Registry().with_resource("", Resource.from_contents(schema, default_specification=DRAFT4))
    return OAS30Validator({**schema["components"]["schemas"]["Error"], "components": schema["components"]},
                          registry=registry)  # fmt: skip


def check_response(
    method: str, path: str, status: int, body: bytes, headers: Mapping[str, str], *, query: str = ""
) -> None:
    """Raises AssertionError naming the mismatch when the response is not what the schema says."""
    if not state["enabled"] or not path.startswith(CHECKED_PREFIX):
        return
    lowered = {name.lower(): value for name, value in headers.items()}
    assert "x-request-id" in lowered, f"{method} {path} -> {status} without X-Request-ID"
    content_type = lowered.get("content-type", "application/json").split(";")[0]
    request = MockRequest("http://testserver", method.lower(), path, args=_query(query))
    response = MockResponse(body, status_code=status, headers=dict(headers), content_type=content_type)
    if status >= 400:
        _check_error_body(method, path, status, body)
    try:
        _openapi().validate_response(request, response)
    except (PathNotFound, OperationNotFound):
        # A path or method the schema does not list: only an error (404, 405) may answer it, in the one
        # error shape, checked above.
        assert status in (404, 405), f"{method} {path} -> {status}: not in the schema"
    except Exception as exc:  # openapi-core's validation errors share no base class worth naming
        raise AssertionError(f"{method} {path} -> {status} does not match the schema: {_why(exc)}") from None


def _check_error_body(method: str, path: str, status: int, body: bytes) -> None:
    data = json.loads(body or b"null")
    if status == 400:
        assert set(data) <= {"detail", "code", "fields"} and data.get("code") == "invalid", (method, path, data)
        return
    errors = sorted(str(e.message) for e in _error_validator().iter_errors(data))
    assert not errors, f"{method} {path} -> {status}: not an Error body: {errors} in {data}"
    assert data["code"] in KNOWN_CODES, f"{method} {path} -> {status}: unknown code {data['code']!r}"


def _query(query: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(query, keep_blank_values=True))


def _why(exc: Exception) -> str:
    causes = [str(exc)]
    for attr in ("__cause__", "schema_errors"):
        found = getattr(exc, attr, None)
        if found:
            causes.append(str(found if not isinstance(found, list | tuple) else [str(e) for e in found]))
    return " / ".join(causes)[:2000]
