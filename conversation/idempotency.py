"""`Idempotency-Key`: a retried POST returns the first response instead of acting twice."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from conversation import redis_keys
from conversation.errors import Conflict
from conversation.redis import client

KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
IN_PROGRESS = b"__in_progress__"
RETENTION_SECONDS = 24 * 3600


def idempotent(*, user_id: str, key: str | None, call: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """Runs `call` once per (user, key) and replays its (status, body) for 24 hours."""
    if key is None:
        return call()
    if not KEY_RE.match(key):
        raise ValidationError({"Idempotency-Key": [_("Must be 1-128 characters of [A-Za-z0-9_.:-].")]})
    redis = client()
    slot = redis_keys.idempotency(user_id, key)
    if not redis.set(slot, IN_PROGRESS, nx=True, ex=RETENTION_SECONDS):
        stored = redis.get(slot)
        if stored is None or stored == IN_PROGRESS:
            raise Conflict(_("A request with this Idempotency-Key is still in progress."), "idempotency_in_progress")
        first = json.loads(stored)
        return first["status"], first["body"]
    try:
        status, body = call()
    except BaseException:
        redis.delete(slot)  # a refused call did nothing: a retry may act
        raise
    redis.set(slot, json.dumps({"status": status, "body": body}), ex=RETENTION_SECONDS)
    return status, body
