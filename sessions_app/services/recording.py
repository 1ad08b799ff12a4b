"""Audio recordings in S3, kept only while both participants consent.

Clients upload straight to S3 with a presigned POST under `uploads/<sessionId>/`; `complete` checks the
object is audio by its first bytes and copies it to `recordings/<sessionId>/`, a prefix no upload policy
covers, so a completed recording cannot be overwritten. Uploads are deleted once a recording is kept, and
never-completed ones by `recording_uploads_sweep` (and the bucket's lifecycle rule on `uploads/`).
A withdrawal of consent deletes the session's recording and its uploads, and voids every upload key given
before it (`rec:issued`): audio sent under such a key, whenever it is sent, can never become the recording.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import Throttled, ValidationError

from conversation import clock, redis_keys
from conversation.documents import reloaded
from conversation.errors import Conflict, NotFound
from conversation.redis import client
from conversation.s3 import s3
from sessions_app.documents import ConversationSession

AUDIO_TYPES = {"audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a", "audio/mpeg": "mp3", "audio/wav": "wav"}
UPLOADS_PREFIX = "uploads/"
SNIFF_BYTES = 12


def _upload_prefix(session: ConversationSession) -> str:
    return f"{UPLOADS_PREFIX}{session.id}/"


def _recording_prefix(session: ConversationSession) -> str:
    return f"recordings/{session.id}/"


def _url(key: str) -> str:
    return f"s3://{settings.S3_BUCKET}/{key}"


def _key_of(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    return parsed.path.lstrip("/") if parsed.scheme == "s3" else None


def _consent_missing() -> Conflict:
    return Conflict(_("Both participants must consent to recording."), "consent_missing")


def _recording_exists() -> Conflict:
    return Conflict(_("This session's recording is already stored."), "recording_exists")


def _no_upload() -> ValidationError:
    return ValidationError({"key": [_("No uploaded object under this key.")]})


def _both_consented(session: ConversationSession) -> bool:
    consent = session.recording_consent
    return bool(consent and consent.participant1 and consent.participant2)


def audio_type_of(head: bytes) -> str | None:
    """The audio container a file's first bytes announce, or None: a label proves nothing."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm"  # EBML: WebM / Matroska
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"  # an ID3 tag, or an MPEG audio frame sync
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    return None


def consent_set(*, session: ConversationSession, user_id: str, consent: bool) -> ConversationSession:
    """Sets the caller's own flag. Withdrawing deletes a stored recording and the session's uploads, and voids
    the upload keys given so far (their policies stay usable on S3 until they expire, but what is sent under
    them can never be completed)."""
    field = f"set__recording_consent__participant{session.slot_of(user_id)}"
    ConversationSession.objects(id=session.id).update_one(**{field: consent}, set__updated_at=clock.now())
    session.reload()
    if not consent:
        recording_delete(session=session)  # MongoDB and S3 only: done even with Redis gone (then 503)
        # After the MongoDB write: an upload URL given meanwhile was registered before this delete, or reads the
        # withdrawal after registering (`upload_url`); a `complete` under way reads this delete after storing.
        client().delete(redis_keys.recording_issued(str(session.id)))
        uploads_delete(prefix=_upload_prefix(session))
        session.reload()
    return session


def recording_delete(*, session: ConversationSession) -> None:
    if _key_of(session.audio_recording_url) is not None:
        _recording_unset(session, session.audio_recording_url)


def _recording_unset(session: ConversationSession, url: str) -> None:
    """Clears the session's recording while it is `url`, then deletes its object: the reference goes first, so
    a failed delete leaves an orphan object, never a visible one."""
    ConversationSession.objects(id=session.id, audio_recording_url=url).update_one(
        unset__audio_recording_url=True, set__updated_at=clock.now()
    )
    s3().delete_object(Bucket=settings.S3_BUCKET, Key=_key_of(url))


def _check_upload_allowed(session: ConversationSession, now: dt.datetime) -> None:
    if not _both_consented(session):
        raise _consent_missing()
    if session.audio_recording_url:
        raise _recording_exists()
    if session.started_at is None:
        raise Conflict(_("Recording is possible once the session has started."), "not_active")
    ended = session.ended_at
    if ended and now > ended + dt.timedelta(seconds=settings.RECORDING_UPLOAD_WINDOW_SECONDS):
        raise Conflict(_("The upload window of this session has closed."), "upload_window_closed")


def _count_upload(session: ConversationSession, user_id: str) -> None:
    """At most RECORDING_MAX_UPLOADS_PER_PARTICIPANT URLs, for as long as uploads are possible at all."""
    key = redis_keys.recording_uploads(str(session.id), user_id)
    pipe = client().pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, _uploads_ttl(), nx=True)
    pipe.ttl(key)
    count, _expire_set, left = pipe.execute()
    if count > settings.RECORDING_MAX_UPLOADS_PER_PARTICIPANT:
        raise Throttled(wait=max(left, 1), detail=str(_("Too many recording uploads for this session.")))


def _uploads_ttl() -> int:
    """How long a session's upload bookkeeping lives: as long as uploads are possible at all."""
    return settings.SESSION_MAX_DURATION_SECONDS + settings.RECORDING_UPLOAD_WINDOW_SECONDS


def _void_key() -> ValidationError:
    detail = _("This upload key is no longer valid (consent was withdrawn since it was given): ask for a new one.")
    return ValidationError({"key": [detail]})


def upload_url(*, session: ConversationSession, user_id: str, content_type: str) -> dict:
    """A presigned POST whose policy bounds the size and the type; its key is registered for `complete` (until a
    withdrawal of consent voids it) and for the sweep."""
    _check_upload_allowed(session, clock.now())
    _count_upload(session, user_id)
    key = f"{_upload_prefix(session)}{secrets.token_urlsafe(18)}.{AUDIO_TYPES[content_type]}"
    expires = settings.RECORDING_URL_TTL_SECONDS
    post = s3().generate_presigned_post(
        Bucket=settings.S3_BUCKET,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[
            ["content-length-range", 1, settings.RECORDING_MAX_BYTES],
            ["starts-with", "$Content-Type", "audio/"],
        ],
        ExpiresIn=expires,
    )
    # Deleted once the policy has expired plus as long again to call `complete`: completed or not, an
    # upload is never the kept recording (that is a copy), so the sweep deletes every one.
    issued = redis_keys.recording_issued(str(session.id))
    pipe = client().pipeline(transaction=False)
    pipe.zadd(redis_keys.recording_pending(), {key: time.time() + 2 * expires})
    pipe.sadd(issued, key)
    pipe.expire(issued, max(_uploads_ttl(), 2 * expires))
    pipe.execute()
    # Registered, then consent read again: a withdrawal since the check above voids the key here, or its own
    # delete of the registered keys, which comes after its MongoDB write, removes it.
    if not _both_consented(reloaded(session)):
        client().srem(issued, key)
        raise _consent_missing()
    return {
        "uploadUrl": post["url"],
        "method": "POST",
        "fields": post["fields"],
        "key": key,
        "expiresIn": expires,
        "maxBytes": settings.RECORDING_MAX_BYTES,
    }


def _checked_upload(key: str) -> str:
    """The audio type of an uploaded object of this session, or a 400 naming what is wrong with it."""
    try:
        head = s3().head_object(Bucket=settings.S3_BUCKET, Key=key)
    except ClientError:
        raise _no_upload() from None
    if not 0 < head.get("ContentLength", 0) <= settings.RECORDING_MAX_BYTES:
        problem = _("The object must be 1 to %(max)d bytes.") % {"max": settings.RECORDING_MAX_BYTES}
    else:
        first = s3().get_object(Bucket=settings.S3_BUCKET, Key=key, Range=f"bytes=0-{SNIFF_BYTES - 1}")
        sniffed = audio_type_of(first["Body"].read())
        if sniffed is not None:
            return sniffed
        problem = _("The object is not audio (WebM, Ogg, MP4, MP3 or WAV).")
    s3().delete_object(Bucket=settings.S3_BUCKET, Key=key)
    raise ValidationError({"key": [problem]})


def upload_complete(*, session: ConversationSession, key: str) -> ConversationSession:
    """Checks the uploaded object, copies it where no upload can reach, then stores that copy's URL once."""
    if not key.startswith(_upload_prefix(session)) or ".." in key:
        raise ValidationError({"key": [_("Not an upload key of this session.")]})
    if session.audio_recording_url:
        raise _recording_exists()
    issued = redis_keys.recording_issued(str(session.id))
    if not client().sismember(issued, key):
        raise _void_key()
    content_type = _checked_upload(key)
    final = f"{_recording_prefix(session)}{key.rsplit('/', 1)[-1]}"
    try:
        s3().copy_object(
            Bucket=settings.S3_BUCKET,
            Key=final,
            CopySource={"Bucket": settings.S3_BUCKET, "Key": key},
            ContentType=content_type,
            MetadataDirective="REPLACE",
        )
    except ClientError:  # the upload went meanwhile: a concurrent `complete` stored it and cleared the uploads
        session.reload()
        if session.audio_recording_url == _url(final):
            return session
        raise _no_upload() from None
    # audio_recording_url=None: a concurrent `complete` of another upload may have won; the first one stays.
    stored = ConversationSession.objects(
        id=session.id,
        recording_consent__participant1=True,
        recording_consent__participant2=True,
        audio_recording_url=None,
    ).update_one(set__audio_recording_url=_url(final), set__updated_at=clock.now())
    if not stored:
        session.reload()
        if session.audio_recording_url == _url(final):
            return session  # the same upload, completed by a concurrent call (a retry): that copy is the recording
        s3().delete_object(Bucket=settings.S3_BUCKET, Key=final)
        if session.audio_recording_url:
            raise _recording_exists()
        raise _consent_missing()
    # Stored, then the key read again: a withdrawal (then a new consent) since the check above voided it, and
    # looked for a recording to delete before this one was stored.
    if not client().sismember(issued, key):
        _recording_unset(session, _url(final))
        raise _void_key()
    uploads_delete(prefix=_upload_prefix(session))
    session.reload()
    return session


def uploads_delete(*, prefix: str) -> int:
    """Deletes every object under `prefix` (a session's uploads); returns how many."""
    deleted = 0
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=settings.S3_BUCKET, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3().delete_objects(Bucket=settings.S3_BUCKET, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


def recording_uploads_sweep(*, now: float | None = None, batch: int = 500) -> int:
    """Deletes the uploads whose time is up (idempotent: a second run finds them gone); returns how many."""
    now = time.time() if now is None else now
    due = [k.decode() for k in client().zrangebyscore(redis_keys.recording_pending(), "-inf", now, 0, batch)]
    for start in range(0, len(due), 1000):
        objects = [{"Key": key} for key in due[start : start + 1000]]
        s3().delete_objects(Bucket=settings.S3_BUCKET, Delete={"Objects": objects, "Quiet": True})
    if due:
        client().zrem(redis_keys.recording_pending(), *due)
    return len(due)


def download_url(*, session: ConversationSession) -> dict:
    key = _key_of(session.audio_recording_url)
    if key is None:
        raise NotFound(_("This session has no recording."))
    expires = settings.RECORDING_URL_TTL_SECONDS
    url = s3().generate_presigned_url(
        "get_object", Params={"Bucket": settings.S3_BUCKET, "Key": key}, ExpiresIn=expires
    )
    return {"downloadUrl": url, "expiresIn": expires}
