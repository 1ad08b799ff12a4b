"""One swappable clock, so tests drive minute-scale timers without sleeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

_now: Callable[[], dt.datetime] | None = None


def now() -> dt.datetime:
    """Current UTC time with millisecond precision (what MongoDB stores)."""
    value = _now() if _now is not None else dt.datetime.now(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def timestamp() -> float:
    return now().timestamp()


def set_clock(func: Callable[[], dt.datetime] | None) -> None:
    global _now
    _now = func


def isoformat(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
