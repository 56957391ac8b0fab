"""Tools for tests: built through the same services operators and seeders use."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from toolcore.models import Executor, Tool
from toolcore.services import tool_call, tool_grant, tool_upsert
from toolcore.types import ToolCallResult

OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"q": {"type": "string"}},
    "additionalProperties": False,
}


def make_http_tool(
    *,
    url_template: str,
    tool_id: str = "echo_tool",
    method: str = "GET",
    input_schema: dict | None = None,
    grant_to=None,
    **fields: Any,
) -> Tool:
    tool = tool_upsert(
        tool_id=tool_id,
        description=f"Test tool {tool_id}.",
        input_schema=input_schema or OBJECT_SCHEMA,
        executor=Executor.HTTP,
        http_method=method,
        url_template=url_template,
        **fields,
    )
    if grant_to is not None:
        tool_grant(agent_id=grant_to.id, tool_id=tool.tool_id)
    return tool


def make_python_tool(*, function_name: str, tool_id: str | None = None, grant_to=None, **fields):
    tool = tool_upsert(
        tool_id=tool_id or function_name,
        description=f"Test tool {function_name}.",
        input_schema=fields.pop("input_schema", {"type": "object", "properties": {}}),
        executor=Executor.PYTHON,
        python_function=function_name,
        **fields,
    )
    if grant_to is not None:
        tool_grant(agent_id=grant_to.id, tool_id=tool.tool_id)
    return tool


def call(agent, tool_id: str, args: dict | None = None, **kwargs) -> ToolCallResult:
    """tool_call from a sync test (thread-sensitive DB work stays on the test's connection)."""
    return async_to_sync(tool_call)(agent_id=agent.id, tool_id=tool_id, args=args or {}, **kwargs)
