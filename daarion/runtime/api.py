"""HTTP router of the agents API: /internal/agents/*."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest
from ninja import Field, Router, Schema

from daarion.agents.access import AgentNotFound
from daarion.agents.selectors import agent_aget
from daarion.runtime.turn import agent_respond

router = Router()


class AgentOut(Schema):
    id: str
    microdao_id: str
    display_name: str
    default_model: str
    rate_limit: str
    is_active: bool


class RespondIn(Schema):
    message: str = Field(min_length=1, max_length=32_000)
    channel_id: str | None = Field(default=None, max_length=200)
    microdao_id: str | None = Field(default=None, max_length=64)


@router.get("/{agent_id}", response=AgentOut, summary="An agent's public configuration")
async def agent_detail(request: HttpRequest, agent_id: str):
    request.auth.ensure_can_act_as(agent_id)
    agent = await agent_aget(agent_id=agent_id)
    if agent is None:
        raise AgentNotFound(f"Unknown agent {agent_id!r}.")
    return agent


@router.post("/{agent_id}/respond", summary="Run one agent turn: memory → tools → LLM → memory")
async def agent_respond_view(request: HttpRequest, agent_id: str, payload: RespondIn):
    request.auth.ensure_can_act_as(agent_id)
    result = await agent_respond(
        agent_id=agent_id,
        message=payload.message,
        channel_id=payload.channel_id,
        microdao_id=payload.microdao_id,
        request_id=getattr(request, "request_id", None),
    )
    return asdict(result)
