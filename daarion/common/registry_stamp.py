"""One version stamp for every registry, shared by all processes of a deployment.

Each process caches registry rows (daarion/common/registry_cache.py). A change made in this
process invalidates its caches at once (model signals); for every other process — admin in
another worker, `manage.py registry import`, the db_worker — the change bumps this stamp after
its transaction commits, and each process reads the stamp at most every
`REGISTRY_STAMP_CHECK_SECONDS` (0.5 s). When it differs from the value seen last, every registry
cache of the process is dropped and the next read loads synchronously: the first request after
the check uses the new registry. Guarantee (docs/platform.md): a committed change is used by
every process within `REGISTRY_STAMP_CHECK_SECONDS` plus one stamp read (1 s by default).

Where the stamp lives: Redis (the default Django cache) when REDIS_URL is set, else a PostgreSQL
sequence (`daarion_registry_stamp`, migration daarion 0002) — `nextval` is not transactional, so
it is called only after commit. Reading is coalesced: the hot path costs one `time.monotonic()`
comparison; one request per interval pays one small read (off the event loop, waited for at most
MAX_REQUEST_WAIT). A failed read (database or Redis down) keeps the caches as they are and is
retried after FAILED_READ_BACKOFF.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from types import MethodType
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction

from daarion.common.db import release_connection
from daarion.common.process_state import register_reset

logger = logging.getLogger(__name__)

SEQUENCE = "daarion_registry_stamp"
CACHE_KEY = "registry-stamp"

_lock = threading.Lock()
_read_lock = threading.Lock()
_listeners: list[Callable[[], Callable[[], Any] | None]] = []
_seen: object = None  # the stamp value the caches of this process reflect (None: unknown)
_checked_at = -float("inf")  # monotonic time the last read *started*
_inflight: asyncio.Future | None = None
FAILED_READ_BACKOFF = 5.0  # after a failed read (store down), wait this long before the next
MAX_REQUEST_WAIT = 0.5  # a request waits at most this long for a slow read, then goes on


def _interval() -> float:
    return settings.REGISTRY_STAMP_CHECK_SECONDS


def _uses_redis() -> bool:
    """The stamp is kept in the default cache when that cache is shared (Redis)."""
    return "redis" in str(settings.CACHES["default"]["BACKEND"]).lower()


def on_registry_change(fn: Callable[[], Any]) -> None:
    """Call `fn()` when another process changed a registry (bound methods held weakly)."""
    ref: Callable[[], Callable[[], Any] | None] = (
        weakref.WeakMethod(fn) if isinstance(fn, MethodType) else lambda: fn
    )
    with _lock:
        _listeners.append(ref)


def _notify() -> None:
    with _lock:
        refs = list(_listeners)
    for ref in refs:
        fn = ref()
        if fn is not None:
            fn()


# --- writing -------------------------------------------------------------------------------


def _bump() -> None:
    try:
        if _uses_redis():
            from django.core.cache import cache

            cache.add(CACHE_KEY, 0, timeout=None)
            cache.incr(CACHE_KEY)
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT nextval('daarion_registry_stamp')")
    except Exception:  # the change is saved; other processes then see it within the TTL
        logger.warning("registry stamp: bump failed", exc_info=True)


def registry_changed() -> None:
    """A registry row changed: tell the other processes once this transaction commits."""
    transaction.on_commit(_bump)


# --- reading -------------------------------------------------------------------------------


def _read() -> object:
    if _uses_redis():
        from django.core.cache import cache

        return cache.get(CACHE_KEY, 0)
    # Inside a transaction (a sync caller's atomic block) a failed read must not abort it.
    savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with savepoint, connection.cursor() as cursor:
        cursor.execute("SELECT last_value, is_called FROM daarion_registry_stamp")
        last_value, is_called = cursor.fetchone()
    return last_value if is_called else 0


def registry_stamp_due() -> bool:
    return time.monotonic() - _checked_at >= _interval()


def registry_stamp_check() -> None:
    """Sync: read the stamp if the interval has passed; drop the caches if it moved."""
    global _seen, _checked_at
    if not registry_stamp_due():
        return
    if not _read_lock.acquire(blocking=False):  # another thread is reading it right now
        return
    try:
        if not registry_stamp_due():  # another thread just read it
            return
        started = time.monotonic()
        try:
            value = _read()
        except Exception:
            logger.warning("registry stamp: read failed; caches kept", exc_info=True)
            # Not again for a while: in an outage each read may wait for the connect timeout.
            _checked_at = started + max(FAILED_READ_BACKOFF - _interval(), 0.0)
            return
        finally:
            if not _uses_redis():
                release_connection()
        changed = value != _seen
        _seen = value
        _checked_at = started
    finally:
        _read_lock.release()
    if changed:
        _notify()


async def registry_stamp_acheck() -> None:
    """Async: the same, off the event loop; concurrent callers share one read."""
    global _inflight
    if not registry_stamp_due():
        return
    inflight = _inflight
    loop = asyncio.get_running_loop()
    if inflight is None or inflight.done() or inflight.get_loop() is not loop:
        inflight = _inflight = asyncio.ensure_future(
            sync_to_async(registry_stamp_check, thread_sensitive=False)()
        )
    # Bounded: a slow store (an outage's connect timeout) must not hold requests; the read goes
    # on and drops the caches when it returns.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(inflight), MAX_REQUEST_WAIT)


@register_reset
def _reset() -> None:
    global _seen, _checked_at, _inflight
    with _lock:
        _seen = None
        _checked_at = -float("inf")
        _inflight = None
