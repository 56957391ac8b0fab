"""On Redis, agent rate limits are counted with redis.asyncio (llm/limits.py): one round trip
that never blocks the event loop, on django-ratelimit's own keys and windows."""

from __future__ import annotations

import time

import pytest
from django_ratelimit.core import _get_window

from llm import gateway, limits
from llm.errors import AgentRateLimited
from llm.types import ChatRequest
from tests.factories import AgentFactory
from tests.llm.factories import OfflineProviderFactory, make_route
from tests.llm.helpers import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def _agent_id(period: int, tag: str) -> str:
    # Windows are staggered per key: an id whose window has time left cannot reset mid-test.
    for n in range(1000):
        agent_id = f"agent:{tag}{time.time_ns()}x{n}"
        if _get_window(agent_id, period) - time.time() > min(120, period / 3):
            return agent_id
    raise AssertionError("no suitable agent id")


@pytest.fixture
def redis_cache(settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "ratelimit-async-test",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
    return redis_url


@pytest.fixture
def sync_counts(monkeypatch) -> list[str]:
    """Agents counted through django-ratelimit's synchronous get_usage."""
    calls: list[str] = []
    real = limits.get_usage

    def spy(*args, **kwargs):
        calls.append(kwargs["key"](None, None))
        return real(*args, **kwargs)

    monkeypatch.setattr(limits, "get_usage", spy)
    return calls


async def test_gateway_counts_on_redis_without_a_synchronous_cache_call(redis_cache, sync_counts):
    agent = await db(lambda: AgentFactory(id=_agent_id(3600, "async"), rate_limit="2/h"))()
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    messages = [{"role": "user", "content": "hi"}]
    request = ChatRequest(model="m", messages=messages, agent_id=agent.id)
    await gateway.chat(request)
    await gateway.chat(request)
    with pytest.raises(AgentRateLimited) as refused:
        await gateway.chat(request)
    assert refused.value.retry_after >= 1
    assert sync_counts == []  # nothing blocked the loop on Redis


async def test_both_ways_count_together_on_the_same_key(redis_cache):
    agent_id = _agent_id(60, "shared")
    assert limits.agent_rate_limit_hit(agent_id=agent_id, rate="3/m") is None
    assert await limits.agent_rate_limit_ahit(agent_id=agent_id, rate="3/m") is None
    assert limits.agent_rate_limit_hit(agent_id=agent_id, rate="3/m") is None
    retry_after = await limits.agent_rate_limit_ahit(agent_id=agent_id, rate="3/m")
    assert retry_after is not None and 1 <= retry_after <= 60
    assert limits.agent_rate_limit_hit(agent_id=agent_id, rate="3/m") is not None


async def test_redis_down_allows(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
    assert await limits.agent_rate_limit_ahit(agent_id="agent:x", rate="1/m") is None
    assert await limits.agent_rate_limit_ahit(agent_id="agent:x", rate="1/m") is None


async def test_without_redis_the_count_is_this_processs_own_without_a_cache_call(sync_counts):
    agent_id = _agent_id(60, "local")
    counted = [await limits.agent_rate_limit_ahit(agent_id=agent_id, rate="2/m") for _ in range(2)]
    assert counted == [None, None]
    retry_after = await limits.agent_rate_limit_ahit(agent_id=agent_id, rate="2/m")
    assert retry_after is not None and 1 <= retry_after <= 60
    # Another agent, and another rate of the same agent, count apart.
    assert await limits.agent_rate_limit_ahit(agent_id=agent_id + "b", rate="2/m") is None
    assert await limits.agent_rate_limit_ahit(agent_id=agent_id, rate="5/m") is None
    assert sync_counts == []


async def test_the_local_count_starts_again_in_the_next_window(monkeypatch):
    agent_id = _agent_id(60, "window")
    assert await limits.agent_rate_limit_ahit(agent_id=agent_id, rate="1/m") is None
    assert await limits.agent_rate_limit_ahit(agent_id=agent_id, rate="1/m") is not None
    later = time.time() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert await limits.agent_rate_limit_ahit(agent_id=agent_id, rate="1/m") is None
