"""Trust and safety on a pair: a report (which blocks, ends their live sessions and is stored for staff) and
blocks (never paired or scheduled together again), read by matching and scheduling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import groupby

from django.utils.translation import gettext_lazy as _
from mongoengine import Q

from conversation import clock, redis_keys, restrictions
from conversation.documents import reloaded
from conversation.errors import Conflict
from conversation.redis import held
from sessions_app.documents import (
    INVITATION_DECLINED,
    INVITATION_PENDING,
    LIVE_STATUSES,
    REPORT_OPEN,
    ConversationSession,
    SessionReport,
    UserBlock,
)
from sessions_app.services.lifecycle import session_end_reported

REPORT_LOCK_LEASE_SECONDS = 10  # a report's check and store run under a lock per reporter and session
REPORT_LOCK_WAIT_SECONDS = 2.0


def session_report(
    *, session: ConversationSession, user_id: str, reason: str, details: str | None
) -> ConversationSession:
    """Blocks the pair both ways, ends the session if it is live, and stores the report.

    Not by the inviter of an invitation never accepted (409 `not_reportable`). One report per reporter and
    session: a repeat is 409 `already_reported` and does nothing (a staff member may have lifted the block
    since). The report is stored last, by an upsert on (session, reporter), so that
    a call cut short (503) stored nothing and its retry does it all: the block and the ending are
    idempotent. The check and the upsert run under a Redis lock per reporter and session: there is no
    unique index (a release could not build one over the duplicates stored before), and two calls at the
    very same moment would otherwise both store.
    """
    if user_id == session.participant1_id and session.invitation in (INVITATION_PENDING, INVITATION_DECLINED):
        # Anyone may invite anyone: reporting one's own invitation, unanswered or declined, would file reports
        # and blocks against learners who never met the reporter. Its invitee may report it (unwanted).
        raise Conflict(_("You cannot report an invitation you sent that was never accepted."), "not_reportable")
    now = clock.now()
    partner = session.partner_of(user_id)
    mine = SessionReport.objects(session_id=str(session.id), reporter_id=user_id)
    busy = Conflict(_("Your report of this session is already being filed."), "already_reported")
    lock = redis_keys.report_lock(str(session.id), user_id)
    with held(lock, lease_seconds=REPORT_LOCK_LEASE_SECONDS, wait_seconds=REPORT_LOCK_WAIT_SECONDS, busy=busy):
        if mine.only("id").first() is not None:
            raise _already_reported()
        users_block(user_id=user_id, other_id=partner, session_id=str(session.id), now=now)  # ends this one too
        ended = reloaded(session)
        stored = mine.update_one(
            upsert=True, full_result=True,
            set_on_insert__reported_user_id=partner, set_on_insert__reason=reason, set_on_insert__details=details,
            set_on_insert__state=REPORT_OPEN, set_on_insert__created_at=now,
        )  # fmt: skip
    if stored.upserted_id is None:  # stored meanwhile without the lock (a lease that ran out)
        raise _already_reported()
    return ended


def _already_reported() -> Conflict:
    return Conflict(_("You have already reported this session."), "already_reported")


def users_block(*, user_id: str, other_id: str, session_id: str | None, now: dt.datetime) -> None:
    """Blocks the pair both ways, and ends what they still have together: never paired or scheduled
    together again (an invitation between them, pending or accepted, is cancelled with endReason reported)."""
    for a, b in ((user_id, other_id), (other_id, user_id)):
        UserBlock.objects(user_id=a, blocked_user_id=b).update_one(
            upsert=True, set_on_insert__session_id=session_id, set_on_insert__created_at=now
        )
    restrictions.blocks_publish(user_ids=(user_id, other_id))
    together = Q(participant1_id=user_id, participant2_id=other_id) | Q(
        participant1_id=other_id, participant2_id=user_id
    )
    for session in ConversationSession.objects(together & Q(status__in=LIVE_STATUSES)):
        session_end_reported(session=session, now=now)


def block_saved(_sender, *, document: UserBlock, **_kwargs) -> None:
    """A block saved as a document (the admin, a test): its user's pairings must see it at once too."""
    restrictions.blocks_publish(user_ids=(document.user_id,))


def blocked_ids(user_id: str) -> set[str]:
    """From MongoDB; the matcher asks `restrictions.blocked_ids`, which skips this for users without blocks."""
    return {b.blocked_user_id for b in UserBlock.objects(user_id=user_id).only("blocked_user_id")}


def blockers() -> Iterator[str]:
    """Every user who has blocked someone, once each, streamed in the unique index's order (the mirror's rebuild)."""
    return (user_id for user_id, _rows in groupby(UserBlock.objects.order_by("user_id").scalar("user_id")))


def users_blocked(*, user_id: str, other_id: str) -> bool:
    """Either of the two blocked the other (a staff block may go one way only)."""
    return bool(
        UserBlock.objects(
            Q(user_id=user_id, blocked_user_id=other_id) | Q(user_id=other_id, blocked_user_id=user_id)
        ).count()
    )
