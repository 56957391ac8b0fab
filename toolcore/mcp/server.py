"""The MCP server: each agent's tools over MCP (tools/list, tools/call), on the official SDK.

The handlers are thin: `tools/list` is `tools_for_agent` (the permission predicate shared with
GET /internal/tools) and `tools/call` is `toolcore.services.tool_call` (validation, permission,
SSRF guard, audit row, timeouts). Who is calling was decided by the ASGI gate in
`toolcore.mcp.asgi` before the SDK saw the request; it travels in the ASGI scope, which the SDK
hands back as `ctx.request.scope`.

Errors: an unknown (or forbidden — they look the same) tool is a JSON-RPC error (-32602), as
the MCP spec lists it among protocol errors; everything the tool itself got wrong or ran into
(invalid arguments, disabled, timeout, upstream failure) is a tool result with `isError: true`
and the message toolcore writes for models, so the model can fix its call.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
import orjson
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from toolcore.selectors import tools_for_agent
from toolcore.services import tool_call

logger = logging.getLogger(__name__)

SCOPE_KEY = "daarion.mcp"  # the gate's verdict in the ASGI scope: {"agent_id", "request_id"}
SERVER_NAME = "daarion-toolcore"


def _caller(ctx: Any) -> dict[str, Any]:
    request = getattr(ctx, "request", None)
    caller = request.scope.get(SCOPE_KEY) if request is not None else None
    if not caller:  # only reachable if the SDK is mounted without the gate
        raise MCPError(code=types.INVALID_REQUEST, message="Not authenticated.")
    return caller


def mcp_tool_from(native: dict[str, Any]) -> types.Tool:
    """A registry tool (native dict of `tools_for_agent`) as an MCP Tool."""
    data: dict[str, Any] = {
        "name": native["tool_id"],
        "description": native["description"],
        "inputSchema": native["input_schema"],
    }
    if native.get("annotations"):
        data["annotations"] = native["annotations"]
    return types.Tool.model_validate(data)


async def list_tools(
    ctx: Any, params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    caller = _caller(ctx)
    tools = await tools_for_agent(agent_id=caller["agent_id"])
    # Per-agent answers: a client may not share or keep them (SEP-2549 hints).
    return types.ListToolsResult(
        tools=[mcp_tool_from(tool) for tool in tools], ttl_ms=0, cache_scope="private"
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    caller = _caller(ctx)
    outcome = await tool_call(
        agent_id=caller["agent_id"],
        tool_id=params.name,
        args=params.arguments if params.arguments is not None else {},
        request_id=caller.get("request_id"),
    )
    meta = {"io.daarion/callId": outcome.call_id}
    if outcome.error is not None and outcome.error.type == "not_found":
        raise MCPError(
            code=types.INVALID_PARAMS,
            message=outcome.error.message,
            data={"call_id": outcome.call_id},
        )
    if outcome.error is not None:
        return types.CallToolResult.model_validate(
            {
                "content": [{"type": "text", "text": outcome.error.message}],
                "structuredContent": {"error": outcome.error.as_dict()},
                "isError": True,
                "_meta": meta,
            }
        )
    result = outcome.result
    data: dict[str, Any] = {
        "content": [{"type": "text", "text": _text(result)}],
        "isError": False,
        "_meta": meta,
    }
    if isinstance(result, dict):
        data["structuredContent"] = result
    return types.CallToolResult.model_validate(data)


def build_server() -> Server:
    return Server(
        SERVER_NAME,
        version="1",
        instructions="The tools this agent may call in DAARION. Each call is permission-checked "
        "and audited.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        # Our schemas carry no `x-mcp-header` annotations: nothing to check Mcp-Param-* against,
        # and without this the SDK would run tools/list before every modern tools/call.
        get_tool_input_schema=lambda name: None,
    )
