"""Import an external MCP server's tools into the registry as Tools of executor kind "mcp".

`mcp_server_import_tools(server=…)` lists the server's tools through the guarded MCP client
and upserts one Tool per remote tool: id `<server>.<name>` mapped to an OpenAI-safe function
name, description, input and output schemas and annotations kept. Re-importing updates what
changed and reports tools the server no longer lists; those are disabled (not deleted: their
grants and audit rows stay). New tools are granted to nobody: grants stay explicit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from mcp.shared.exceptions import MCPError

from toolcore.ids import MAX_NAME_LENGTH, openai_name_for
from toolcore.mcp.client import GuardedTransport, blocked_in, mcp_connect, mcp_list_tools
from toolcore.models import Executor, McpServer, Tool
from toolcore.schema import schema_problems
from toolcore.services import tool_upsert

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class McpImportError(Exception):
    """The server's tools could not be listed; the message is safe to show an operator."""


@dataclass
class McpImportReport:
    server: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # no longer listed: disabled
    skipped: dict[str, list[str]] = field(default_factory=dict)  # remote name → problems

    def summary(self) -> str:
        parts = [
            f"{len(self.created)} created",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.removed)} removed (disabled)",
        ]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        text = f"MCP server '{self.server}': " + ", ".join(parts) + "."
        if self.removed:
            text += " No longer offered: " + ", ".join(self.removed) + "."
        if self.skipped:
            text += " Skipped: " + "; ".join(
                f"{name} ({' '.join(problems)})" for name, problems in self.skipped.items()
            )
        return text


def mcp_tool_id_for(*, server_name: str, remote_name: str, taken: set[str]) -> str:
    """`<server>.<name>` with unsafe characters replaced; shortened and suffixed with a hash
    when it would be too long or clash with a name in `taken` (OpenAI function names)."""
    mapped = _UNSAFE.sub("_", remote_name).strip("_") or "tool"
    candidate = f"{server_name}.{mapped}"
    if len(openai_name_for(candidate)) <= MAX_NAME_LENGTH and (
        openai_name_for(candidate) not in taken
    ):
        return candidate
    digest = hashlib.sha256(remote_name.encode()).hexdigest()[:8]
    room = MAX_NAME_LENGTH - len(server_name) - 2 - 9  # "__" and "_<digest>"
    return f"{server_name}.{mapped[:room]}_{digest}"


async def mcp_server_list_remote_tools(
    *, url: str, headers: dict[str, str], deadline: float
) -> list[types.Tool]:
    transport = GuardedTransport()
    try:
        async with asyncio.timeout(deadline):
            async with mcp_connect(url=url, headers=headers, transport=transport) as client:
                return await mcp_list_tools(client)
    except TimeoutError:
        raise McpImportError(f"The MCP server did not answer within {deadline:g} s.") from None
    except MCPError as exc:
        raise McpImportError(f"The MCP server refused tools/list: {exc.message}") from None
    except Exception as exc:
        if blocked_in(exc, transport) is not None:
            raise McpImportError(
                "The server's address is not allowed by the network policy (non-public "
                "address that is not in TOOLCORE_ALLOWED_HOSTS)."
            ) from None
        logger.warning("listing the tools of %s failed: %r", url, exc)
        raise McpImportError(
            "Could not reach the MCP server or it did not speak MCP (streamable HTTP) there."
        ) from None


def _definition(server: McpServer, remote: types.Tool) -> dict[str, Any]:
    annotations = remote.annotations
    output_schema = remote.output_schema
    if output_schema is not None and schema_problems(output_schema):
        output_schema = None  # kept only when our validator can use it
    return {
        "description": remote.description or remote.title or remote.name,
        "input_schema": dict(remote.input_schema),
        "output_schema": dict(output_schema) if output_schema else None,
        "executor": Executor.MCP,
        "timeout_seconds": server.timeout_seconds,
        "read_only_hint": annotations.read_only_hint if annotations else None,
        "destructive_hint": annotations.destructive_hint if annotations else None,
        "idempotent_hint": annotations.idempotent_hint if annotations else None,
        "mcp_server": server.name,
        "mcp_tool_name": remote.name,
    }


def mcp_server_import_tools(*, server: McpServer) -> McpImportReport:
    """List `server`'s tools and upsert them (see module doc). Raises McpImportError."""
    headers = {h.name: h.value for h in server.secret_headers.all()}
    remote_tools = async_to_sync(mcp_server_list_remote_tools)(
        url=server.url, headers=headers, deadline=server.timeout_seconds
    )
    report = McpImportReport(server=server.name)
    with transaction.atomic():
        existing = {t.mcp_tool_name: t for t in Tool.objects.filter(mcp_server=server)}
        taken = set(Tool.objects.values_list("openai_name", flat=True))
        seen: set[str] = set()
        for remote in remote_tools:
            if remote.name in seen:
                continue
            seen.add(remote.name)
            current = existing.get(remote.name)
            tool_id = (
                current.tool_id
                if current
                else mcp_tool_id_for(server_name=server.name, remote_name=remote.name, taken=taken)
            )
            try:
                with transaction.atomic():
                    tool = tool_upsert(
                        tool_id=tool_id,
                        enabled=current.enabled if current else True,
                        **_definition(server, remote),
                    )
            except ValidationError as exc:
                report.skipped[remote.name] = [m for ms in exc.message_dict.values() for m in ms]
                continue
            taken.add(tool.openai_name)
            if current is None:
                report.created.append(tool.tool_id)
            elif tool.version != current.version:
                report.updated.append(tool.tool_id)
            else:
                report.unchanged.append(tool.tool_id)
        for name, tool in existing.items():
            if name not in seen:
                report.removed.append(tool.tool_id)
                if tool.enabled:
                    tool.enabled = False
                    tool.save(update_fields=["enabled", "updated_at"])
        server.last_imported_at = timezone.now()
        server.save(update_fields=["last_imported_at", "updated_at"])
    return report
