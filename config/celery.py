"""The Celery app and its whole beat table.

Every periodic task is idempotent and expires before its next run, so a slow
worker never piles up stale copies and two beats at once do no harm.
"""

from __future__ import annotations

import os

from celery import Celery

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


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **kwargs) -> None:
    sender.conf.beat_schedule = beat_schedule()
