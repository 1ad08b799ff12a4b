"""Periodic matchmaking work: expiry, reconciliation, rule relaxation (all idempotent)."""

from celery import shared_task

from matchmaking.services import closing, pairing


@shared_task(name="matchmaking.tasks.expire_requests")
def expire_requests() -> int:
    return closing.requests_expire()


@shared_task(name="matchmaking.tasks.reconcile_queues")
def reconcile_queues() -> int:
    return pairing.queues_reconcile()


@shared_task(name="matchmaking.tasks.relax_queues")
def relax_queues() -> int:
    return pairing.queues_relax()
