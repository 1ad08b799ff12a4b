"""Moderation routes under /api/v1/moderation/."""

from django.urls import path

from moderation import views

urlpatterns = [
    path("reports/", views.ReportListView.as_view(), name="moderation-reports"),
    path("reports/<str:report_id>/resolve/", views.ReportResolveView.as_view(), name="moderation-report-resolve"),
    path("suspensions/", views.SuspensionListView.as_view(), name="moderation-suspensions"),
    path("suspensions/<str:suspension_id>/", views.SuspensionDetailView.as_view(), name="moderation-suspension"),
    path("users/<str:user_id>/", views.LearnerView.as_view(), name="moderation-user"),
]
