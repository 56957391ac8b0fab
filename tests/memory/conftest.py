"""Fixtures of the memory tests: two tenants, the offline embedding route."""

from __future__ import annotations

import pytest

from tests.factories import AgentFactory, MicroDAOFactory
from tests.memory.factories import make_offline_embed_route


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
