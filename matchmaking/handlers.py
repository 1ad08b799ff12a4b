"""Matchmaking's answers to other apps' signals, connected in MatchmakingConfig.ready()."""

from __future__ import annotations

import datetime as dt

from matchmaking.selectors import requests_pending
from matchmaking.services.closing import request_cancel_if_pending
from matchmaking.services.requests import request_requeue_after_no_show
from sessions_app.documents import ConversationSession


def requeue_no_shows(
    *, sender: type, session: ConversationSession, user_ids: list[str], now: dt.datetime, **kwargs
) -> None:
    """Those who showed up for a session their partner never joined go back to the head of the queue."""
    for user_id in user_ids:
        request_requeue_after_no_show(user_id=user_id, session=session, now=now)


def cancel_requests_of_booked(*, sender: type, session: ConversationSession, now: dt.datetime, **kwargs) -> None:
    """An accepted invitation is its participants' waiting session: a search of either stops (`request.cancelled`)."""
    for request in requests_pending(limit=2, user_id__in=session.participants):
        request_cancel_if_pending(request=request)
