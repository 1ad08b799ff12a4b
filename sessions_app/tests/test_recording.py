"""Recordings against the S3 server: consent, upload URLs, `complete`, withdrawal, an S3 outage."""

from __future__ import annotations

import urllib.request

import pytest

from conversation import clock, redis_keys
from conversation.redis import client as redis
from conversation.s3 import s3
from sessions_app.documents import ConversationSession
from sessions_app.services import recording
from tests.helpers import post_upload, started_session

WEBM = b"\x1a\x45\xdf\xa3" + b"\x00" * 64


def test_consent_changes_move_updated_at(api, frozen_clock):
    """A client syncing on `updatedAt` sees consent changes (the recording's own writes stamp it too)."""
    session_id = started_session(api)
    consent = f"/api/v1/sessions/{session_id}/recording-consent/"
    for seconds, value in ((7, True), (11, False)):
        frozen_clock.advance(seconds=seconds)
        answered = api("alice").put(consent, {"consent": value}, format="json").json()
        assert answered["recordingConsent"]["participant1"] is value
        assert answered["updatedAt"] == clock.isoformat(frozen_clock.value)


def test_an_upload_url_body_that_is_not_an_object_is_a_400(api):
    """No body means no options; `[]` or `0` are not an object (they were read as no body)."""
    session_id = started_session(api)
    url = f"/api/v1/sessions/{session_id}/recording/upload-url/"
    for body in ([], 0, [1, 2]):
        refused = api("alice").post(url, body, format="json")
        assert refused.status_code == 400 and "non_field_errors" in refused.json()["fields"], body
    assert api("alice").post(url).json()["code"] == "consent_missing"  # no body: past validation


def test_recording_flow_against_the_s3_server(api, settings):
    session_id = started_session(api)
    base = f"/api/v1/sessions/{session_id}"
    missing = api("alice").post(f"{base}/recording/upload-url/", {}, format="json")
    assert missing.status_code == 409 and missing.json()["code"] == "consent_missing"
    api("alice").put(f"{base}/recording-consent/", {"consent": True}, format="json")
    assert api("alice").post(f"{base}/recording/upload-url/", {}, format="json").status_code == 409
    consent = api("bob").put(f"{base}/recording-consent/", {"consent": True}, format="json").json()
    assert consent["recordingConsent"] == {"participant1": True, "participant2": True}

    upload = api("alice").post(f"{base}/recording/upload-url/", {"contentType": "audio/webm"}, format="json").json()
    assert upload["method"] == "POST" and upload["key"].startswith(f"uploads/{session_id}/")
    assert upload["fields"]["Content-Type"] == "audio/webm"
    assert "alice" not in upload["key"] and "bob" not in upload["key"]
    assert post_upload(upload, b"\x1a\x45\xdf\xa3 fake webm") == 204
    done = api("alice").post(f"{base}/recording/complete/", {"key": upload["key"]}, format="json")
    assert done.status_code == 200
    assert done.json()["audioRecordingUrl"] == (
        f"s3://{settings.S3_BUCKET}/recordings/{session_id}/{upload['key'].rsplit('/', 1)[1]}"
    )

    download = api("bob").get(f"{base}/recording/").json()
    with urllib.request.urlopen(download["downloadUrl"], timeout=10) as response:
        assert response.read() == b"\x1a\x45\xdf\xa3 fake webm"
    assert api("mallory").get(f"{base}/recording/").status_code == 404

    withdrawn = api("bob").put(f"{base}/recording-consent/", {"consent": False}, format="json").json()
    assert withdrawn["audioRecordingUrl"] is None
    assert api("alice").get(f"{base}/recording/").status_code == 404
    for prefix in (f"recordings/{session_id}/", f"uploads/{session_id}/"):
        assert s3().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=prefix).get("KeyCount", 0) == 0


@pytest.mark.parametrize("slower_reaches", ["the compare-and-set", "the copy"])
def test_two_completes_of_one_upload_at_once_keep_the_recording(api, settings, monkeypatch, slower_reaches):
    """Both copy to the same final key; the call that loses must not delete the object the winner stored (it
    did: the recording's URL then led to a 404), nor fail when the winner cleared the uploads first."""
    session_id = started_session(api)
    base = f"/api/v1/sessions/{session_id}"
    for user in ("alice", "bob"):
        api(user).put(f"{base}/recording-consent/", {"consent": True}, format="json")
    upload = api("alice").post(f"{base}/recording/upload-url/", {"contentType": "audio/ogg"}, format="json").json()
    assert post_upload(upload, b"OggS" + b"\0" * 200) == 204
    before_either = ConversationSession.objects.get(id=session_id)  # what the slower call read
    with monkeypatch.context() as timing:
        if slower_reaches == "the compare-and-set":  # the winner has not cleared the uploads yet
            timing.setattr(recording, "uploads_delete", lambda prefix: 0)
        first = api("alice").post(f"{base}/recording/complete/", {"key": upload["key"]}, format="json")
    assert first.status_code == 200
    # The slower call, past its checks of the upload before the first stored the recording.
    monkeypatch.setattr(recording, "_checked_upload", lambda key: "audio/ogg")
    second = recording.upload_complete(session=before_either, key=upload["key"])
    assert second.audio_recording_url == first.json()["audioRecordingUrl"]
    final = first.json()["audioRecordingUrl"].split("/", 3)[3]
    assert s3().head_object(Bucket=settings.S3_BUCKET, Key=final)["ContentLength"] == 204


def test_complete_refuses_foreign_keys_and_non_audio(api, settings):
    session_id = started_session(api)
    base = f"/api/v1/sessions/{session_id}"
    for user in ("alice", "bob"):
        api(user).put(f"{base}/recording-consent/", {"consent": True}, format="json")
    foreign = api("alice").post(f"{base}/recording/complete/", {"key": "recordings/other/x.webm"}, format="json")
    assert foreign.status_code == 400 and "key" in foreign.json()["fields"]
    upload = api("alice").post(f"{base}/recording/upload-url/", {}, format="json").json()
    absent = api("alice").post(f"{base}/recording/complete/", {"key": upload["key"]}, format="json")
    assert absent.status_code == 400
    s3().put_object(Bucket=settings.S3_BUCKET, Key=upload["key"], Body=b"text", ContentType="text/plain")
    wrong = api("alice").post(f"{base}/recording/complete/", {"key": upload["key"]}, format="json")
    assert wrong.status_code == 400
    assert ConversationSession.objects.get(id=session_id).audio_recording_url is None


def test_s3_unreachable_gives_a_503_naming_s3(api, settings):
    from sessions_app.services import recording

    session_id = started_session(api)
    base = f"/api/v1/sessions/{session_id}"
    for user in ("alice", "bob"):
        api(user).put(f"{base}/recording-consent/", {"consent": True}, format="json")
    key = api("alice").post(f"{base}/recording/upload-url/", {}, format="json").json()["key"]
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    recording.s3.cache_clear()
    try:
        response = api("alice").post(f"{base}/recording/complete/", {"key": key}, format="json")
    finally:
        recording.s3.cache_clear()
    assert response.status_code == 503
    assert response.json() == {"detail": "s3 is unavailable, retry shortly.", "code": "service_unavailable"}
    assert ConversationSession.objects.get(id=session_id).audio_recording_url is None


def _consented(api, session_id: str) -> str:
    base = f"/api/v1/sessions/{session_id}"
    for user in ("alice", "bob"):
        api(user).put(f"{base}/recording-consent/", {"consent": True}, format="json")
    return base


def _uploads(settings, session_id: str) -> int:
    return s3().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=f"uploads/{session_id}/").get("KeyCount", 0)


def test_a_withdrawal_deletes_the_uploads_and_voids_the_keys_given_before_it(api, settings):
    """API.md: withdrawing deletes the recording. Audio uploaded but not completed is deleted too, and what the
    partner sends afterwards under a policy given before the withdrawal can never become the recording, even
    once consent is given again (it stayed up to 30 minutes, and became the recording after a new consent)."""
    session_id = started_session(api)
    base = _consented(api, session_id)
    upload = api("bob").post(f"{base}/recording/upload-url/", {}, format="json").json()
    assert post_upload(upload, WEBM) == 204

    assert api("alice").put(f"{base}/recording-consent/", {"consent": False}, format="json").status_code == 200
    assert _uploads(settings, session_id) == 0
    assert post_upload(upload, WEBM + b" sent after alice said no") == 204  # S3 still takes it: a signed policy
    api("alice").put(f"{base}/recording-consent/", {"consent": True}, format="json")
    refused = api("bob").post(f"{base}/recording/complete/", {"key": upload["key"]}, format="json")
    assert refused.status_code == 400 and "withdrawn" in refused.json()["fields"]["key"][0]
    assert ConversationSession.objects.get(id=session_id).audio_recording_url is None

    fresh = api("bob").post(f"{base}/recording/upload-url/", {}, format="json").json()  # given after the consent
    assert post_upload(fresh, WEBM) == 204
    assert api("bob").post(f"{base}/recording/complete/", {"key": fresh["key"]}, format="json").status_code == 200


def test_an_upload_url_asked_as_consent_is_withdrawn_gives_no_usable_key(api, monkeypatch):
    """The withdrawal lands between the call's consent check and its key's registration: 409 `consent_missing`,
    and the key is not one `complete` takes (a URL was given, and its key stayed valid)."""
    session_id = started_session(api)
    base = _consented(api, session_id)
    count = recording._count_upload

    def counted_as_alice_withdraws(session, user_id):
        count(session, user_id)
        api("alice").put(f"{base}/recording-consent/", {"consent": False}, format="json")

    monkeypatch.setattr(recording, "_count_upload", counted_as_alice_withdraws)
    refused = api("bob").post(f"{base}/recording/upload-url/", {}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "consent_missing")
    assert redis().scard(redis_keys.recording_issued(session_id)) == 0


def test_a_complete_under_way_as_consent_is_withdrawn_then_given_again_keeps_nothing(api, settings, monkeypatch):
    """The withdrawal (then a new consent) lands after `complete` checked its key and copied the upload, before
    it stored the recording: the withdrawal found no recording to delete, so `complete` reads its key again
    once stored, and undoes (the audio, sent before the withdrawal, became the recording)."""
    session_id = started_session(api)
    base = _consented(api, session_id)
    upload = api("bob").post(f"{base}/recording/upload-url/", {}, format="json").json()
    assert post_upload(upload, WEBM) == 204
    real = recording.s3()

    class CopiedAsAliceWithdrawsAndConsentsAgain:
        def __getattr__(self, name: str):
            return getattr(real, name)

        def copy_object(self, **kwargs):
            copied = real.copy_object(**kwargs)
            for consent in (False, True):
                api("alice").put(f"{base}/recording-consent/", {"consent": consent}, format="json")
            return copied

    monkeypatch.setattr(recording, "s3", CopiedAsAliceWithdrawsAndConsentsAgain)
    refused = api("bob").post(f"{base}/recording/complete/", {"key": upload["key"]}, format="json")
    assert refused.status_code == 400 and "withdrawn" in refused.json()["fields"]["key"][0]
    assert ConversationSession.objects.get(id=session_id).audio_recording_url is None
    kept = s3().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=f"recordings/{session_id}/").get("KeyCount", 0)
    assert kept == 0
