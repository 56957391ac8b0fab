"""Issue 10 #5: a registry cache whose reload fails on a database error keeps serving the value
it loaded last (bounded by REGISTRY_STALE_MAX_SECONDS), so chat through the gateway keeps
working in an outage even after the caches expired or a change dropped them."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from django.db import OperationalError
from django.test import AsyncClient

from daarion.common.registry_cache import RegistryCache
from daarion.common.registry_stamp import _notify as drop_every_registry_cache
from llm.usage import usage_flush
from tests.factories import AgentFactory, make_service_token
from tests.llm.factories import OfflineProviderFactory, make_route
from tests.llm.helpers import db
from tests.outage.helpers import adatabase_down, database_down

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failed_reload_serves_the_last_value_within_the_bound(settings):
    cache: RegistryCache[str] = RegistryCache("test", ttl=30.0)
    assert cache.get("k", lambda: "loaded") == "loaded"
    cache.invalidate()

    def broken() -> str:
        raise OperationalError("connection refused")

    assert cache.get("k", broken) == "loaded"  # stale, not an error
    cache.invalidate()
    settings.REGISTRY_STALE_MAX_SECONDS = 0  # older than the bound: the error goes through
    with pytest.raises(OperationalError):
        cache.get("k", broken)
    with pytest.raises(OperationalError):  # never loaded: nothing to serve
        cache.get("other", broken)


async def test_chat_through_the_api_works_in_an_outage_after_the_caches_were_dropped():
    agent = await db(AgentFactory)()

    def setup():
        agent.microdao.monthly_budget_usd = Decimal(100)
        agent.microdao.save()
        make_route("m", OfflineProviderFactory())
        return make_service_token(scopes=["llm"], agent=agent)[1]

    raw = await db(setup)()
    client = AsyncClient()
    headers = {"Authorization": f"Bearer {raw}"}
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})

    async def ask():
        return await client.post(
            "/v1/chat/completions", body, content_type="application/json", headers=headers
        )

    assert (await ask()).status_code == 200  # warms token, agent, registry, budget caches
    async with adatabase_down():
        drop_every_registry_cache()  # as a registry change elsewhere (or expiry) would
        response = await ask()
        assert response.status_code == 200, response.content
        assert response.json()["choices"][0]["message"]["content"]
        assert usage_flush(timeout=10, spooled_ok=True)
    assert usage_flush(timeout=15)


def test_admin_change_during_an_outage_does_not_break_reads():
    """The stamp read fails during the outage: the caches are kept, not dropped or raised."""
    from daarion.agents.selectors import agent_get
    from daarion.common import registry_stamp

    agent = AgentFactory()
    assert agent_get(agent_id=agent.id) is not None
    with database_down():
        registry_stamp._checked_at = -float("inf")  # a stamp read is due
        assert agent_get(agent_id=agent.id).id == agent.id
