"""URLs of the practice page and its DEBUG-only dev login."""

from django.urls import path

from practice import views

urlpatterns = [
    path("", views.index, name="practice"),
    path("dev-token", views.dev_token, name="practice-dev-token"),
]
