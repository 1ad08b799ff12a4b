"""Periodic session work: the sweeper and the upload sweep (idempotent, safe to run twice at once)."""

from dataclasses import asdict

from celery import shared_task

from sessions_app.services.recording import recording_uploads_sweep
from sessions_app.services.sweeper import sessions_sweep


@shared_task(name="sessions_app.tasks.sweep_sessions")
def sweep_sessions() -> dict:
    return asdict(sessions_sweep())


@shared_task(name="sessions_app.tasks.sweep_recording_uploads")
def sweep_recording_uploads() -> int:
    return recording_uploads_sweep()
