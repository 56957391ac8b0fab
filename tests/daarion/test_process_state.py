"""One reset for process-wide state: caches register themselves, other state registers a reset."""

from __future__ import annotations

import gc

from daarion.common import process_state
from daarion.common.process_state import process_state_reset, register_reset
from daarion.common.registry_cache import RegistryCache
from llm.breaker import breaker


class _State:
    def __init__(self) -> None:
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1


def test_a_registry_cache_is_reset_without_registering_it():
    cache: RegistryCache[int] = RegistryCache("test-cache", ttl=60.0)
    cache.put("key", 1)
    process_state_reset()
    assert cache.peek("key") is None


def test_a_registered_method_runs_until_its_owner_is_gone():
    state = _State()
    register_reset(state.reset)
    process_state_reset()
    assert state.resets == 1
    del state
    gc.collect()
    assert any(ref() is None for ref in process_state._resets)
    process_state_reset()
    assert all(ref() is not None for ref in process_state._resets)  # dead entries dropped


def test_app_singletons_are_registered_where_they_are_defined():
    breaker.record_failure("some-provider", "boom")
    assert breaker.snapshot() != {}
    process_state_reset()
    assert breaker.snapshot() == {}
