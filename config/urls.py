"""Root URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from conversation import practice
from conversation import views as ops

urlpatterns = [
    path("health/live", ops.live, name="health-live"),
    path("health/ready", ops.ready, name="health-ready"),
    path("metrics", ops.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/topics/", include("topics.urls")),
    path("api/v1/matchmaking/", include("matchmaking.urls")),
    path("api/v1/sessions/", include("sessions_app.urls")),
    path("admin/", admin.site.urls),
    path("practice/", practice.index, name="practice"),
    path("practice/dev-token", practice.dev_token, name="practice-dev-token"),
]
handler400 = "conversation.errors.bad_request_json"
handler404 = "conversation.errors.not_found"
