"""MongoDB connection (mongoengine), one client per process.

The client is created lazily and dropped in a forked child, so a Celery prefork
worker or an ASGI worker never shares the parent's sockets.
"""

from __future__ import annotations

import contextlib
import os

import mongoengine
from django.conf import settings
from pymongo.database import Database
from pymongo.uri_parser import parse_uri

DEFAULT_DB = "conversation"


def database_name(uri: str | None = None) -> str:
    return parse_uri(uri or settings.MONGODB_URI).get("database") or DEFAULT_DB


def connect() -> None:
    mongoengine.connect(
        db=database_name(),
        host=settings.MONGODB_URI,
        alias="default",
        connect=False,
        tz_aware=True,
        serverSelectionTimeoutMS=settings.MONGODB_TIMEOUT_MS,
        connectTimeoutMS=settings.MONGODB_TIMEOUT_MS,
        socketTimeoutMS=max(settings.MONGODB_TIMEOUT_MS * 3, 10_000),
        uuidRepresentation="standard",
    )


def disconnect() -> None:
    mongoengine.disconnect(alias="default")


def db() -> Database:
    return mongoengine.get_db(alias="default")


def _reconnect_in_child() -> None:
    # pymongo clients are not fork-safe: drop the inherited one, connect lazily anew.
    with contextlib.suppress(Exception):
        mongoengine.disconnect(alias="default")
    if settings.configured:
        connect()


os.register_at_fork(after_in_child=_reconnect_in_child)
