"""The routing registry: cached per process, invalidated by changes, refreshed in the
background after its TTL without stalling requests."""

from __future__ import annotations

import pytest

from llm import registry
from llm.models import ModelRoute
from tests.llm.factories import OfflineProviderFactory, make_route
from tests.llm.helpers import db

pytestmark = pytest.mark.django_db(transaction=True)


async def test_change_is_seen_at_once_and_expiry_serves_stale_while_reloading(monkeypatch):
    await db(lambda: make_route("first", OfflineProviderFactory()))()
    snapshot = await registry.registry_aget()
    assert "first" in snapshot.routes
    assert await registry.registry_aget() is snapshot  # cached: same object, no query

    await db(lambda: make_route("second", OfflineProviderFactory()))()  # signal invalidates
    fresh = await registry.registry_aget()
    assert set(fresh.routes) == {"first", "second"}

    # TTL expiry (no invalidation): the old snapshot answers at once, a reload runs behind.
    await db(lambda: ModelRoute.objects.filter(name="first").update(enabled=False))()  # no signal
    monkeypatch.setattr(registry.registry_cache, "ttl", 0.0)
    registry.registry_cache.put(registry._KEY, fresh)  # expires immediately
    assert await registry.registry_aget() is fresh
    await registry._refreshing
    monkeypatch.setattr(registry.registry_cache, "ttl", 30.0)
    reloaded = await registry.registry_aget()
    assert set(reloaded.routes) == {"second"}
