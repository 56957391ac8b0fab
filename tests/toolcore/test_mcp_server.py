"""/mcp over real HTTP: the official `mcp` client against our ASGI app served by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess

import httpx
import httpx2
import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import HEADER_MISMATCH

from tests.factories import AgentFactory, make_service_token
from tests.fakes.server import (
    REPO_ROOT,
    free_port,
    production_server_env,
    uvicorn_command,
    wait_for_port,
)
from tests.toolcore.conftest import SECRET
from tests.toolcore.factories import make_http_tool
from toolcore.models import ToolCall
from toolcore.services import python_tool_install, tool_grant

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = {
    "type": "object",
    "properties": {
        "microdao_id": {"type": "string", "maxLength": 64},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
    },
    "required": ["microdao_id"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def mcp_url():
    """Our ASGI app (daarion.server.asgi, /mcp mounted) served by uvicorn in a thread of this
    process, with ASGI lifespan on so the endpoint's shutdown path runs too."""
    import threading
    import time

    import uvicorn

    from daarion.server.asgi import application
    from tests.fakes.server import free_port

    port = free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, lifespan="on", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-mcp", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def world(tool_server):
    """An agent with time_now and projects.list granted, and a tool it was not granted."""
    agent = AgentFactory()
    python_tool_install(function_name="time_now")
    tool_grant(agent_id=agent.id, tool_id="time_now")
    make_http_tool(
        tool_id="projects.list",
        url_template=f"{tool_server.url}/projects",
        input_schema=SCHEMA,
        secret_headers={"Authorization": f"Bearer {SECRET}"},
        grant_to=agent,
        read_only_hint=True,
        idempotent_hint=True,
        destructive_hint=False,
    )
    make_http_tool(tool_id="broken", url_template=f"{tool_server.url}/fail", grant_to=agent)
    make_http_tool(tool_id="secret_admin", url_template=f"{tool_server.url}/projects")
    return agent


@contextlib.asynccontextmanager
async def connect(url: str, token: str, *, agent_id: str | None = None, mode: str = "auto"):
    headers = {"Authorization": f"Bearer {token}"}
    if agent_id:
        headers["X-DAARION-Agent-ID"] = agent_id
    async with httpx2.AsyncClient(headers=headers, timeout=20) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, cache=None) as client:
            yield client


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_bound_token_lists_and_calls_like_internal_api(mcp_url, world, tool_server, mode):
    _, token = make_service_token(scopes=("tools",), agent=world)

    async def scenario():
        async with connect(mcp_url, token, mode=mode) as client:
            listing = await client.list_tools()
            result = await client.call_tool("projects.list", {"microdao_id": "m1", "limit": 2})
            clock = await client.call_tool("time_now", {"timezone": "UTC"})
            return client.protocol_version, listing, result, clock

    version, listing, result, clock = asyncio.run(scenario())
    assert version == ("2026-07-28" if mode == "auto" else "2025-11-25")
    by_name = {tool.name: tool for tool in listing.tools}
    assert sorted(by_name) == ["broken", "projects.list", "time_now"]
    projects = by_name["projects.list"]
    assert projects.input_schema == SCHEMA
    assert projects.description == "Test tool projects.list."
    assert projects.annotations.read_only_hint is True
    assert projects.annotations.destructive_hint is False
    assert projects.annotations.idempotent_hint is True
    assert by_name["time_now"].annotations is None

    assert result.is_error is False
    assert result.structured_content["projects"] == [{"id": "p1", "name": "X"}]
    assert orjson.loads(result.content[0].text) == result.structured_content
    assert clock.is_error is False and clock.structured_content["timezone"] == "UTC"

    # the same call path as /internal/tools/call: the secret header reached the tool service,
    # the query string carries the arguments, and there is one audit row per call
    assert tool_server.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert tool_server.requests[-1]["query"] == {"microdao_id": "m1", "limit": "2"}
    rows = ToolCall.objects.filter(agent_id=world.id).order_by("created_at")
    assert [(r.requested_tool, r.outcome) for r in rows] == [
        ("projects.list", "ok"),
        ("time_now", "ok"),
    ]
    assert str(rows[0].call_id) == result.meta["io.daarion/callId"]


def test_results_and_audit_match_internal_tools_call(mcp_url, world, client):
    _, token = make_service_token(scopes=("tools",), agent=world)
    bearer = {"Authorization": f"Bearer {token}"}
    internal_list = client.get("/internal/tools", headers=bearer).json()["tools"]
    internal_call = client.post(
        "/internal/tools/call",
        {"tool_id": "projects.list", "args": {"microdao_id": "m1"}},
        content_type="application/json",
        headers=bearer,
    ).json()

    async def scenario():
        async with connect(mcp_url, token) as mcp:
            listing = await mcp.list_tools()
            result = await mcp.call_tool("projects.list", {"microdao_id": "m1"})
            return listing, result

    listing, result = asyncio.run(scenario())
    expected = {
        (t["tool_id"], t["description"], orjson.dumps(t["input_schema"])) for t in internal_list
    }
    got = {(t.name, t.description, orjson.dumps(t.input_schema)) for t in listing.tools}
    assert got == expected
    assert result.structured_content == internal_call["result"]
    first, second = ToolCall.objects.filter(agent_id=world.id).order_by("created_at")
    fields = ("agent_id", "requested_tool", "tool_id", "tool_version", "args", "outcome")
    assert [getattr(first, f) for f in fields] == [getattr(second, f) for f in fields]


def test_unbound_token_names_the_agent_in_a_header(mcp_url, world):
    _, token = make_service_token(scopes=("tools",))

    async def scenario():
        async with connect(mcp_url, token, agent_id=world.id) as client:
            return await client.list_tools(), await client.call_tool("time_now", {})

    listing, result = asyncio.run(scenario())
    assert {tool.name for tool in listing.tools} == {"broken", "projects.list", "time_now"}
    assert result.is_error is False
    assert ToolCall.objects.get(agent_id=world.id).outcome == "ok"


def test_unbound_token_without_agent_is_refused(mcp_url, world):
    _, token = make_service_token(scopes=("tools",))
    response = httpx.post(mcp_url, json=_list_request(), headers=_headers(token))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600
    assert "X-DAARION-Agent-ID" in response.json()["error"]["message"]

    async def scenario():
        async with connect(mcp_url, token) as client:
            await client.list_tools()

    with pytest.raises(Exception):  # noqa: B017  (the SDK reports a refused handshake variously)
        asyncio.run(scenario())


def test_wrong_token_scope_and_other_agent_are_refused(mcp_url, world):
    other = AgentFactory()
    _, no_tools = make_service_token(scopes=("llm",), agent=world)
    _, bound = make_service_token(scopes=("tools",), agent=world)
    _, unbound = make_service_token(scopes=("tools",))
    body = _list_request()
    missing = httpx.post(mcp_url, json=body, headers=_headers(None))
    wrong = httpx.post(mcp_url, json=body, headers=_headers("not-a-token"))
    scope = httpx.post(mcp_url, json=body, headers=_headers(no_tools))
    agent = httpx.post(
        mcp_url, json=body, headers={**_headers(bound), "X-DAARION-Agent-ID": other.id}
    )
    unknown = httpx.post(
        mcp_url, json=body, headers={**_headers(unbound), "X-DAARION-Agent-ID": "agent:nobody"}
    )
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert scope.status_code == 403 and "'tools' scope" in scope.json()["error"]["message"]
    assert agent.status_code == 403
    assert unknown.status_code == 404
    for response in (missing, wrong, scope, agent, unknown):
        assert response.json()["jsonrpc"] == "2.0"
    assert not ToolCall.objects.exists()


def test_forbidden_and_unknown_tools_are_protocol_errors(mcp_url, world):
    _, token = make_service_token(scopes=("tools",), agent=world)

    async def scenario():
        errors = []
        async with connect(mcp_url, token) as client:
            for name in ("secret_admin", "no_such_tool"):
                with pytest.raises(MCPError) as caught:
                    await client.call_tool(name, {})
                errors.append(caught.value)
        return errors

    for error in asyncio.run(scenario()):
        assert error.code == -32602
        assert "No tool named" in error.message
    outcomes = dict(ToolCall.objects.values_list("requested_tool", "outcome"))
    assert outcomes == {"secret_admin": "permission_denied", "no_such_tool": "not_found"}


def test_invalid_args_and_upstream_failure_are_tool_errors(mcp_url, world):
    _, token = make_service_token(scopes=("tools",), agent=world)

    async def scenario():
        async with connect(mcp_url, token) as client:
            invalid = await client.call_tool("projects.list", {"limit": 500})
            broken = await client.call_tool("broken", {})
            return invalid, broken

    invalid, broken = asyncio.run(scenario())
    assert invalid.is_error is True
    assert "Invalid arguments" in invalid.content[0].text
    assert invalid.structured_content["error"]["type"] == "invalid_args"
    assert broken.is_error is True
    assert broken.structured_content["error"]["type"] == "upstream_error"
    assert "HTTP 500" in broken.content[0].text
    assert "hunter2" not in broken.content[0].text  # the upstream's body is not passed on
    outcomes = sorted(ToolCall.objects.values_list("outcome", flat=True))
    assert outcomes == ["invalid_args", "upstream_error"]


def test_bad_json_rpc_gets_protocol_errors_never_500(mcp_url, world):
    _, token = make_service_token(scopes=("tools",), agent=world)
    headers = {**_headers(token), "MCP-Protocol-Version": "2026-07-28"}
    not_json = httpx.post(mcp_url, content=b"{not json", headers=headers)
    unknown_method = httpx.post(
        mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "nope/nothing", "params": {"_meta": ENVELOPE}},
        headers={**headers, "Mcp-Method": "nope/nothing"},
    )
    bad_params = httpx.post(
        mcp_url,
        json={
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": 5, "_meta": ENVELOPE},
        },
        headers={**headers, "Mcp-Method": "tools/call"},
    )
    legacy_not_json = httpx.post(mcp_url, content=b"[", headers=_headers(token))
    wrong_type = httpx.post(
        mcp_url, content=b"{}", headers={**_headers(token), "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 400  # the SDK answers this one in plain text
    for response in (not_json, unknown_method, bad_params, legacy_not_json):
        assert 400 <= response.status_code < 500, response.text
        assert "error" in response.json(), response.text
    assert not_json.json()["error"]["code"] == -32700
    assert unknown_method.json()["error"]["code"] == -32601, unknown_method.text
    # a tools/call without its routing header (Mcp-Name) is refused before params validation
    assert bad_params.json()["error"]["code"] in (-32602, HEADER_MISMATCH)
    # no sessions, so no standalone SSE stream to open and nothing to delete
    for method in ("GET", "DELETE", "PUT"):
        response = httpx.request(method, mcp_url, headers=_headers(token), timeout=5)
        assert response.status_code == 405, (method, response.status_code)
        assert response.headers["allow"] == "POST"


@pytest.fixture
def two_workers(settings):
    """A real two-worker uvicorn (production settings, the test database)."""
    port = free_port()
    process = subprocess.Popen(
        uvicorn_command(port, "--workers", "2"),
        cwd=REPO_ROOT,
        env={**os.environ, **production_server_env(settings)},
    )
    try:
        wait_for_port(port, timeout=90, process=process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def test_two_uvicorn_workers_serve_without_sticky_sessions(world, two_workers):
    """Stateless mode: fresh connections each time, so requests spread over both worker
    processes; a legacy handshake and its later requests need not meet the same worker."""
    _, token = make_service_token(scopes=("tools",), agent=world)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    handshake = httpx.post(two_workers, json=initialize, headers=_headers(token))
    assert handshake.status_code == 200
    assert "mcp-session-id" not in handshake.headers  # nothing for a worker to remember

    async def scenario():
        for _ in range(3):
            for mode in ("legacy", "auto"):
                async with connect(two_workers, token, mode=mode) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    assert names == {"broken", "projects.list", "time_now"}
                    for _ in range(3):
                        result = await client.call_tool("time_now", {})
                        assert result.is_error is False

    asyncio.run(scenario())
    assert ToolCall.objects.filter(agent_id=world.id, outcome="ok").count() == 18


ENVELOPE = {  # the per-request envelope of protocol revision 2026-07-28
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def _list_request() -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers
