"""The MCP project's conformance suite (npm `@modelcontextprotocol/conformance`) against /mcp.

Opt-in: set MCP_CONFORMANCE to a directory where `npm install @modelcontextprotocol/conformance
node@22` was run (the suite needs Node ≥ 22); see docs/toolcore-mcp.md. The suite's client
sends no credentials, so the server under test is our ASGI app behind a wrapper that adds a
bound service token — the auth gate itself is covered by test_mcp_server.py.

Only the scenarios that apply to a tools-only server run: the others exercise a reference
server's fixed tools, resources, prompts, sampling and elicitation.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.factories import AgentFactory, make_service_token
from tests.fakes.server import free_port
from toolcore.services import python_tool_install, tool_grant

pytestmark = pytest.mark.django_db(transaction=True)

HOME = os.environ.get("MCP_CONFORMANCE", "")
APPLICABLE = "server-initialize,ping,tools-list"
SCENARIOS = tuple(os.environ.get("MCP_CONFORMANCE_SCENARIOS", APPLICABLE).split(","))


def _cli() -> tuple[Path, Path] | None:
    if not HOME:
        return None
    node = Path(HOME) / "node_modules/.bin/node"
    cli = Path(HOME) / "node_modules/@modelcontextprotocol/conformance/dist/index.js"
    return (node, cli) if node.exists() and cli.exists() else None


@pytest.fixture
def authorised_url():
    import uvicorn

    from daarion.server.asgi import application

    agent = AgentFactory()
    python_tool_install(function_name="time_now")
    tool_grant(agent_id=agent.id, tool_id="time_now")
    _, token = make_service_token(scopes=("tools",), agent=agent)

    async def with_token(scope, receive, send):
        if scope["type"] == "http":
            scope = {
                **scope,
                "headers": [*scope["headers"], (b"authorization", f"Bearer {token}".encode())],
            }
        await application(scope, receive, send)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(with_token, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(10)


@pytest.mark.skipif(_cli() is None, reason="set MCP_CONFORMANCE (see docs/toolcore-mcp.md)")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_conformance_scenario(authorised_url, scenario, tmp_path):
    node, cli = _cli()
    done = subprocess.run(
        [str(node), str(cli), "server", "--url", authorised_url, "--scenario", scenario],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
