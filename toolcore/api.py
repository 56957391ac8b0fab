"""HTTP router of the tool registry: /internal/tools/* (SPEC §3.3). Views only call services."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from daarion.agents.access import agent_access_acheck
from daarion.agents.validators import AGENT_ID_RE
from daarion.common.errors import BadRequest
from toolcore.selectors import tools_for_agent
from toolcore.services import tool_call
from toolcore.types import ERROR_STATUS

router = Router()


class ListQuery(Schema):
    agent_id: str | None = Field(
        None, pattern=AGENT_ID_RE.pattern, description="Defaults to the bound agent."
    )
    format: Literal["native", "openai"] = "native"


class CallIn(Schema):
    tool_id: str = Field(..., min_length=1, max_length=128)
    agent_id: str | None = Field(
        None, pattern=AGENT_ID_RE.pattern, description="Defaults to the bound agent."
    )
    args: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = Field(None, max_length=64)


async def _agent_for(request: HttpRequest, requested: str | None) -> str:
    """The agent to act as, under the one access policy (404 unknown, 403 inactive/foreign)."""
    agent_id = request.auth.effective_agent_id(requested)
    if not agent_id:
        raise BadRequest("agent_id is required (or use a service token bound to an agent).")
    await agent_access_acheck(agent_id=agent_id, caller=request.auth)
    return agent_id


@router.get("", summary="Tools an agent may call")
async def list_tools(request: HttpRequest, query: Query[ListQuery]) -> dict:
    """`format=openai` gives `tools` as an OpenAI `tools` array for a chat request."""
    agent_id = await _agent_for(request, query.agent_id)
    tools = await tools_for_agent(agent_id=agent_id, fmt=query.format)
    return {"agent_id": agent_id, "format": query.format, "tools": tools}


@router.post("/call", summary="Call a tool as an agent")
async def call_tool(request: HttpRequest, payload: CallIn) -> HttpResponse:
    """`{ok, result, call_id, latency_ms}`; a tool failure answers its status (404, 409, 422,
    502, 504) with `{ok: false, error: {type, message, …}, call_id, latency_ms}`."""
    agent_id = await _agent_for(request, payload.agent_id)
    outcome = await tool_call(
        agent_id=agent_id,
        tool_id=payload.tool_id,
        args=payload.args,
        request_id=payload.request_id or getattr(request, "request_id", None),
    )
    status = 200 if outcome.ok else ERROR_STATUS[outcome.error.type]  # type: ignore[union-attr]
    return HttpResponse(
        orjson.dumps(outcome.as_dict()), status=status, content_type="application/json"
    )
