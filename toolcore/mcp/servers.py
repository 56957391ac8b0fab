"""MCP servers in the registry file (`manage.py registry export/import`): plain data, no secrets.

Secret header values are never exported, only their names (like tools' secret headers); an
import keeps the stored values and the operator sets missing ones in admin.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from toolcore.models import McpServer

MCP_SERVER_FIELDS = ("name", "url", "timeout_seconds", "enabled")


def mcp_server_registry_export() -> list[dict[str, Any]]:
    return [
        {
            **{name: getattr(server, name) for name in MCP_SERVER_FIELDS},
            "secret_header_names": sorted(h.name for h in server.secret_headers.all()),
        }
        for server in McpServer.objects.prefetch_related("secret_headers").order_by("name")
    ]


def mcp_server_definition_problems(*, definition: dict[str, Any]) -> dict[str, list[str]]:
    unknown = sorted(set(definition) - {*MCP_SERVER_FIELDS, "secret_header_names"})
    if unknown:
        return {"__all__": [f"Unknown keys: {', '.join(unknown)}."]}
    fields = {k: v for k, v in definition.items() if k in MCP_SERVER_FIELDS}
    candidate = McpServer.objects.filter(name=fields.get("name")).first() or McpServer()
    for name, value in fields.items():
        setattr(candidate, name, value)
    try:
        candidate.full_clean(validate_unique=False)
    except ValidationError as exc:
        return exc.message_dict
    return {}


def mcp_server_upsert(
    *, name: str, url: str, timeout_seconds: float = 30.0, enabled: bool = True
) -> McpServer:
    server = McpServer.objects.filter(name=name).first() or McpServer(name=name)
    server.url = url
    server.timeout_seconds = timeout_seconds
    server.enabled = enabled
    server.full_clean()
    server.save()
    return server


def mcp_server_import(*, definition: dict[str, Any]) -> McpServer:
    fields = {k: v for k, v in definition.items() if k in MCP_SERVER_FIELDS}
    return mcp_server_upsert(**fields)
