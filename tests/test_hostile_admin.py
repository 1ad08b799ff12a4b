"""What an attack on the running service found in the admin (issue 14): login throttling, hostile searches.

Apart from test_hostile_service.py because these use the SQL database (pytest-django runs them first, and the
connection they leave on the main thread would trip the socket tests' consumers).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_admin_logins_lock_out_after_repeated_failures_until_staff_unlock(client, settings):
    get_user_model().objects.create_user("curator", password="right-password-1", is_staff=True, is_superuser=True)
    attempts = [
        client.post("/admin/login/?next=/admin/", {"username": "curator", "password": "guess"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert attempts == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the form with its error, then locked
    locked = client.post("/admin/login/?next=/admin/", {"username": "curator", "password": "right-password-1"})
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    call_command("axes_reset_username", "curator", stdout=open("/dev/null", "w"))  # noqa: SIM115
    unlocked = client.post("/admin/login/?next=/admin/", {"username": "curator", "password": "right-password-1"})
    assert unlocked.status_code == 302 and client.session["_auth_user_id"]


def test_admin_search_with_control_characters_is_never_a_500(client, api):
    admin = get_user_model().objects.create_user("root", password="pw-123456789", is_staff=True, is_superuser=True)
    client.force_login(admin)
    api("root", staff=True).post(
        "/api/v1/topics/",
        {"targetLanguageCode": "fr", "level": "B1", "title": "Food", "category": "daily_life",
         "estimatedDurationMinutes": 10, "promptQuestions": ["What did you eat?"]},
        format="json",
    )  # fmt: skip
    for query in ["%00", "Fo%00od", "%01%1F%7F", "%0D%0Aq", "a" * 5000]:
        response = client.get(f"/admin/topics/topic/?q={query}")
        assert response.status_code == 200, query
    assert b"Food" in client.get("/admin/topics/topic/?q=Fo%00").content
