"""Values kept in a process's memory for a few seconds: slow-changing reads made on hot paths."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _always(_value: object) -> bool:
    return True


class TimedCache(Generic[K, V]):
    """Each value kept `seconds` after it was loaded, at most `max_entries` of them: keys may come from
    callers, so past that the cache is dropped whole. Under a thread pool two threads may both load a
    missing key; none sees a half-written entry."""

    def __init__(self, *, seconds: float, max_entries: int) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}  # key -> (monotonic time loaded, value)
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], V], *, keep: Callable[[V], bool] = _always) -> V:
        """The value of `key`, from `load()` when missing or old; a loaded value is kept only if `keep(value)`."""
        now = time.monotonic()
        found = self._entries.get(key)
        if found is not None and now - found[0] < self.seconds:
            return found[1]
        value = load()
        if keep(value):
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
