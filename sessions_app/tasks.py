"""Periodic session work: the sweeper and the upload sweep (idempotent, safe to run twice at once)."""

from dataclasses import asdict

from celery import shared_task

from conversation import clock
from conversation.health import beat_mark
from sessions_app.services.recording import recording_uploads_sweep
from sessions_app.services.sweeper import sessions_sweep


@shared_task(name="sessions_app.tasks.sweep_sessions")
def sweep_sessions() -> dict:
    result = asdict(sessions_sweep())
    beat_mark(clock.now())  # the dashboard tells from it whether beat and a worker are running
    return result


@shared_task(name="sessions_app.tasks.sweep_recording_uploads")
def sweep_recording_uploads() -> int:
    return recording_uploads_sweep()
