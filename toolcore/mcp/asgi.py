"""`/mcp` inside our one ASGI application: an auth gate in front of the SDK's transport.

`mount_mcp(django_app)` returns an ASGI callable that sends `/mcp` to the MCP endpoint and
everything else to Django, so Django stays the only application (no Starlette app around it).

Session manager start-up. The SDK's `StreamableHTTPSessionManager` must run inside
`manager.run()` (a task group its per-request server tasks live in); SDK examples enter it from a
Starlette lifespan, and Django has no ASGI lifespan. So the endpoint starts it lazily: the first
`/mcp` request of a worker process starts one long-lived task per event loop that enters
`run()` and waits; every request then goes through that manager. It runs in stateless mode
(a fresh transport per request, no `Mcp-Session-Id`), so any worker can serve any request and
no sticky sessions are needed. ASGI lifespan events, when the server sends them (uvicorn's
default "auto"), are answered here: start-up is a no-op, shutdown stops the managers.

Auth (before the SDK sees anything): `Authorization: Bearer <service token>` with the `tools`
scope. A token bound to an agent acts as that agent; an unbound token must name the agent in the
`X-DAARION-Agent-ID` header. Refusals are JSON-RPC error bodies: 401 (no or bad token, with
`WWW-Authenticate`), 403 (scope, another agent), 400 (no agent named), 404 (unknown agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from daarion.agents.selectors import agent_aget, service_token_aauthenticate
from daarion.agents.validators import AGENT_ID_RE
from toolcore.mcp.server import SCOPE_KEY, build_server

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MCP_PATH = "/mcp"
AGENT_HEADER = b"x-daarion-agent-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
UNAUTHORIZED = -32001  # server-defined JSON-RPC codes (-32000..-32099)
FORBIDDEN = -32003


class _Refusal(Exception):
    def __init__(self, status: int, code: int, message: str, *, bad_token: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.bad_token = bad_token


class McpEndpoint:
    """The gate plus one lazily started SDK session manager per event loop."""

    def __init__(self) -> None:
        self._managers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop,
            tuple[StreamableHTTPSessionManager, asyncio.Event, asyncio.Task],
        ] = weakref.WeakKeyDictionary()

    async def _manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        entry = self._managers.get(loop)
        if entry is None or entry[2].done():
            # Built and registered with no await in between: concurrent first requests share it.
            manager = StreamableHTTPSessionManager(
                app=build_server(), stateless=True, json_response=True
            )
            started = asyncio.Event()

            async def run() -> None:
                async with manager.run():
                    started.set()
                    await asyncio.Event().wait()  # until shutdown cancels this task

            task = loop.create_task(run(), name="mcp-session-manager")
            entry = (manager, started, task)
            self._managers[loop] = entry
        manager, started, task = entry
        if not started.is_set():
            waiter = loop.create_task(started.wait())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not started.is_set():
                raise RuntimeError("the MCP session manager did not start") from task.exception()
        return manager

    async def shutdown(self) -> None:
        entry = self._managers.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            entry[2].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entry[2]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            # Stateless: no session to DELETE and no standalone SSE stream to GET (the SDK would
            # hold such a stream open, carrying nothing, for as long as the client waits).
            await _refuse(send, _Refusal(405, -32600, "Only POST is served here."))
            return
        await sync_to_async(close_old_connections)()  # as Django does around each request
        try:
            try:
                scope[SCOPE_KEY] = await _authenticate(scope)
            except _Refusal as refusal:
                await _refuse(send, refusal)
                return
            manager = await self._manager()
            started = False

            async def tracked_send(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                await manager.handle_request(scope, receive, tracked_send)
            except Exception:  # the SDK answers protocol errors itself; this is a bug or outage
                logger.exception("MCP request failed")
                if not started:
                    await _refuse(send, _Refusal(503, -32603, "The MCP endpoint failed; retry."))
        finally:
            await sync_to_async(close_old_connections)()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _authenticate(scope: Scope) -> dict[str, Any]:
    scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Refusal(401, UNAUTHORIZED, "Send Authorization: Bearer <service token>.")
    caller = await service_token_aauthenticate(raw_token=token.strip())
    if caller is None:
        raise _Refusal(401, UNAUTHORIZED, "Unknown or revoked service token.", bad_token=True)
    if not caller.has_scope("tools"):
        raise _Refusal(403, FORBIDDEN, "This service token lacks the 'tools' scope.")
    named = _header(scope, AGENT_HEADER)
    if caller.agent_id is not None:
        if named and named != caller.agent_id:
            raise _Refusal(403, FORBIDDEN, "This service token is bound to another agent.")
        agent_id = caller.agent_id
    elif not named:
        raise _Refusal(
            400,
            -32600,
            "This service token is not bound to an agent: name one in the X-DAARION-Agent-ID "
            "header.",
        )
    elif not AGENT_ID_RE.match(named):
        raise _Refusal(400, -32600, "X-DAARION-Agent-ID is not a valid agent id.")
    else:
        agent_id = named
    if await agent_aget(agent_id=agent_id) is None:
        raise _Refusal(404, -32600, f"Unknown agent '{agent_id}'.")
    request_id = _header(scope, b"x-request-id")
    return {
        "agent_id": agent_id,
        "token": caller.name,
        "request_id": request_id if request_id and _REQUEST_ID.match(request_id) else None,
    }


async def _refuse(send: Send, refusal: _Refusal) -> None:
    body = orjson.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": refusal.code, "message": refusal.message}}
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if refusal.status == 405:
        headers.append((b"allow", b"POST"))
    if refusal.status == 401:  # RFC 6750: an error code only when a token was presented
        challenge = b'Bearer realm="daarion"' + (
            b', error="invalid_token"' if refusal.bad_token else b""
        )
        headers.append((b"www-authenticate", challenge))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send, endpoint: McpEndpoint) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await endpoint.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def mount_mcp(
    django_app: Callable[..., Awaitable[None]], *, endpoint: McpEndpoint | None = None
) -> ASGIApp:
    """`django_app` with `/mcp` served by the MCP endpoint."""
    mcp_endpoint = endpoint or McpEndpoint()

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == MCP_PATH:
            await mcp_endpoint(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send, mcp_endpoint)
        else:
            await django_app(scope, receive, send)

    return application
