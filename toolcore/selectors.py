"""Reads of the tool registry, from a per-process snapshot (no registry query per call).

The snapshot holds every tool (schemas compiled, secret headers decrypted, OpenAI definitions
built) and every grant. Model signals drop it when anything changes in this process; other
processes reload within TOOLCORE_REGISTRY_CACHE_SECONDS.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from jsonschema import Draft202012Validator

from daarion.agents.access import AgentNotFound, agent_access_acheck
from daarion.agents.selectors import AgentInfo
from daarion.agents.validators import AGENT_ID_RE
from daarion.common.registry_cache import RegistryCache
from toolcore.ids import openai_name_for
from toolcore.models import Executor, Grant, Tool
from toolcore.registry import python_tool_get
from toolcore.schema import compile_validator, to_openai_parameters

Format = Literal["native", "openai"]
_SNAPSHOT_KEY = "all"


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the hot path needs it, detached from the ORM."""

    pk: int
    tool_id: str
    name: str  # OpenAI function name
    description: str
    input_schema: dict
    output_schema: dict | None
    executor: str
    http_method: str
    url_template: str
    headers: dict[str, str]
    secret_headers: dict[str, str] = field(repr=False)
    python_function: str
    timeout_seconds: float
    retries: int
    enabled: bool
    version: int
    annotations: dict[str, bool]  # MCP hint names (readOnlyHint, …) the registry knows
    mcp_url: str  # executor "mcp": the server's endpoint and the tool's own name there
    mcp_tool_name: str
    mcp_server_enabled: bool
    validator: Draft202012Validator = field(repr=False)
    output_validator: Draft202012Validator | None = field(repr=False)
    native: dict[str, Any] = field(repr=False)
    openai: dict[str, Any] = field(repr=False)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Strings to scrub: each secret header value, and its credential without a scheme
        word ("Bearer sk-…" → also "sk-…"), longest first."""
        values: set[str] = set()
        for value in self.secret_headers.values():
            if value:
                values.add(value)
                credential = value.split()[-1]
                if len(credential) >= 8:
                    values.add(credential)
        return tuple(sorted(values, key=len, reverse=True))

    @property
    def available(self) -> bool:
        """Enabled, and for Python tools, registered in this deployment."""
        if not self.enabled:
            return False
        if self.executor == Executor.MCP:
            return self.mcp_server_enabled
        return self.executor != Executor.PYTHON or python_tool_get(self.python_function) is not None


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    tools: dict[str, ToolSpec]  # by OpenAI function name
    grants: dict[str, frozenset[str]]  # agent id → function names

    def resolve(self, tool_ref: str) -> ToolSpec | None:
        return self.tools.get(openai_name_for(tool_ref))

    def may_use(self, agent: AgentInfo | None, tool: ToolSpec | None) -> bool:
        """The one permission predicate shared by listing and calling."""
        return (
            agent is not None
            and agent.is_active
            and tool is not None
            and tool.name in self.grants.get(agent.id, frozenset())
        )


registry_cache: RegistryCache[RegistrySnapshot] = RegistryCache(
    "tools", ttl=settings.TOOLCORE_REGISTRY_CACHE_SECONDS
)


ANNOTATION_FIELDS = {
    "read_only_hint": "readOnlyHint",
    "destructive_hint": "destructiveHint",
    "idempotent_hint": "idempotentHint",
}


def _spec_from(tool: Tool) -> ToolSpec:
    parameters, strict = to_openai_parameters(tool.input_schema)
    output_schema = tool.output_schema or None
    server = tool.mcp_server
    secret_headers = {h.name: h.value for h in tool.secret_headers.all()}
    if server is not None:  # an MCP tool sends its server's credentials (and scrubs them)
        secret_headers = {h.name: h.value for h in server.secret_headers.all()}
    annotations = {
        hint: getattr(tool, field)
        for field, hint in ANNOTATION_FIELDS.items()
        if getattr(tool, field) is not None
    }
    native = {
        "tool_id": tool.tool_id,
        "name": tool.openai_name,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "output_schema": output_schema,
        "executor": tool.executor,
        "version": tool.version,
        "annotations": annotations,
    }
    openai = {
        "type": "function",
        "function": {
            "name": tool.openai_name,
            "description": tool.description,
            "parameters": parameters,
            "strict": strict,
        },
    }
    return ToolSpec(
        pk=tool.pk,
        tool_id=tool.tool_id,
        name=tool.openai_name,
        description=tool.description,
        input_schema=tool.input_schema,
        output_schema=output_schema,
        executor=tool.executor,
        http_method=tool.http_method,
        url_template=tool.url_template,
        headers=dict(tool.headers or {}),
        secret_headers=secret_headers,
        python_function=tool.python_function,
        timeout_seconds=tool.timeout_seconds,
        retries=tool.retries,
        enabled=tool.enabled,
        version=tool.version,
        annotations=annotations,
        mcp_url=server.url if server else "",
        mcp_tool_name=tool.mcp_tool_name,
        mcp_server_enabled=bool(server and server.enabled),
        validator=compile_validator(tool.input_schema),
        output_validator=compile_validator(output_schema) if output_schema else None,
        native=native,
        openai=openai,
    )


def _load_snapshot() -> RegistrySnapshot:
    tools = {
        tool.openai_name: _spec_from(tool)
        for tool in Tool.objects.select_related("mcp_server").prefetch_related(
            "secret_headers", "mcp_server__secret_headers"
        )
    }
    grants: dict[str, set[str]] = defaultdict(set)
    for agent_id, name in Grant.objects.values_list("agent_id", "tool__openai_name"):
        grants[agent_id].add(name)
    return RegistrySnapshot(
        tools=tools, grants={agent: frozenset(names) for agent, names in grants.items()}
    )


def registry_snapshot() -> RegistrySnapshot:
    return registry_cache.get(_SNAPSHOT_KEY, _load_snapshot)


async def registry_asnapshot() -> RegistrySnapshot:
    cached = registry_cache.peek(_SNAPSHOT_KEY)
    if cached is not None:
        return cached
    return await sync_to_async(registry_snapshot)()


async def tools_for_agent(*, agent_id: str, fmt: Format = "native") -> list[dict]:
    """The tools `agent_id` may call now (granted, enabled, available), as native dicts or as an
    OpenAI `tools` array. The one agent access policy applies (404 unknown, 403 inactive)."""
    if not AGENT_ID_RE.match(agent_id):
        raise AgentNotFound(f"Unknown agent '{agent_id}'.")
    agent = await agent_access_acheck(agent_id=agent_id)
    snapshot = await registry_asnapshot()
    key = "openai" if fmt == "openai" else "native"
    return [
        copy.deepcopy(getattr(tool, key))  # callers may edit their copy, never the cache
        for tool in sorted(snapshot.tools.values(), key=lambda t: t.tool_id)
        if snapshot.may_use(agent, tool) and tool.available
    ]


# --- registry as code (used by `manage.py registry export`) --------------------------------

EXPORTED_FIELDS = (
    "tool_id",
    "description",
    "input_schema",
    "output_schema",
    "executor",
    "http_method",
    "url_template",
    "headers",
    "python_function",
    "timeout_seconds",
    "retries",
    "enabled",
    "read_only_hint",
    "destructive_hint",
    "idempotent_hint",
    "mcp_server",  # exported as the server's name
    "mcp_tool_name",
)


def tool_definition(tool: Tool) -> dict[str, Any]:
    """A tool's EXPORTED_FIELDS as plain data."""
    definition = {name: getattr(tool, name) for name in EXPORTED_FIELDS if name != "mcp_server"}
    definition["mcp_server"] = tool.mcp_server.name if tool.mcp_server is not None else None
    return definition


def tool_registry_export() -> dict[str, list[dict[str, Any]]]:
    """Tools and grants as plain data. Secret header values are never exported, only names;
    `toolcore.services.tool_import` accepts each tool dict back."""
    tools = []
    tools_qs = Tool.objects.select_related("mcp_server").prefetch_related("secret_headers")
    for tool in tools_qs.order_by("tool_id"):
        definition = tool_definition(tool)
        definition["secret_header_names"] = sorted(h.name for h in tool.secret_headers.all())
        tools.append(definition)
    grants = [
        {"agent_id": agent_id, "tool_id": tool_id}
        for agent_id, tool_id in Grant.objects.order_by("agent_id", "tool__tool_id").values_list(
            "agent_id", "tool__tool_id"
        )
    ]
    return {"tools": tools, "grants": grants}
