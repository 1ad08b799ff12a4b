"""Matchmaking API: create, read and cancel requests; the queue overview."""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from conversation.auth import JWTAuthentication, caller_id
from conversation.errors import NotFound
from conversation.idempotency import KEY_RE, REPLAYED_HEADER, idempotent
from conversation.lookups import get_or_404
from conversation.ratelimit import RATE_LIMIT_HEADERS, RateLimitHit
from conversation.serializers import BODY_ERRORS, error_responses
from matchmaking import selectors
from matchmaking.documents import MatchmakingRequest
from matchmaking.payloads import request_json
from matchmaking.serializers import QueueSerializer, RequestCreateSerializer, RequestSerializer
from matchmaking.services.closing import request_cancel
from matchmaking.services.requests import NewRequest, request_create

REQUEST_ID = OpenApiParameter(
    "request_id", str, OpenApiParameter.PATH, description="24-hex ObjectId (anything else: 404)."
)


class RequestCreateView(APIView):
    def get_authenticators(self):
        """The API's own (settings), but request_create checks the caller's suspension exactly in its first
        round trip, before it stores anything: authentication may trust this process's copy."""
        return [
            JWTAuthentication(service_checks_suspension=True) if cls is JWTAuthentication else cls()
            for cls in self.authentication_classes
        ]

    @extend_schema(
        request=RequestCreateSerializer,
        responses={201: RequestSerializer, **error_responses(*BODY_ERRORS, 409, 422, 429)},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                pattern=KEY_RE.pattern,
                description="A retry with the same key and body replays the first response"
                " (with `Idempotent-Replayed: true`); another body is a 422.",
            ),
            *RATE_LIMIT_HEADERS,
            OpenApiParameter(
                REPLAYED_HEADER,
                str,
                OpenApiParameter.HEADER,
                response=[201],
                enum=["true"],
                description="Present on a replayed response.",
            ),
        ],
    )
    def post(self, request):
        user_id = caller_id(request.user)
        limits: dict[str, str] = {}

        def create() -> tuple[int, dict]:
            # Inside the idempotent call: a replay is not a new creation and does not count. Every other
            # call counts, 429 before anything else: alone and first when validation would read MongoDB
            # (a named topic: a caller past the limit costs no read) or the body is invalid (429 before
            # 400); otherwise in request_create's first round trip.
            hit = RateLimitHit(scope="mm", user_id=user_id, limit=settings.MATCHMAKING_RATE_LIMIT_PER_MINUTE)
            with hit.told_on_refusal():
                serializer = RequestCreateSerializer(data=request.data)
                count_alone = _names_topic(request.data) or not serializer.is_valid()
                if count_alone:
                    hit.count()
                serializer.is_valid(raise_exception=True)  # validates here if a named topic counted first
                data = serializer.validated_data
                created = request_create(
                    data=NewRequest(
                        user_id=user_id,
                        learning_profile_id=data["learningProfileId"],
                        target_language_code=data["targetLanguageCode"],
                        user_level=data["userLevel"],
                        preferred_topic_id=data.get("preferredTopicId") or None,
                        preferred_duration=data["preferredDuration"],
                    ),
                    rate_limit=None if count_alone else hit,
                )
            limits.update(hit.headers)
            return status.HTTP_201_CREATED, request_json(created)

        outcome = idempotent(
            user_id=user_id, key=request.headers.get("Idempotency-Key"), body=request.data, call=create
        )
        headers = {**limits, REPLAYED_HEADER: "true"} if outcome.replayed else limits
        return Response(outcome.body, status=outcome.status, headers=headers)


def _names_topic(body) -> bool:
    """Whether the body asks for a topic, which validation looks up in MongoDB."""
    return isinstance(body, Mapping) and bool(body.get("preferredTopicId"))


class RequestCurrentView(APIView):
    @extend_schema(responses={200: RequestSerializer, **error_responses(404)})
    def get(self, request):
        found = selectors.request_latest(user_id=caller_id(request.user))
        if found is None:
            raise NotFound(_("You have no matchmaking request."))
        return Response(request_json(found))


class RequestDetailView(APIView):
    def _own(self, request, request_id: str) -> MatchmakingRequest:
        return get_or_404(MatchmakingRequest, request_id, user_id=caller_id(request.user))

    @extend_schema(parameters=[REQUEST_ID], responses={200: RequestSerializer, **error_responses(404)})
    def get(self, request, request_id: str):
        return Response(request_json(self._own(request, request_id)))

    @extend_schema(parameters=[REQUEST_ID], responses={200: RequestSerializer, **error_responses(404, 409)})
    def delete(self, request, request_id: str):
        return Response(request_json(request_cancel(request=self._own(request, request_id))))


class QueuesView(APIView):
    @extend_schema(responses={200: QueueSerializer(many=True), **error_responses()})
    def get(self, request):
        return Response(selectors.queues_overview())
