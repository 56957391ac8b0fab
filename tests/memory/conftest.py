"""Fixtures of the memory tests: two tenants, the offline embedding route, fresh caches."""

from __future__ import annotations

import pytest

from llm.breaker import breaker
from llm.registry import registry_invalidate
from llm.usage import usage_flush
from memory.config import config_cache
from memory.search import tenant_size_cache
from memory.spaces import space_cache
from tests.factories import AgentFactory, MicroDAOFactory
from tests.memory.factories import make_offline_embed_route


@pytest.fixture(autouse=True)
def _fresh_memory_state():
    config_cache.invalidate()
    space_cache.invalidate()
    tenant_size_cache.invalidate()
    registry_invalidate()
    breaker.reset()
    yield
    usage_flush()
    breaker.reset()


@pytest.fixture
def embed_route(db):
    return make_offline_embed_route()


@pytest.fixture
def tenants(db, embed_route):
    """Two microDAOs, two agents in the first (not sharing memory), one in the second."""
    alpha = MicroDAOFactory(id="microdao:alpha", name="Alpha")
    beta = MicroDAOFactory(id="microdao:beta", name="Beta")
    return {
        "alpha": alpha,
        "beta": beta,
        "sofia": AgentFactory(id="agent:sofia", microdao=alpha),
        "oleh": AgentFactory(id="agent:oleh", microdao=alpha),
        "bohdan": AgentFactory(id="agent:bohdan", microdao=beta),
    }
