"""A small in-process cache for registry rows read on the hot path.

Operators change registries rarely and requests read them constantly, so each process keeps what
it loaded for `ttl` seconds. A model signal calls `invalidate()` so a change made in this process
is seen at once; other processes see it within `ttl` (documented in docs/platform.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from daarion.common.process_state import register_reset

V = TypeVar("V")
_MISSING = object()


class RegistryCache(Generic[V]):
    def __init__(self, name: str, ttl: float) -> None:
        self.name = name
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        register_reset(self.invalidate)

    def get(self, key: Hashable, loader: Callable[[], V]) -> V:
        """The cached value for `key`, calling `loader()` (sync) when absent or expired."""
        now = time.monotonic()
        entry = self._entries.get(key, _MISSING)
        if entry is not _MISSING and entry[0] > now:  # type: ignore[index]
            return entry[1]  # type: ignore[index]
        generation = self._generation
        value = loader()
        with self._lock:
            # A concurrent invalidate() means `value` may be stale: return it, don't keep it.
            if generation == self._generation:
                self._entries[key] = (now + self.ttl, value)
        return value

    def peek(self, key: Hashable) -> V | None:
        """The cached value if fresh, else None (for async callers that load themselves)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, value)

    def invalidate(self, key: Hashable | None = None) -> None:
        with self._lock:
            self._generation += 1
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)
