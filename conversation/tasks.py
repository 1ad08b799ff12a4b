"""Kernel tasks: a ping that proves the broker and a worker round-trip."""

from celery import shared_task

from conversation import clock


@shared_task(name="conversation.tasks.ping")
def ping() -> str:
    return clock.isoformat(clock.now()) or ""
