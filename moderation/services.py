"""Moderation acts: review reports, suspend and lift, create and lift blocks. Each one is audited.

`actor` is whoever acts: a Django staff user (the admin) or a staff token's user (the API); the
documents and the audit trail record `mongoadmin.audit.actor_name(actor)`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from django.utils.translation import gettext as _
from mongoengine import Q

from conversation import clock, events, redis_keys, restrictions
from conversation.consumers import CLOSE_FORBIDDEN
from conversation.documents import reloaded
from conversation.errors import Conflict
from conversation.redis import held
from matchmaking.documents import PENDING, MatchmakingRequest
from matchmaking.services.closing import request_cancel
from moderation.documents import Suspension
from moderation.selectors import suspension_active
from mongoadmin.audit import actor_name, audit_record, snapshot
from sessions_app.documents import LIVE_STATUSES, REPORT_OPEN, ConversationSession, SessionReport, UserBlock
from sessions_app.services import lifecycle, safety

log = logging.getLogger(__name__)

REPORT_TYPE, SUSPENSION_TYPE, BLOCK_TYPE = (
    "sessions_app.SessionReport",
    "moderation.Suspension",
    "sessions_app.UserBlock",
)


def _audit(*, actor, document_type: str, document, action: str, before: dict | None, gone: bool = False) -> None:
    after = None if gone else snapshot(reloaded(document))
    audit_record(
        user=actor, document_type=document_type, document_id=str(document.pk), action=action,
        before=before, after=after, label=str(document)[:200],
    )  # fmt: skip


# Reports.
def report_assign(*, report: SessionReport, actor, assignee: str | None = None) -> SessionReport:
    """Sets who reviews an open report (the actor by default); 409 not_open once resolved."""
    before = snapshot(report)
    name = assignee or actor_name(actor)
    if not SessionReport.objects(id=report.id, state=REPORT_OPEN).update_one(set__assignee=name):
        raise Conflict(_("This report is already resolved."), "not_open")
    _audit(actor=actor, document_type=REPORT_TYPE, document=report, action="assign_report", before=before)
    return reloaded(report)


def report_resolve(*, report: SessionReport, outcome: str, notes: str | None, actor) -> SessionReport:
    """open -> actioned | dismissed, compare-and-set: of two staff resolving at once, one wins, the other gets 409."""
    before = snapshot(report)
    name = actor_name(actor)
    updates = {"set__state": outcome, "set__resolved_at": clock.now(), "set__resolved_by": name}
    if notes:
        updates["set__notes"] = notes
    if report.assignee is None:
        updates["set__assignee"] = name
    if not SessionReport.objects(id=report.id, state=REPORT_OPEN).update_one(**updates):
        raise Conflict(_("This report is already resolved."), "not_open")
    _audit(actor=actor, document_type=REPORT_TYPE, document=report, action=f"resolve_report_{outcome}", before=before)
    return reloaded(report)


def reports_resolve(*, reports: list[SessionReport], outcome: str, notes: str | None, actor) -> int:
    """Bulk resolve; reports resolved by someone else meanwhile are skipped. Returns how many this call resolved."""
    resolved = 0
    for report in reports:
        try:
            report_resolve(report=report, outcome=outcome, notes=notes, actor=actor)
        except Conflict:
            continue
        resolved += 1
    return resolved


# Suspensions.
def _publish(user_id: str, now: dt.datetime) -> None:
    """Mirrors the user's effective suspension (the longest active one, or none) to every process."""
    active = [s for s in Suspension.objects(user_id=user_id, lifted_at=None) if s.is_active(now)]
    if not active:
        restrictions.restriction_publish(user_id=user_id, until=None)
    elif any(s.until is None for s in active):
        restrictions.restriction_publish(user_id=user_id, until=restrictions.UNTIL_LIFTED)
    else:
        restrictions.restriction_publish(user_id=user_id, until=max(s.until for s in active).timestamp())


def _take_effect(user_id: str) -> None:
    """What a suspension does beyond refusing requests: leave the queue, close sockets, end live sessions.

    Order matters to the sockets: `request.cancelled` reaches the lobby socket before the 4403 close,
    and the 4403 close reaches the user's session sockets before `session.ended` (which closes with 4410).
    """
    for request in MatchmakingRequest.objects(user_id=user_id, status=PENDING):
        with contextlib.suppress(Conflict):  # matched or expired meanwhile; its session is ended below
            request_cancel(request=request)
    events.close_user_sockets(user_id, code=CLOSE_FORBIDDEN)
    live = ConversationSession.objects(
        (Q(participant1_id=user_id) | Q(participant2_id=user_id)) & Q(status__in=LIVE_STATUSES)
    )
    for session in live:
        lifecycle.session_end_reported(session=session)


def _suspensions_of(user_id: str) -> contextlib.AbstractContextManager[None]:
    """One change at a time to a user's suspensions (created or lifted): of two staff suspending at once, one
    creates it and the other finds it (it used to leave two, and lifting one left the user suspended)."""
    busy = Conflict(_("Another change to this user's suspension is under way: try again."), "suspension_in_progress")
    return held(redis_keys.suspension_lock(user_id), lease_seconds=30, wait_seconds=5, busy=busy)


def suspension_create(
    *, user_id: str, reason: str, until: dt.datetime | None, actor, now: dt.datetime | None = None
) -> Suspension:
    """Suspends `user_id` now: refused everywhere within a second, out of the queue, live sessions ended.

    The act is stored and audited first; its effects (Redis mirror, queue, sockets, sessions) follow and are
    idempotent. If they fail (Redis gone: 503), the staff member's retry finds the suspension stored and
    carries them out before answering 409 `already_suspended`.
    """
    now = now or clock.now()
    with _suspensions_of(user_id):
        if suspension_active(user_id=user_id, now=now) is None:
            suspension = Suspension(
                user_id=user_id, reason=reason, until=until, created_by=actor_name(actor), created_at=now
            )
            suspension.save(force_insert=True)
            _audit(actor=actor, document_type=SUSPENSION_TYPE, document=suspension, action="suspend", before=None)
        else:
            suspension = None
        _publish(user_id, now)  # after the MongoDB write: a racing mirror rebuild reads it or is aborted
        _take_effect(user_id)
    if suspension is None:
        raise Conflict(_("This user is already suspended: lift that suspension first."), "already_suspended")
    return suspension


def suspension_lift(*, suspension: Suspension, actor, now: dt.datetime | None = None) -> Suspension:
    """Ends a suspension now (compare-and-set on `liftedAt`); 409 already_lifted if someone did it first."""
    now = now or clock.now()
    before = snapshot(suspension)
    with _suspensions_of(suspension.user_id):
        if not Suspension.objects(id=suspension.id, lifted_at=None).update_one(
            set__lifted_at=now, set__lifted_by=actor_name(actor)
        ):
            raise Conflict(_("This suspension was already lifted."), "already_lifted")
        _publish(suspension.user_id, now)
    _audit(actor=actor, document_type=SUSPENSION_TYPE, document=suspension, action="lift_suspension", before=before)
    return reloaded(suspension)


# Blocks (stored both ways). Scheduling reads them from MongoDB, and matching does for every user Redis flags as
# having blocks (users_block flags them), so a new block holds at once and a lifted one stops at once.
def block_create(*, user_id: str, other_id: str, actor) -> UserBlock:
    if user_id == other_id:
        raise ValueError("a user cannot block themself")
    safety.users_block(user_id=user_id, other_id=other_id, session_id=None, now=clock.now())
    block = UserBlock.objects(user_id=user_id, blocked_user_id=other_id).first()
    _audit(actor=actor, document_type=BLOCK_TYPE, document=block, action="create_block", before=None)
    return block


def block_lift(*, block: UserBlock, actor) -> int:
    """Removes the pair both ways; returns how many rows went (0 if someone lifted it first)."""
    before = snapshot(block)
    pair = [(block.user_id, block.blocked_user_id), (block.blocked_user_id, block.user_id)]
    removed = sum(UserBlock.objects(user_id=a, blocked_user_id=b).delete() for a, b in pair)
    if removed:
        _audit(actor=actor, document_type=BLOCK_TYPE, document=block, action="lift_block", before=before, gone=True)
    return removed
