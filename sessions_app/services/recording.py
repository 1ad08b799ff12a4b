"""Audio recordings in S3, kept only while both participants consent.

Objects are keyed `recordings/<sessionId>/<random>.<ext>`: unique, and free of
user ids. Clients upload and download with short-lived presigned URLs.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from conversation.errors import Conflict, NotFound
from conversation.s3 import s3
from sessions_app.documents import ConversationSession

AUDIO_TYPES = {"audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a", "audio/mpeg": "mp3", "audio/wav": "wav"}


def _prefix(session: ConversationSession) -> str:
    return f"recordings/{session.id}/"


def _url(key: str) -> str:
    return f"s3://{settings.S3_BUCKET}/{key}"


def _key_of(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    return parsed.path.lstrip("/") if parsed.scheme == "s3" else None


def _both_consented(session: ConversationSession) -> bool:
    consent = session.recording_consent
    return bool(consent and consent.participant1 and consent.participant2)


def consent_set(*, session: ConversationSession, user_id: str, consent: bool) -> ConversationSession:
    """Sets the caller's own flag; withdrawing deletes a stored recording."""
    field = f"set__recording_consent__participant{session.slot_of(user_id)}"
    ConversationSession.objects(id=session.id).update_one(**{field: consent})
    session.reload()
    if not consent:
        recording_delete(session=session)
        session.reload()
    return session


def recording_delete(*, session: ConversationSession) -> None:
    key = _key_of(session.audio_recording_url)
    if key is None:
        return
    # Clear the reference first: a failed delete then leaves an orphan object, never a visible one.
    ConversationSession.objects(id=session.id, audio_recording_url=session.audio_recording_url).update_one(
        unset__audio_recording_url=True
    )
    s3().delete_object(Bucket=settings.S3_BUCKET, Key=key)


def upload_url(*, session: ConversationSession, content_type: str) -> dict:
    if not _both_consented(session):
        raise Conflict(_("Both participants must consent to recording."), "consent_missing")
    if content_type not in AUDIO_TYPES:
        raise ValidationError(
            {"contentType": [_("Must be one of %(choices)s.") % {"choices": ", ".join(sorted(AUDIO_TYPES))}]}
        )
    key = f"{_prefix(session)}{secrets.token_urlsafe(18)}.{AUDIO_TYPES[content_type]}"
    expires = settings.RECORDING_URL_TTL_SECONDS
    url = s3().generate_presigned_url(
        "put_object",
        Params={"Bucket": settings.S3_BUCKET, "Key": key, "ContentType": content_type},
        ExpiresIn=expires,
    )
    return {
        "uploadUrl": url,
        "method": "PUT",
        "headers": {"Content-Type": content_type},
        "key": key,
        "expiresIn": expires,
        "maxBytes": settings.RECORDING_MAX_BYTES,
    }


def upload_complete(*, session: ConversationSession, key: str) -> ConversationSession:
    """Checks the uploaded object (ours, audio, within the size limit), then stores its URL."""
    if not key.startswith(_prefix(session)) or ".." in key:
        raise ValidationError({"key": [_("Not an upload key of this session.")]})
    try:
        head = s3().head_object(Bucket=settings.S3_BUCKET, Key=key)
    except ClientError:
        raise ValidationError({"key": [_("No uploaded object under this key.")]}) from None
    problem = None
    if not str(head.get("ContentType", "")).startswith("audio/"):
        problem = _("The object is not audio.")
    elif not 0 < head.get("ContentLength", 0) <= settings.RECORDING_MAX_BYTES:
        problem = _("The object must be 1 to %(max)d bytes.") % {"max": settings.RECORDING_MAX_BYTES}
    if problem:
        s3().delete_object(Bucket=settings.S3_BUCKET, Key=key)
        raise ValidationError({"key": [problem]})
    previous = _key_of(session.audio_recording_url)
    stored = ConversationSession.objects(
        id=session.id, recording_consent__participant1=True, recording_consent__participant2=True
    ).update_one(set__audio_recording_url=_url(key))
    if not stored:
        s3().delete_object(Bucket=settings.S3_BUCKET, Key=key)
        raise Conflict(_("Both participants must consent to recording."), "consent_missing")
    if previous and previous != key:
        s3().delete_object(Bucket=settings.S3_BUCKET, Key=previous)
    session.reload()
    return session


def download_url(*, session: ConversationSession) -> dict:
    key = _key_of(session.audio_recording_url)
    if key is None:
        raise NotFound(_("This session has no recording."))
    expires = settings.RECORDING_URL_TTL_SECONDS
    url = s3().generate_presigned_url(
        "get_object", Params={"Bucket": settings.S3_BUCKET, "Key": key}, ExpiresIn=expires
    )
    return {"downloadUrl": url, "expiresIn": expires}
