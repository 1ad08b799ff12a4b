"""Topics API: browse for learners, curate for staff."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from conversation.auth import is_staff
from conversation.errors import NotFound
from conversation.lookups import get_or_404
from conversation.permissions import StaffWritesOnly
from topics import selectors, services
from topics.documents import Topic
from topics.serializers import RandomQuerySerializer, TopicSerializer


class TopicPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100


class TopicViewSet(viewsets.ViewSet):
    permission_classes = [StaffWritesOnly]
    serializer_class = TopicSerializer

    def _get(self, request, pk: str) -> Topic:
        filters = {} if is_staff(request.user) else {"is_active": True}
        return get_or_404(Topic, pk, **filters)

    @extend_schema(
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("targetLanguageCode", "level", "category", "search", "isActive")
        ],
        responses=TopicSerializer(many=True),
    )
    def list(self, request):
        query = selectors.topic_list(staff=is_staff(request.user), filters=request.query_params)
        paginator = TopicPagination()
        page = paginator.paginate_queryset(query, request, view=self)
        return paginator.get_paginated_response(TopicSerializer(page, many=True).data)

    @extend_schema(responses=TopicSerializer)
    def retrieve(self, request, pk: str):
        return Response(TopicSerializer(self._get(request, pk)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("targetLanguageCode", str, required=True),
            OpenApiParameter("level", str, required=True),
            OpenApiParameter("category", str, required=False),
        ],
        responses=TopicSerializer,
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
            raise NotFound("No active topic for this language and level.")
        return Response(TopicSerializer(topic).data)

    def create(self, request):
        serializer = TopicSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        topic = services.topic_create(data=serializer.validated_data)
        return Response(TopicSerializer(topic).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk: str):
        return self._write(request, pk, partial=False)

    def partial_update(self, request, pk: str):
        return self._write(request, pk, partial=True)

    def _write(self, request, pk: str, *, partial: bool):
        topic = self._get(request, pk)
        serializer = TopicSerializer(topic, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        topic = services.topic_update(topic=topic, data=serializer.validated_data)
        return Response(TopicSerializer(topic).data)

    def destroy(self, request, pk: str):
        services.topic_delete(topic=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
