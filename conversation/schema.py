"""OpenAPI: details drf-spectacular cannot infer (the JWT bearer scheme, strict bodies), and the cached schema view."""

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
