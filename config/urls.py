"""Root URL configuration."""

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularSwaggerSplitView

from conversation import views as health
from conversation.schema import CachedSchemaView

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    path("api/schema/", CachedSchemaView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script. Swagger UI's bundle injects
    # <style> elements, so this page alone allows inline styles (never scripts).
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="docs",
    ),
    path("api/v1/topics/", include("topics.urls")),
    path("api/v1/matchmaking/", include("matchmaking.urls")),
    path("api/v1/sessions/", include("sessions_app.urls")),
    path("api/v1/moderation/", include("moderation.urls")),
    path("admin/", admin.site.urls),
    path("practice/", include("practice.urls")),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: /i18n/setlang/
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),  # gettext() for the practice page
]
handler400 = "conversation.errors.bad_request_json"
handler404 = "conversation.errors.not_found"
handler500 = "conversation.errors.server_error_json"
