"""HTTP router of the agents API: /internal/agents/*."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from daarion.agents.selectors import agent_aget
from daarion.common.errors import NotFound

router = Router()


class AgentOut(Schema):
    id: str
    microdao_id: str
    display_name: str
    default_model: str
    rate_limit: str
    is_active: bool


@router.get("/{agent_id}", response=AgentOut, summary="An agent's public configuration")
async def agent_detail(request: HttpRequest, agent_id: str):
    request.auth.ensure_can_act_as(agent_id)
    agent = await agent_aget(agent_id=agent_id)
    if agent is None:
        raise NotFound(f"Unknown agent {agent_id!r}.")
    return agent
