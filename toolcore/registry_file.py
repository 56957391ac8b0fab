"""The tool registry's sections of the registry file: `mcp_servers`, `tools` and `grants`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from daarion.common.registry_file import section_rows, unknown_keys
from toolcore.ids import openai_name_for
from toolcore.mcp.servers import (
    mcp_server_definition_problems,
    mcp_server_import,
    mcp_server_registry_export,
)
from toolcore.models import Tool
from toolcore.selectors import tool_registry_export
from toolcore.services import tool_definition_problems, tool_grant, tool_import


@dataclass
class ToolsPlan:
    mcp_servers: list[dict] = field(default_factory=list)
    tools: list[dict] = field(default_factory=list)
    grants: list[dict] = field(default_factory=list)


def tools_registry_export() -> dict[str, list[dict[str, Any]]]:
    tools = tool_registry_export()
    return {
        "mcp_servers": mcp_server_registry_export(),
        "tools": tools["tools"],
        "grants": tools["grants"],
    }


def tools_registry_plan(
    *, data: dict[str, Any], agent_ids: Collection[str], problems: list[str]
) -> ToolsPlan:
    """Plan `tools` and `grants`; a grant must name a known (or planned) agent and tool."""
    plan = ToolsPlan()
    for i, row in enumerate(section_rows(data, "mcp_servers", problems)):
        for name, messages in mcp_server_definition_problems(definition=row).items():
            problems.extend(f"mcp_servers[{i}].{name}: {message}" for message in messages)
        plan.mcp_servers.append(row)
    mcp_servers = {str(row.get("name")) for row in plan.mcp_servers}
    tool_ids = set()
    for i, row in enumerate(section_rows(data, "tools", problems)):
        path = f"tools[{i}]"
        row_problems = tool_definition_problems(definition=row, mcp_server_names=mcp_servers)
        for name, messages in row_problems.items():
            prefix = path if name == "__all__" else f"{path}.{name}"
            problems.extend(f"{prefix}: {message}" for message in messages)
        tool_ids.add(row.get("tool_id"))
        plan.tools.append(row)

    # Grants may name a tool by its dotted id or its OpenAI name: compare mapped names.
    known_tools = set(Tool.objects.values_list("openai_name", flat=True))
    known_tools |= {openai_name_for(str(tool_id)) for tool_id in tool_ids}
    for i, row in enumerate(section_rows(data, "grants", problems)):
        path = f"grants[{i}]"
        unknown_keys(row, ("agent_id", "tool_id"), path, problems)
        if row.get("agent_id") not in agent_ids:
            problems.append(f"{path}.agent_id: unknown agent {row.get('agent_id')!r}")
        if openai_name_for(str(row.get("tool_id"))) not in known_tools:
            problems.append(f"{path}.tool_id: unknown tool {row.get('tool_id')!r}")
        plan.grants.append(row)
    return plan


def tools_registry_apply(*, plan: ToolsPlan) -> None:
    """Import the planned MCP servers, tools and grants (the caller holds the transaction)."""
    for definition in plan.mcp_servers:
        mcp_server_import(definition=definition)
    for definition in plan.tools:
        tool_import(definition=definition)
    for grant in plan.grants:
        tool_grant(agent_id=grant["agent_id"], tool_id=grant["tool_id"])
