"""Moderation API (/api/v1/moderation/): staff tokens (or Django staff) only; learners get 403 permission_denied."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from conversation.auth import USER_ID_RE, caller_id
from conversation.errors import NotFound
from conversation.lookups import get_or_404
from conversation.pagination import PAGE_PARAMETERS, DocumentPagination
from conversation.permissions import IsStaff
from conversation.serializers import BODY_ERRORS, error_responses, paginated
from moderation import selectors, services
from moderation.documents import Suspension
from moderation.serializers import (
    LearnerSerializer,
    ReportSerializer,
    ResolveSerializer,
    SuspensionCreateSerializer,
    SuspensionSerializer,
)
from sessions_app.documents import REPORT_STATES, SessionReport
from sessions_app.payloads import session_json
from topics.documents import Topic

ReportPageSerializer = paginated(ReportSerializer, "ReportPage")
SuspensionPageSerializer = paginated(SuspensionSerializer, "SuspensionPage")


class StaffView(APIView):
    permission_classes = [IsStaff]


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _page(view: APIView, request, queryset, serializer_class) -> Response:
    paginator = DocumentPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _user_id(value: str | None, field: str) -> str | None:
    if value and not USER_ID_RE.match(value):
        raise ValidationError({field: [_("Not a user id (1-128 characters A-Z a-z 0-9 _ . @ -).")]})
    return value or None


class ReportListView(StaffView):
    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=list(REPORT_STATES), required=False),
            OpenApiParameter("reportedUserId", str, required=False),
            *PAGE_PARAMETERS,
        ],
        responses={200: ReportPageSerializer, **error_responses(400, 404)},
    )
    def get(self, request):
        state = request.query_params.get("state") or None
        if state and state not in REPORT_STATES:
            raise ValidationError({"state": [_("Must be one of %s.") % ", ".join(REPORT_STATES)]})
        reported = _user_id(request.query_params.get("reportedUserId"), "reportedUserId")
        return _page(self, request, selectors.reports_queue(state=state, reported_user_id=reported), ReportSerializer)


class ReportResolveView(StaffView):
    @extend_schema(
        request=ResolveSerializer,
        parameters=[OpenApiParameter("report_id", str, OpenApiParameter.PATH)],
        responses={200: ReportSerializer, **error_responses(*BODY_ERRORS, 404, 409)},
    )
    def post(self, request, report_id: str):
        report = get_or_404(SessionReport, report_id)
        data = _valid(ResolveSerializer, request.data)
        report = services.report_resolve(
            report=report, outcome=data["outcome"], notes=data.get("notes") or None, actor=request.user
        )
        return Response(ReportSerializer(report).data)


class SuspensionListView(StaffView):
    @extend_schema(
        parameters=[
            OpenApiParameter("userId", str, required=False),
            OpenApiParameter("active", bool, required=False, description="true: in force now; false: lifted or ended."),
            *PAGE_PARAMETERS,
        ],
        responses={200: SuspensionPageSerializer, **error_responses(400, 404)},
    )
    def get(self, request):
        user_id = _user_id(request.query_params.get("userId"), "userId")
        active = request.query_params.get("active") or None
        if active not in (None, "true", "false"):
            raise ValidationError({"active": [_("Must be true or false.")]})
        queryset = selectors.suspensions_list(user_id=user_id, active=None if active is None else active == "true")
        return _page(self, request, queryset, SuspensionSerializer)

    @extend_schema(
        request=SuspensionCreateSerializer,
        responses={201: SuspensionSerializer, **error_responses(*BODY_ERRORS, 409)},
    )
    def post(self, request):
        data = _valid(SuspensionCreateSerializer, request.data)
        if data["userId"] == caller_id(request.user):  # it would lock the caller out of this very API
            raise ValidationError({"userId": [_("You cannot suspend yourself.")]})
        suspension = services.suspension_create(
            user_id=data["userId"], reason=data["reason"], until=data.get("until"), actor=request.user
        )
        return Response(SuspensionSerializer(suspension).data, status=status.HTTP_201_CREATED)


class SuspensionDetailView(StaffView):
    @extend_schema(
        parameters=[OpenApiParameter("suspension_id", str, OpenApiParameter.PATH)],
        responses={200: SuspensionSerializer, **error_responses(404, 409)},
    )
    def delete(self, request, suspension_id: str):
        """Lifts the suspension: the user works again at once."""
        suspension = services.suspension_lift(suspension=get_or_404(Suspension, suspension_id), actor=request.user)
        return Response(SuspensionSerializer(suspension).data)


class LearnerView(StaffView):
    @extend_schema(
        parameters=[OpenApiParameter("user_id", str, OpenApiParameter.PATH)],
        responses={200: LearnerSerializer, **error_responses(404)},
    )
    def get(self, request, user_id: str):
        if not USER_ID_RE.match(user_id):
            raise NotFound()
        overview = selectors.learner_overview(user_id=user_id)
        topic_ids = {s.topic_id for s in overview.sessions if s.topic_id}
        topics = {str(t.id): t for t in Topic.objects(id__in=list(topic_ids))} if topic_ids else {}
        # Sessions in their one JSON shape (session_json); the serializer passes those dicts through.
        sessions = [session_json(s, topic=topics.get(s.topic_id)) for s in overview.sessions]
        return Response(LearnerSerializer({**vars(overview), "sessions": sessions}).data)
