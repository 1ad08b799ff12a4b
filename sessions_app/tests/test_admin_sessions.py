"""Sessions in the admin read as a person reads: topic and people linked, durations, consent, the recording
played through an audited short-lived URL, links to reports and feedback, bulk ending behind a reason."""

from __future__ import annotations

import datetime as dt
import urllib.request

import pytest
from django.conf import settings

from conversation.s3 import s3
from mongoadmin.documents import AdminAuditEntry
from sessions_app.admin import duration_text
from sessions_app.documents import ConversationSession, RecordingConsent, SessionFeedback, SessionReport
from topics import services as topic_services
from topics.documents import Topic

pytestmark = pytest.mark.django_db
SESSIONS = "/admin/sessions_app/conversationsession/"


def ended_session(**overrides) -> ConversationSession:
    topic = Topic.objects(title="Au marché").first() or topic_services.topic_create(data={
        "title": "Au marché", "target_language_code": "fr", "level": "B1", "category": "daily_life",
        "estimated_duration_minutes": 10, "prompt_questions": ["Qu'achetez-vous ?"], "is_active": True,
    })  # fmt: skip
    now = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    fields = {
        "topic_id": str(topic.id), "target_language_code": "fr", "participant1_id": "alice.martin",
        "participant2_id": "bob", "status": "completed", "started_at": now, "ended_at": now + dt.timedelta(seconds=725),
        "actual_duration_seconds": 725, "end_reason": "completed", "created_at": now, "updated_at": now,
        "recording_consent": RecordingConsent(participant1=True, participant2=False),
    }  # fmt: skip
    session = ConversationSession(**(fields | overrides))
    session.save()
    return session


def test_durations_read_as_words():
    assert [duration_text(s) for s in (None, 40, 725, 3725)] == ["-", "40 s", "12 min 05 s", "1 h 02 min 05 s"]


def test_a_session_page_reads_as_a_person_reads(admin_client):
    session = ended_session()
    SessionReport(session_id=str(session.id), reporter_id="bob", reported_user_id="alice.martin", reason="rude",
                  created_at=session.created_at).save()  # fmt: skip
    body = admin_client.get(f"{SESSIONS}{session.id}/change/").content.decode()
    assert f'href="/admin/topics/topic/{session.topic_id}/change/">Au marché</a>' in body
    assert "12 min 05 s" in body and "10 min" in body
    # Consent as two yes/no icons, not JSON.
    assert "participant 1 consents to recording" in body.lower() and 'alt="True"' in body and 'alt="False"' in body
    assert '"participant1"' not in body
    assert f'href="/admin/sessions_app/sessionreport/?q={session.id}">1 report</a>' in body
    assert f'href="/admin/sessions_app/sessionfeedback/?q={session.id}">0 feedback</a>' in body
    assert "alice.martin" in body
    listing = admin_client.get(SESSIONS).content.decode()
    assert ">Au marché</a>" in listing and "12 min 05 s" in listing


def test_a_recording_is_played_through_an_audited_short_lived_url(admin_client):
    key = "recordings/abc/take.webm"
    s3().put_object(Bucket=settings.S3_BUCKET, Key=key, Body=b"\x1a\x45\xdf\xa3 webm", ContentType="audio/webm")
    session = ended_session(audio_recording_url=f"s3://{settings.S3_BUCKET}/{key}")
    page = admin_client.get(f"{SESSIONS}{session.id}/change/").content.decode()
    player = f"{SESSIONS}{session.id}/recording/"
    assert f'<audio controls preload="none" src="{player}"' in page and "s3://" not in page.split("<audio")[1][:200]
    assert AdminAuditEntry.objects(action="play_recording").count() == 0  # showing the page is not listening

    played = admin_client.get(player)
    assert played.status_code == 302 and "X-Amz-Expires" in played["Location"]
    with urllib.request.urlopen(played["Location"], timeout=10) as response:
        assert response.read() == b"\x1a\x45\xdf\xa3 webm"
    [entry] = AdminAuditEntry.objects(action="play_recording")
    assert (entry.username, entry.document_id) == ("admin", str(session.id))

    silent = ended_session(audio_recording_url=None)
    assert admin_client.get(f"{SESSIONS}{silent.id}/recording/").status_code == 404
    assert admin_client.get(f"{SESSIONS}not-an-id/recording/").status_code == 404


def test_the_player_is_staff_only(client, django_user_model):
    session = ended_session(audio_recording_url=f"s3://{settings.S3_BUCKET}/recordings/x/y.webm")
    client.force_login(django_user_model.objects.create_user(username="learner", password="pw-12345678"))
    assert client.get(f"{SESSIONS}{session.id}/recording/").status_code == 302  # to the login page
    assert AdminAuditEntry.objects.count() == 0


def test_bulk_ending_asks_one_reason_for_all(admin_client):
    live = [ended_session(status="waiting", participant2_id=f"user{n}", end_reason=None, ended_at=None,
                          actual_duration_seconds=None, started_at=None) for n in range(2)]  # fmt: skip
    ids = [str(s.id) for s in live]
    asked = admin_client.post(SESSIONS, {"action": "end_selected", "_selected_action": ids})
    assert asked.status_code == 200 and asked.content.decode().count('name="_selected_action"') == 2
    too_long = admin_client.post(
        SESSIONS, {"action": "end_selected", "_selected_action": ids, "confirm": "yes", "reason": "x" * 501}
    )
    assert too_long.status_code == 200 and "at most 500 characters" in too_long.content.decode()
    assert ConversationSession.objects(status="waiting").count() == 2
    done = admin_client.post(
        SESSIONS, {"action": "end_selected", "_selected_action": ids, "confirm": "yes", "reason": "Test accounts"}
    )
    assert done.status_code == 302
    assert {(s.status, s.ended_by, s.end_note) for s in ConversationSession.objects(id__in=ids)} == {
        ("cancelled", "admin", "Test accounts")
    }


def test_feedback_keeps_the_sessions_topic(api):
    session = ended_session()
    response = api("bob").post(f"/api/v1/sessions/{session.id}/feedback/", {
        "partnerRating": 4, "connectionQuality": 5, "topicRating": 3, "talkAgain": True, "levelFeltRight": True,
    }, format="json")  # fmt: skip
    assert response.status_code == 201
    assert SessionFeedback.objects.get(session_id=str(session.id)).topic_id == session.topic_id
