"""One way to forget process-wide state: caches, breaker, budgets, metrics, the usage queue.

Each module that keeps state for the life of the process registers a reset function where the
state is defined (`RegistryCache` instances register themselves). Tests call
`process_state_reset()` around every test so no test sees another's caches; operators never
need it (each cache has its own TTL and invalidation signals).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from types import MethodType
from typing import Any, TypeVar

_lock = threading.Lock()
# Bound methods are held weakly: a cache made for one test must not live forever.
_resets: list[Callable[[], Callable[[], Any] | None]] = []

ResetFn = TypeVar("ResetFn", bound=Callable[[], Any])


def register_reset(fn: ResetFn) -> ResetFn:
    """Call `fn()` on every `process_state_reset()`; usable as a decorator."""
    ref: Callable[[], Callable[[], Any] | None] = (
        weakref.WeakMethod(fn) if isinstance(fn, MethodType) else lambda: fn  # plain: strong
    )
    with _lock:
        _resets.append(ref)
    return fn


def process_state_reset() -> None:
    """Run every registered reset, in registration order; drop those whose owner is gone."""
    with _lock:
        refs = list(_resets)
    dead = []
    for ref in refs:
        fn = ref()
        if fn is None:
            dead.append(ref)
        else:
            fn()
    if dead:
        gone = {id(ref) for ref in dead}
        with _lock:
            _resets[:] = [ref for ref in _resets if id(ref) not in gone]
