"""Kernel tasks: a ping that proves the broker and a worker round-trip."""

from celery import shared_task

from conversation import clock
from conversation.request_id import current_request_id


@shared_task(name="conversation.tasks.ping")
def ping() -> dict:
    """The worker's time, and the request id it runs under (that of the request that sent it, if any)."""
    return {"serverTime": clock.isoformat(clock.now()) or "", "requestId": current_request_id()}
