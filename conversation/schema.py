"""OpenAPI details drf-spectacular cannot infer: the JWT bearer scheme, strict request bodies."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension


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
