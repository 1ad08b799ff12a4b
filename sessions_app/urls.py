"""Sessions routes under /api/v1/sessions/."""

from django.urls import path

from sessions_app import views

urlpatterns = [
    path("", views.SessionListView.as_view(), name="sessions"),
    path("current/", views.SessionCurrentView.as_view(), name="session-current"),
    path("invitations/", views.InvitationListView.as_view(), name="session-invitations"),
    path("<str:session_id>/", views.SessionDetailView.as_view(), name="session"),
    path("<str:session_id>/heartbeat/", views.HeartbeatView.as_view(), name="session-heartbeat"),
    path("<str:session_id>/accept/", views.AcceptView.as_view(), name="session-accept"),
    path("<str:session_id>/decline/", views.DeclineView.as_view(), name="session-decline"),
    path("<str:session_id>/end/", views.EndView.as_view(), name="session-end"),
    path("<str:session_id>/cancel/", views.CancelView.as_view(), name="session-cancel"),
    path("<str:session_id>/report/", views.ReportView.as_view(), name="session-report"),
    path("<str:session_id>/recording-consent/", views.ConsentView.as_view(), name="session-consent"),
    path("<str:session_id>/recording/upload-url/", views.UploadUrlView.as_view(), name="session-upload-url"),
    path("<str:session_id>/recording/complete/", views.CompleteView.as_view(), name="session-upload-complete"),
    path("<str:session_id>/recording/", views.RecordingView.as_view(), name="session-recording"),
    path("<str:session_id>/feedback/", views.FeedbackView.as_view(), name="session-feedback"),
]
