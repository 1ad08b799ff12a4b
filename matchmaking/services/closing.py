"""Ending a pending request by compare-and-set: cancelled by its user (or for them), or expired."""

from __future__ import annotations

import contextlib
import datetime as dt

from django.utils.translation import gettext_lazy as _

from conversation import clock, events, metrics
from conversation.documents import Where, reloaded
from conversation.errors import Conflict
from matchmaking.documents import CANCELLED, EXPIRED, PENDING, MatchmakingRequest
from matchmaking.payloads import request_json
from matchmaking.selectors import requests_pending
from matchmaking.services import queue


def request_cancel(*, request: MatchmakingRequest) -> MatchmakingRequest:
    """pending -> cancelled; a cancel racing a match loses cleanly (409 not_pending)."""
    cancelled = _request_close(request=request, status=CANCELLED)
    if cancelled is None:
        raise Conflict(_("The request is not pending."), "not_pending")
    return cancelled


_CLOSED_EVENTS = {CANCELLED: "request.cancelled", EXPIRED: "request.expired"}


def _request_close(*, request: MatchmakingRequest, status: str) -> MatchmakingRequest | None:
    """pending -> `status` (cancelled, expired) by compare-and-set, out of its queue, its user told; None if
    it was no longer pending."""
    if not Where(MatchmakingRequest, id=request.id, status=PENDING).update_one(set__status=status):
        return None
    closed = reloaded(request)
    queue.dequeue(closed)
    metrics.count("matchmaking_requests_total", status)
    events.push(events.user_group(closed.user_id), _CLOSED_EVENTS[status], {"request": request_json(closed)})
    return closed


def request_cancel_if_pending(*, request: MatchmakingRequest) -> MatchmakingRequest:
    """`request_cancel` for a request that may be matched or cancelled already (no 409): as it stands now."""
    with contextlib.suppress(Conflict):
        return request_cancel(request=request)
    return reloaded(request)


def requests_expire(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Marks pending requests past expiresAt expired, dequeues them and tells their users."""
    now = now or clock.now()
    count = 0
    for request in requests_pending(expires_at__lte=now, limit=limit):
        count += _request_close(request=request, status=EXPIRED) is not None
    return count
