"""MCP executor: one `tools/call` on the tool's external MCP server, through the SDK client.

Reached only from `toolcore.services.tool_call` (grants, validation and the audit row are
there). The server's secret headers travel in `spec.secret_headers`, so toolcore scrubs them from
anything the server echoes back. A tool result with `isError: true` becomes an upstream_error
carrying the server's message (scrubbed, shortened), which is written for models anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from toolcore.errors import ToolCallFailed
from toolcore.executors import Execution
from toolcore.mcp.client import GuardedTransport, blocked_in, mcp_connect, result_text, result_value
from toolcore.schema import scrub
from toolcore.types import ToolContext, ToolErrorType

logger = logging.getLogger(__name__)

MESSAGE_CHARS = 500


async def execute_mcp(*, spec, args: dict[str, Any], ctx: ToolContext) -> Execution:
    headers = {
        **spec.secret_headers,
        "X-Request-ID": ctx.request_id or ctx.call_id,
        "X-DAARION-Agent-ID": ctx.agent_id,
        "X-DAARION-MicroDAO-ID": ctx.microdao_id,
        "X-DAARION-Tool-Call-ID": ctx.call_id,
    }
    transport = GuardedTransport()
    secrets = spec.secret_values
    try:
        async with asyncio.timeout(spec.timeout_seconds):
            async with mcp_connect(
                url=spec.mcp_url, headers=headers, transport=transport
            ) as client:
                result = await client.call_tool(spec.mcp_tool_name, args)
    except TimeoutError:
        raise ToolCallFailed(
            "timeout",
            f"The MCP server did not answer within {spec.timeout_seconds:g} s. Try again later.",
        ) from None
    except MCPError as exc:
        kind: ToolErrorType = (
            "invalid_args" if exc.code == types.INVALID_PARAMS else "upstream_error"
        )
        raise ToolCallFailed(
            kind,
            f"The MCP server refused the call: {scrub(exc.message, secrets)[:MESSAGE_CHARS]}",
            details={"mcp_error_code": exc.code},
        ) from None
    except Exception as exc:  # the SDK wraps transport faults in task-group exception groups
        blocked = blocked_in(exc, transport)
        if blocked is not None:
            logger.warning("MCP request blocked by the SSRF guard: %s", blocked)
            raise ToolCallFailed(
                "upstream_error",
                "The MCP server's address is not allowed by the network policy "
                "(non-public address that is not allowlisted).",
                details={"reason": "blocked_destination"},
            ) from None
        logger.warning("MCP call to %s failed: %r", spec.tool_id, exc)
        raise ToolCallFailed(
            "upstream_error",
            "Could not reach the MCP server (connection or protocol failure). Try again later.",
            details={"reason": "connection_failed"},
        ) from None
    if result.is_error:
        message = scrub(result_text(result), secrets)[:MESSAGE_CHARS] or "no message"
        raise ToolCallFailed("upstream_error", f"The tool reported an error: {message}")
    return Execution(result=result_value(result), http_status=None, attempts=1)
