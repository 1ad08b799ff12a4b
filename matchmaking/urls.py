"""Matchmaking routes under /api/v1/matchmaking/."""

from django.urls import path

from matchmaking import views

urlpatterns = [
    path("requests/", views.RequestCreateView.as_view(), name="matchmaking-requests"),
    path("requests/current/", views.RequestCurrentView.as_view(), name="matchmaking-request-current"),
    path("requests/<str:request_id>/", views.RequestDetailView.as_view(), name="matchmaking-request"),
    path("queues/", views.QueuesView.as_view(), name="matchmaking-queues"),
]
