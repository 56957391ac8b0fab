"""A small in-process cache for registry rows read on the hot path.

Operators change registries rarely and requests read them constantly, so each process keeps what
it loaded for `ttl` seconds. A model signal calls `invalidate()` so a change made in this process
is seen at once; a change made in another process moves the shared registry stamp
(daarion/common/registry_stamp.py), which drops every cache of this process within
`REGISTRY_STAMP_CHECK_SECONDS` (docs/platform.md). The TTL stays as a safety net.

If a reload fails on a database error (the database is down), the value loaded last is served
for at most `REGISTRY_STALE_MAX_SECONDS` after it was loaded (10 min), retried at most once a
second, so requests that need only the registry keep working through an outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError

from daarion.common.process_state import register_reset
from daarion.common.registry_stamp import on_registry_change, registry_stamp_check

logger = logging.getLogger(__name__)

V = TypeVar("V")
_MISSING = object()
STALE_RETRY_SECONDS = 1.0  # while serving a stale value, try the database again this often
MAX_OUTAGE_COPIES = 10_000  # keys whose last value is kept for an outage, per cache


class RegistryCache(Generic[V]):
    def __init__(self, name: str, ttl: float) -> None:
        self.name = name
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[float, V]] = {}
        # The last value each key loaded, with its load time: kept across invalidations, it is
        # what an outage serves (see `get`).
        self._last_good: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        register_reset(self.reset)
        on_registry_change(self.invalidate)

    def get(self, key: Hashable, loader: Callable[[], V]) -> V:
        """The cached value for `key`, calling `loader()` (sync) when absent or expired."""
        registry_stamp_check()  # coalesced: a clock comparison unless the interval has passed
        now = time.monotonic()
        entry = self._entries.get(key, _MISSING)
        if entry is not _MISSING and entry[0] > now:  # type: ignore[index]
            return entry[1]  # type: ignore[index]
        generation = self._generation
        try:
            value = loader()
        except (OperationalError, InterfaceError):
            last = self._last_good.get(key)
            if last is None or now - last[0] > settings.REGISTRY_STALE_MAX_SECONDS:
                raise
            logger.warning("%s: database unavailable, serving the value loaded last", self.name)
            with self._lock:
                if generation == self._generation:
                    self._entries[key] = (now + min(self.ttl, STALE_RETRY_SECONDS), last[1])
            return last[1]
        with self._lock:
            self._keep_last_good(key, now, value)
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
            now = time.monotonic()
            self._entries[key] = (now + self.ttl, value)
            self._keep_last_good(key, now, value)

    def _keep_last_good(self, key: Hashable, now: float, value: V) -> None:
        # Under self._lock. Bounded: past the limit, copies too old to be served go first,
        # then the oldest half.
        self._last_good.pop(key, None)
        if len(self._last_good) >= MAX_OUTAGE_COPIES:
            limit = now - settings.REGISTRY_STALE_MAX_SECONDS
            kept = {k: v for k, v in self._last_good.items() if v[0] >= limit}
            if len(kept) >= MAX_OUTAGE_COPIES:
                kept = dict(list(kept.items())[len(kept) // 2 :])
            self._last_good = kept
        self._last_good[key] = (now, value)

    def invalidate(self, key: Hashable | None = None) -> None:
        with self._lock:
            self._generation += 1
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def reset(self) -> None:
        """Forget everything, the outage copy too (tests, between cases)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._last_good.clear()
