"""`Idempotency-Key`: a retried POST returns the first response instead of acting twice.

The first response is stored with a hash of the body that produced it: the same key with
another body is a client bug, answered 422 `idempotency_key_reused` rather than a replay.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError

from conversation import redis_keys
from conversation.errors import Conflict, IdempotencyKeyReused
from conversation.redis import client, delete_if_equals, set_if_equals

KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
IN_PROGRESS = b"__in_progress__"
# How long a call in progress holds its key: past any request's run, short enough that a key whose process
# died mid-call (its marker never replaced or deleted) is usable again within a minute, not a day.
IN_PROGRESS_SECONDS = 60
RETENTION_SECONDS = 24 * 3600
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict
    replayed: bool = False


def body_fingerprint(body: Any) -> str:
    """Key order and spacing do not make another body; values do."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(*, user_id: str, key: str | None, body: Any, call: Callable[[], tuple[int, dict]]) -> Outcome:
    """Runs `call` once per (user, key) and replays its (status, body) for 24 hours to the same body."""
    if key is None:
        return Outcome(*call())
    if not KEY_RE.match(key):
        raise ValidationError({"Idempotency-Key": [_("Must be 1-128 characters of [A-Za-z0-9_.:-].")]})
    fingerprint = body_fingerprint(body)
    redis = client()
    slot = redis_keys.idempotency(user_id, key)
    # This call's own marker: a call that outlives IN_PROGRESS_SECONDS must not then replace or delete the slot
    # of the retry that took the key after it.
    marker = f"{IN_PROGRESS.decode()}:{uuid.uuid4().hex}"
    if not redis.set(slot, marker, nx=True, ex=IN_PROGRESS_SECONDS):
        stored = redis.get(slot)
        if stored is None or stored.startswith(IN_PROGRESS):
            raise Conflict(_("A request with this Idempotency-Key is still in progress."), "idempotency_in_progress")
        first = json.loads(stored)
        if first.get("fingerprint") != fingerprint:
            raise IdempotencyKeyReused()
        return Outcome(first["status"], first["body"], replayed=True)
    try:
        status, response_body = call()
    except BaseException:
        delete_if_equals(slot, marker)  # a refused call did nothing: a retry may act
        raise
    stored = {"status": status, "body": response_body, "fingerprint": fingerprint}
    set_if_equals(slot, marker, json.dumps(stored), ttl_seconds=RETENTION_SECONDS)
    return Outcome(status, response_body)
