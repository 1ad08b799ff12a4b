"""Periodic session work: the sweeper (idempotent, safe to run twice at once)."""

from dataclasses import asdict

from celery import shared_task

from sessions_app.services.sweeper import sessions_sweep


@shared_task(name="sessions_app.tasks.sweep_sessions")
def sweep_sessions() -> dict:
    return asdict(sessions_sweep())
