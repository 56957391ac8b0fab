"""The MCP client toolcore uses for external MCP servers: the official SDK over our SSRF guard.

The SDK speaks HTTP through `httpx2`; `GuardedTransport` plugs an httpx2 transport into it that
sends every request through `daarion.common.safe_http.make_safe_async_client` — the same guard
(IP-literal check, guarded resolver, TOOLCORE_ALLOWED_HOSTS) HTTP tools use — so the server URL
is checked exactly as an HTTP tool's URL is. Redirects are not followed (the guarded client
never does; the SDK would only follow same-origin ones anyway).

One connection per use (list or call): the SDK negotiates the newest revision the server speaks
(`server/discover` for 2026-07-28, else the `initialize` handshake) and closes it afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import mcp_types as types
import orjson
from django.conf import settings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from daarion.common.safe_http import (
    BlockedDestination,
    blocked_destination_in,
    make_safe_async_client,
)

MAX_LIST_PAGES = 20
_UPPER_TIMEOUT = 300.0  # the per-use deadline is enforced by the caller


class _Body(httpx2.AsyncByteStream):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            raise httpx2.ReadError(f"reading the MCP server's answer failed: {exc}") from None

    async def aclose(self) -> None:
        await self._response.aclose()


class GuardedTransport(httpx2.AsyncBaseTransport):
    """httpx2 transport that sends through the SSRF-guarded httpx client."""

    def __init__(self) -> None:
        self._client = make_safe_async_client(
            timeout=_UPPER_TIMEOUT, allowed_hosts=lambda: list(settings.TOOLCORE_ALLOWED_HOSTS)
        )
        self.blocked: BlockedDestination | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        content = await request.aread()
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"accept-encoding"]
        headers.append((b"accept-encoding", b"identity"))  # bytes pass through undecoded
        timeout = request.extensions.get("timeout")
        outgoing = self._client.build_request(
            request.method,
            str(request.url),
            headers=headers,
            content=content or None,
            timeout=httpx.Timeout(**timeout) if timeout else _UPPER_TIMEOUT,
        )
        try:
            response = await self._client.send(outgoing, stream=True)
        except (httpx.TransportError, OSError) as exc:  # OSError: the SSRF guard's refusal
            blocked = blocked_destination_in(exc)
            if blocked is not None:
                self.blocked = blocked
                raise httpx2.ConnectError(str(blocked), request=request) from None
            raise httpx2.ConnectError(
                "could not connect to the MCP server", request=request
            ) from None
        return httpx2.Response(
            response.status_code,
            headers=response.headers.raw,
            stream=_Body(response),
            request=request,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


@contextlib.asynccontextmanager
async def mcp_connect(
    *, url: str, headers: dict[str, str], transport: GuardedTransport
) -> AsyncIterator[Client]:
    """A connected SDK client for `url` sending `headers`, over `transport`."""
    async with (
        httpx2.AsyncClient(
            transport=transport, headers=headers, timeout=httpx2.Timeout(_UPPER_TIMEOUT)
        ) as http,
        Client(streamable_http_client(url, http_client=http), cache=None) as client,
    ):
        yield client


async def mcp_list_tools(client: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def result_value(result: types.CallToolResult) -> Any:
    """What a tool result means as data: its structured content, else the JSON or text of its
    one text block, else its content blocks as plain dicts."""
    if result.structured_content is not None:
        return result.structured_content
    blocks = result.content or []
    if len(blocks) == 1 and isinstance(blocks[0], types.TextContent):
        text = blocks[0].text
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(text)
        return text
    return [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in blocks]


def result_text(result: types.CallToolResult) -> str:
    return " ".join(
        block.text for block in result.content or [] if isinstance(block, types.TextContent)
    ).strip()


def blocked_in(exc: BaseException, transport: GuardedTransport) -> BlockedDestination | None:
    return transport.blocked or blocked_destination_in(exc)


__all__ = [
    "GuardedTransport",
    "mcp_connect",
    "mcp_list_tools",
    "result_text",
    "result_value",
]
