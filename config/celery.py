"""The Celery app and its whole beat table.

Every periodic task is idempotent and expires before its next run, so a slow
worker never piles up stale copies and two beats at once do no harm.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("conversation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def beat_schedule() -> dict[str, dict]:
    from django.conf import settings

    sweep = float(settings.SWEEP_INTERVAL_SECONDS)
    return {
        "expire-matchmaking-requests": {
            "task": "matchmaking.tasks.expire_requests",
            "schedule": sweep,
            "options": {"expires": sweep * 0.9},
        },
        "reconcile-matchmaking-queues": {
            "task": "matchmaking.tasks.reconcile_queues",
            "schedule": sweep * 3,
            "options": {"expires": sweep * 2.7},
        },
        "relax-matchmaking-queues": {
            "task": "matchmaking.tasks.relax_queues",
            "schedule": sweep,
            "options": {"expires": sweep * 0.9},
        },
        "sweep-sessions": {
            "task": "sessions_app.tasks.sweep_sessions",
            "schedule": sweep,
            "options": {"expires": sweep * 0.9},
        },
        "sweep-recording-uploads": {
            "task": "sessions_app.tasks.sweep_recording_uploads",
            "schedule": 60.0,
            "options": {"expires": 54.0},
        },
    }


REQUEST_ID_HEADER = "x_request_id"


@before_task_publish.connect
def _send_request_id(headers: dict | None = None, **kwargs) -> None:
    """A task sent while serving a request carries the request's id to the worker."""
    from conversation.request_id import current_request_id

    rid = current_request_id()
    if headers is not None and rid:
        headers[REQUEST_ID_HEADER] = rid


@task_prerun.connect
def _restore_request_id(task=None, **kwargs) -> None:
    from conversation.request_id import set_request_id

    task.request.request_id_token = set_request_id(getattr(task.request, REQUEST_ID_HEADER, None))


@task_postrun.connect
def _forget_request_id(task=None, **kwargs) -> None:
    from conversation.request_id import reset_request_id

    token = getattr(task.request, "request_id_token", None)
    if token is not None:
        reset_request_id(token)


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **kwargs) -> None:
    sender.conf.beat_schedule = beat_schedule()
