"""OpenAPI details drf-spectacular cannot infer (JWT bearer scheme, strict bodies, headers); the cached schema view."""

from typing import ClassVar

from django.utils import translation
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "conversation.auth.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class StrictSerializerScheme(OpenApiSerializerExtension):
    """StrictSerializer answers 400 to unknown fields: request bodies say `additionalProperties: false`."""

    target_class = "conversation.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


class CachedSchemaView(SpectacularAPIView):
    """`/api/schema/`, built once per process, version and language: it is a function of the code alone,
    which a running process cannot change, and building it walks every view (70 ms a request before).
    """

    _built: ClassVar[dict[tuple[str | None, str | None], dict]] = {}

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (version, translation.get_language())
        if key not in self._built:
            generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
            self._built[key] = generator.get_schema(request=request, public=self.serve_public)
        return Response(
            data=self._built[key],
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )


# Headers the service sends, documented on the responses that carry them (shared/API.md, Errors).
_REQUEST_ID = {
    "description": "The client's own X-Request-ID if it sent a valid one (1-64 of [A-Za-z0-9._-]), else a new one.",
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,64}$"},
}
_RETRY_AFTER = {"description": "Seconds to wait before retrying.", "required": True, "schema": {"type": "integer"}}


_NULL = {"$ref": "#/components/schemas/NullEnum"}


def _nullable_refs(node) -> None:
    """`allOf: [$ref], nullable: true` (drf-spectacular's nullable nested serializer) rejects null under a
    strict OpenAPI 3.0 validator: `nullable` does not reach into the referenced schema. `oneOf` the
    reference or `NullEnum` (`enum: [null]`) does, as drf-spectacular already writes for nullable enums."""
    if isinstance(node, dict):
        if node.get("nullable") and len(node.get("allOf", ())) == 1 and "$ref" in node["allOf"][0]:
            node["oneOf"] = [node.pop("allOf")[0], _NULL]
        for value in node.values():
            _nullable_refs(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_refs(value)


def _shared_parameter_enums(result) -> None:
    """A query parameter whose values are a named enum's refers to it, instead of an inline copy per operation."""
    schemas = result.get("components", {}).get("schemas", {})
    named = {frozenset(s["enum"]): name for name, s in schemas.items() if "enum" in s and None not in s["enum"]}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                values = frozenset(v for v in parameter.get("schema", {}).get("enum", ()) if v not in ("", None))
                if values in named:
                    parameter["schema"] = {"$ref": f"#/components/schemas/{named[values]}"}


def postprocess_contract(result, generator, request, public):
    """X-Request-ID on every response, Retry-After on every 429 and 503, nullable references strict-3.0 valid."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for status_code, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers["X-Request-ID"] = _REQUEST_ID
                if status_code in ("429", "503"):
                    headers["Retry-After"] = _RETRY_AFTER
    result["components"]["schemas"].setdefault("NullEnum", {"enum": [None]})
    _nullable_refs(result)
    _shared_parameter_enums(result)
    return result
