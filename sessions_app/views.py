"""Sessions API: history, current, invitations, presence fallback, endings, recording, feedback."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from conversation import clock
from conversation.auth import caller_id
from conversation.errors import Conflict, NotFound
from conversation.pagination import PAGE_PARAMETERS, DocumentPagination
from conversation.ratelimit import RATE_LIMIT_HEADERS, RateLimitHit
from conversation.serializers import BODY_ERRORS, error_responses, paginated
from sessions_app import selectors
from sessions_app.documents import STATUSES
from sessions_app.payloads import session_json
from sessions_app.serializers import (
    CompleteSerializer,
    ConsentSerializer,
    DownloadUrlSerializer,
    FeedbackGivenSerializer,
    FeedbackSerializer,
    HeartbeatResponseSerializer,
    ReportSerializer,
    ScheduleSerializer,
    SessionSerializer,
    UploadUrlResponseSerializer,
    UploadUrlSerializer,
)
from sessions_app.services import feedback, lifecycle, recording, safety, scheduling

SessionPageSerializer = paginated(SessionSerializer, "SessionPage")
SESSION_ID = OpenApiParameter(
    "session_id", str, OpenApiParameter.PATH, description="24-hex ObjectId (anything else, or not yours: 404)."
)
ENDING_RESPONSES = {200: SessionSerializer, **error_responses(404, 409)}


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class SessionListView(APIView):
    @extend_schema(
        operation_id="v1_sessions_list",
        parameters=[OpenApiParameter("status", str, enum=list(STATUSES), required=False), *PAGE_PARAMETERS],
        responses={200: SessionPageSerializer, **error_responses(400, 404)},
    )
    def get(self, request):
        wanted = request.query_params.get("status") or None
        if wanted and wanted not in STATUSES:
            raise ValidationError({"status": [_("Must be one of %(choices)s.") % {"choices": ", ".join(STATUSES)}]})
        paginator = DocumentPagination()
        page = paginator.paginate_queryset(
            selectors.sessions_of(user_id=caller_id(request.user), status=wanted), request, view=self
        )
        return paginator.get_paginated_response([session_json(s) for s in page])

    @extend_schema(
        request=ScheduleSerializer,
        parameters=RATE_LIMIT_HEADERS,
        responses={201: SessionSerializer, **error_responses(*BODY_ERRORS, 409, 429)},
    )
    def post(self, request):
        user_id = caller_id(request.user)
        # Every call counts, 429 before anything else (SESSION_INVITATIONS_PER_HOUR).
        hit = RateLimitHit(
            scope="inv", user_id=user_id, limit=settings.SESSION_INVITATIONS_PER_HOUR, window_seconds=3600
        )
        hit.count()
        with hit.told_on_refusal():
            data = _valid(ScheduleSerializer, request.data)
            session = scheduling.session_schedule(
                user_id=user_id,
                partner_id=data["participant2Id"],
                language=data["targetLanguageCode"],
                scheduled_at=data["scheduledAt"],
                topic_id=data.get("topicId") or None,
                planned_minutes=data["plannedDurationMinutes"],
            )
        return Response(session_json(session), status=status.HTTP_201_CREATED, headers=hit.headers)


class SessionCurrentView(APIView):
    @extend_schema(responses={200: SessionSerializer, **error_responses(404)})
    def get(self, request):
        session = selectors.session_current(user_id=caller_id(request.user))
        if session is None:
            raise NotFound(_("You have no waiting or active session."))
        return Response(session_json(session))


class InvitationListView(APIView):
    @extend_schema(
        operation_id="v1_sessions_invitations",
        parameters=PAGE_PARAMETERS,
        responses={200: SessionPageSerializer, **error_responses(400, 404)},
    )
    def get(self, request):
        paginator = DocumentPagination()
        page = paginator.paginate_queryset(
            scheduling.invitations_received(user_id=caller_id(request.user)), request, view=self
        )
        return paginator.get_paginated_response([session_json(s) for s in page])


class SessionView(APIView):
    """Base for /sessions/{id}/...: the session, for its participants only."""

    def session(self, request, session_id: str):
        return selectors.session_for(session_id=session_id, user_id=caller_id(request.user))


class SessionDetailView(SessionView):
    @extend_schema(parameters=[SESSION_ID], responses={200: SessionSerializer, **error_responses(404)})
    def get(self, request, session_id: str):
        return Response(session_json(self.session(request, session_id)))


class HeartbeatView(SessionView):
    @extend_schema(
        request=None, parameters=[SESSION_ID], responses={200: HeartbeatResponseSerializer, **error_responses(404, 409)}
    )
    def post(self, request, session_id: str):
        session = self.session(request, session_id)
        try:
            session = lifecycle.session_heartbeat(session=session, user_id=caller_id(request.user))
        except lifecycle.SessionGone:
            raise Conflict(_("The session has ended."), "session_ended") from None
        return Response({"serverTime": clock.isoformat(clock.now()), "session": session_json(session)})


class AcceptView(SessionView):
    @extend_schema(request=None, parameters=[SESSION_ID], responses=ENDING_RESPONSES)
    def post(self, request, session_id: str):
        session = self.session(request, session_id)
        return Response(session_json(scheduling.invitation_accept(session=session, user_id=caller_id(request.user))))


class DeclineView(SessionView):
    @extend_schema(request=None, parameters=[SESSION_ID], responses=ENDING_RESPONSES)
    def post(self, request, session_id: str):
        session = self.session(request, session_id)
        return Response(session_json(scheduling.invitation_decline(session=session, user_id=caller_id(request.user))))


class EndView(SessionView):
    @extend_schema(request=None, parameters=[SESSION_ID], responses=ENDING_RESPONSES)
    def post(self, request, session_id: str):
        return Response(session_json(lifecycle.session_finish(session=self.session(request, session_id))))


class CancelView(SessionView):
    @extend_schema(request=None, parameters=[SESSION_ID], responses=ENDING_RESPONSES)
    def post(self, request, session_id: str):
        return Response(session_json(lifecycle.session_cancel(session=self.session(request, session_id))))


class ReportView(SessionView):
    @extend_schema(
        request=ReportSerializer,
        parameters=[SESSION_ID],
        responses={200: SessionSerializer, **error_responses(*BODY_ERRORS, 404, 409)},
    )
    def post(self, request, session_id: str):
        session = self.session(request, session_id)
        data = _valid(ReportSerializer, request.data)
        session = safety.session_report(
            session=session, user_id=caller_id(request.user), reason=data["reason"], details=data.get("details")
        )
        return Response(session_json(session))


class ConsentView(SessionView):
    @extend_schema(
        request=ConsentSerializer,
        parameters=[SESSION_ID],
        responses={200: SessionSerializer, **error_responses(*BODY_ERRORS, 404)},
    )
    def put(self, request, session_id: str):
        session = self.session(request, session_id)
        data = _valid(ConsentSerializer, request.data)
        session = recording.consent_set(session=session, user_id=caller_id(request.user), consent=data["consent"])
        return Response(session_json(session))


class UploadUrlView(SessionView):
    @extend_schema(
        request=UploadUrlSerializer,
        parameters=[SESSION_ID],
        responses={200: UploadUrlResponseSerializer, **error_responses(*BODY_ERRORS, 404, 409, 429)},
    )
    def post(self, request, session_id: str):
        session = self.session(request, session_id)
        data = _valid(UploadUrlSerializer, request.data)  # no body is {}; a list or a number is a 400
        return Response(
            recording.upload_url(session=session, user_id=caller_id(request.user), content_type=data["contentType"])
        )


class CompleteView(SessionView):
    @extend_schema(
        request=CompleteSerializer,
        parameters=[SESSION_ID],
        responses={200: SessionSerializer, **error_responses(*BODY_ERRORS, 404, 409)},
    )
    def post(self, request, session_id: str):
        session = self.session(request, session_id)
        data = _valid(CompleteSerializer, request.data)
        return Response(session_json(recording.upload_complete(session=session, key=data["key"])))


class RecordingView(SessionView):
    @extend_schema(parameters=[SESSION_ID], responses={200: DownloadUrlSerializer, **error_responses(404)})
    def get(self, request, session_id: str):
        return Response(recording.download_url(session=self.session(request, session_id)))


class FeedbackView(SessionView):
    @extend_schema(
        request=FeedbackSerializer,
        parameters=[SESSION_ID],
        responses={201: FeedbackGivenSerializer, **error_responses(*BODY_ERRORS, 404, 409)},
    )
    def post(self, request, session_id: str):
        session = self.session(request, session_id)
        data = _valid(FeedbackSerializer, request.data)
        given = feedback.feedback_give(session=session, user_id=caller_id(request.user), data=data)
        return Response(FeedbackGivenSerializer(given).data, status=status.HTTP_201_CREATED)
