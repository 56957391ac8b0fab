"""factory-boy factories for the shared registry (each app's tests add their own)."""

from __future__ import annotations

import factory

from daarion.agents.models import Agent, MicroDAO
from daarion.agents.services import service_token_create


class MicroDAOFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MicroDAO
        django_get_or_create = ("id",)

    id = factory.Sequence(lambda n: f"microdao:test{n}")
    name = factory.Sequence(lambda n: f"Test microDAO {n}")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent
        django_get_or_create = ("id",)

    id = factory.Sequence(lambda n: f"agent:test{n}")
    microdao = factory.SubFactory(MicroDAOFactory)
    display_name = factory.Sequence(lambda n: f"Agent {n}")
    system_prompt = "You are a test agent."
    rate_limit = "1000/m"


def make_service_token(*, scopes=("llm", "memory", "tools", "agents"), agent=None, name=None):
    """Create a token; returns (row, raw token)."""
    global _token_counter
    _token_counter += 1
    return service_token_create(
        name=name or f"test-token-{_token_counter}",
        scopes=list(scopes),
        agent_id=agent.id if agent else None,
    )


_token_counter = 0
