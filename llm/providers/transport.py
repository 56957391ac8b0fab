"""HTTP for the OpenAI-compatible adapter: POST a JSON body, read JSON or SSE lines.

Two interchangeable clients, chosen by LLM_HTTP_CLIENT:

- "aiohttp" (default): an aiohttp ClientSession used directly. On the gateway benchmark it
  costs about a third of the CPU per call of the alternative (see README), and the gateway's hot
  path is mostly this call.
- "httpx": daarion.common.http's client (httpx's API over the aiohttp transport).

Both are hardened the same way: a timeout is mandatory (connect ≤ 10 s, read = the provider's
timeout, plus a total deadline per attempt in the adapter), redirects are never followed, proxy
settings from the environment are ignored, connections are pooled per (event loop, base URL,
timeout). Failures are mapped to llm.errors.Provider* here.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import httpx
from django.conf import settings

from daarion.common.http import DEFAULT_LIMITS, make_async_client
from llm import errors
from llm.types import ProviderInfo

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, object]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _kind() -> str:
    return getattr(settings, "LLM_HTTP_CLIENT", "aiohttp")


def _drop_clients_of_closed_loops() -> None:
    """Short-lived loops (async_to_sync in commands, admin actions, tests) end without closing
    their clients; close those connections synchronously so nothing leaks or warns."""
    for loop in [loop for loop in list(_sessions.keys()) if loop.is_closed()]:
        for client in _sessions.pop(loop, {}).values():
            if isinstance(client, aiohttp.ClientSession) and client.connector is not None:
                # TCPConnector.close() is a coroutine (needs the dead loop); _close() marks the
                # connector closed and drops its transports synchronously.
                with contextlib.suppress(Exception):
                    client.connector._close()


def _client(provider: ProviderInfo, kind: str):
    loop = asyncio.get_running_loop()
    per_loop = _sessions.get(loop)
    if per_loop is None:
        _drop_clients_of_closed_loops()
        per_loop = _sessions[loop] = {}
    key = (kind, provider.base_url, provider.timeout_seconds)
    client = per_loop.get(key)
    if client is None or getattr(client, "closed", False) or getattr(client, "is_closed", False):
        if kind == "aiohttp":
            client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=DEFAULT_LIMITS.max_connections or 0, ttl_dns_cache=300
                ),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=min(provider.timeout_seconds, 10.0),
                    sock_read=provider.timeout_seconds,
                ),
                trust_env=False,
                auto_decompress=True,
            )
        else:
            client = make_async_client(timeout=provider.timeout_seconds)
        per_loop[key] = client
    return client


atexit.register(_drop_clients_of_closed_loops)


async def close_clients() -> None:
    """Close this event loop's clients (tests and shutdown)."""
    per_loop = _sessions.pop(asyncio.get_running_loop(), {})
    for client in per_loop.values():
        if isinstance(client, aiohttp.ClientSession):
            await client.close()
        else:
            await client.aclose()  # type: ignore[attr-defined]


def transport_error(provider: ProviderInfo, exc: BaseException) -> errors.ProviderError:
    name = provider.name
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(
        cause,
        aiohttp.ClientConnectionError
        | ConnectionError
        | httpx.ConnectError
        | httpx.ReadError
        | httpx.WriteError,
    ) and not isinstance(cause, aiohttp.ServerTimeoutError):
        # httpx-aiohttp maps aiohttp's connection errors to httpx.ConnectTimeout: name the cause.
        return errors.ProviderConnectionError(f"{name}: connection failed ({type(cause).__name__})")
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError | TimeoutError):
        return errors.ProviderTimeout(f"{name}: timed out")
    if isinstance(
        exc, httpx.RemoteProtocolError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError
    ):
        return errors.ProviderUpstreamError(f"{name}: broken response ({type(exc).__name__})")
    return errors.ProviderConnectionError(f"{name}: transport error ({type(exc).__name__})")


TRANSPORT_ERRORS = (httpx.TransportError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


async def post(provider: ProviderInfo, path: str, body: bytes, headers: dict[str, str]) -> Reply:
    """POST and read the whole reply, within the provider's timeout (a total deadline)."""
    url = provider.base_url + path
    kind = _kind()
    client = _client(provider, kind)
    try:
        async with asyncio.timeout(provider.timeout_seconds):
            if kind == "aiohttp":
                async with client.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    return Reply(response.status, response.headers, await response.read())
            response = await client.post(url, content=body, headers=headers)
            return Reply(response.status_code, response.headers, await response.aread())
    except TRANSPORT_ERRORS as exc:
        raise transport_error(provider, exc) from None


@dataclass(slots=True)
class StreamReply:
    status: int
    headers: Mapping[str, str]
    _read: object
    _lines: object

    async def read(self) -> bytes:
        return await self._read()  # type: ignore[operator]

    def lines(self) -> AsyncIterator[str]:
        return self._lines()  # type: ignore[operator]


@contextlib.asynccontextmanager
async def stream(
    provider: ProviderInfo, path: str, body: bytes, headers: dict[str, str]
) -> AsyncIterator[StreamReply]:
    """POST and iterate the reply's lines (SSE). The read timeout applies between chunks."""
    url = provider.base_url + path
    kind = _kind()
    client = _client(provider, kind)
    try:
        if kind == "aiohttp":
            async with client.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:

                async def lines() -> AsyncIterator[str]:
                    async for raw in response.content:
                        yield raw.decode().rstrip("\r\n")

                yield StreamReply(response.status, response.headers, response.read, lines)
        else:
            request = client.build_request("POST", url, content=body, headers=headers)
            response = await client.send(request, stream=True)
            try:
                yield StreamReply(
                    response.status_code, response.headers, response.aread, response.aiter_lines
                )
            finally:
                await response.aclose()
    except TRANSPORT_ERRORS as exc:
        raise transport_error(provider, exc) from None
