"""Topics API: browse for learners, curate for staff."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from conversation.auth import is_staff
from conversation.errors import NotFound
from conversation.lookups import get_or_404
from conversation.pagination import PAGE_PARAMETERS, DocumentPagination
from conversation.permissions import StaffWritesOnly
from conversation.serializers import BODY_ERRORS, error_responses, paginated
from conversation.vocab import CATEGORIES, LEVELS, language_codes
from topics import selectors, services
from topics.documents import Topic
from topics.serializers import (
    RandomQuerySerializer,
    TopicListQuerySerializer,
    TopicSerializer,
    TopicWriteSerializer,
    topic_json,
)

TopicPageSerializer = paginated(TopicSerializer, "TopicPage")
TOPIC_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="24-hex ObjectId (anything else: 404).")


class TopicViewSet(viewsets.ViewSet):
    permission_classes = [StaffWritesOnly]
    serializer_class = TopicSerializer
    lookup_value_regex = "[^/]+"  # any segment reaches get_or_404 (the router's default refuses dots)

    def _get(self, request, pk: str) -> Topic:
        filters = {} if is_staff(request.user) else {"is_active": True}
        return get_or_404(Topic, pk, **filters)

    @extend_schema(
        parameters=[TopicListQuerySerializer, *PAGE_PARAMETERS],
        responses={200: TopicPageSerializer, **error_responses(400, 404)},
    )
    def list(self, request):
        params = TopicListQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = selectors.topic_list(staff=is_staff(request.user), filters=params.validated_data)
        paginator = DocumentPagination()
        page = paginator.paginate_queryset(query, request, view=self)
        return paginator.get_paginated_response([topic_json(topic) for topic in page])

    @extend_schema(parameters=[TOPIC_ID], responses={200: TopicSerializer, **error_responses(404)})
    def retrieve(self, request, pk: str):
        return Response(topic_json(self._get(request, pk)))

    @extend_schema(
        parameters=[
            OpenApiParameter("targetLanguageCode", str, required=True, enum=[*language_codes()]),
            OpenApiParameter("level", str, required=True, enum=[*LEVELS]),
            OpenApiParameter("category", str, required=False, enum=[*CATEGORIES]),
        ],
        responses={200: TopicSerializer, **error_responses(400, 404)},
    )
    @action(detail=False, methods=["get"])
    def random(self, request):
        params = RandomQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        topic = selectors.topic_random(
            language=params.validated_data["targetLanguageCode"],
            level=params.validated_data["level"],
            category=params.validated_data.get("category"),
        )
        if topic is None:
            raise NotFound(_("No active topic for this language and level."))
        return Response(topic_json(topic))

    @extend_schema(responses={201: TopicSerializer, **error_responses(*BODY_ERRORS)})
    def create(self, request):
        serializer = TopicWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        topic = services.topic_create(data=serializer.validated_data)
        return Response(TopicSerializer(topic).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[TOPIC_ID], responses={200: TopicSerializer, **error_responses(*BODY_ERRORS, 404)})
    def update(self, request, pk: str):
        return self._write(request, pk, partial=False)

    @extend_schema(parameters=[TOPIC_ID], responses={200: TopicSerializer, **error_responses(*BODY_ERRORS, 404)})
    def partial_update(self, request, pk: str):
        return self._write(request, pk, partial=True)

    def _write(self, request, pk: str, *, partial: bool):
        topic = self._get(request, pk)
        serializer = TopicWriteSerializer(topic, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        topic = services.topic_update(topic=topic, data=serializer.validated_data)
        return Response(TopicSerializer(topic).data)

    @extend_schema(parameters=[TOPIC_ID], responses={204: None, **error_responses(404)})
    def destroy(self, request, pk: str):
        services.topic_delete(topic=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
