"""An external MCP server for tests: the SDK's MCPServer (ex-FastMCP) over streamable HTTP,
served by uvicorn in a thread on 127.0.0.1. It records the headers of every HTTP request."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import mcp_types as types
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.fakes.server import free_port

EXTERNAL_SECRET = "ext-mcp-secret-9d8c7b6a5f"


@dataclass
class FakeMcpServer:
    server: MCPServer
    url: str = ""
    headers: list[dict[str, str]] = field(default_factory=list)


def build_weather_server() -> MCPServer:
    server = MCPServer("weather-station")

    @server.tool(
        name="forecast",
        description="Weather forecast for a city.",
        annotations=types.ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
    def forecast(city: str, days: int = 1) -> dict:
        return {"city": city, "days": days, "summary": f"Sunny in {city}", "temp_c": 21}

    @server.tool(
        name="rain.chance", description="Chance of rain today, in percent.", structured_output=False
    )
    def rain_chance(city: str) -> str:
        return f"{city}: 10%"

    @server.tool(name="station_reset", description="Resets the station (always fails).")
    def station_reset() -> str:
        raise ToolError(f"station offline (token {EXTERNAL_SECRET} rejected)")

    return server


@contextlib.contextmanager
def serve_mcp_server(server: MCPServer | None = None) -> Iterator[FakeMcpServer]:
    fake = FakeMcpServer(server=server or build_weather_server())
    app = fake.server.streamable_http_app(json_response=True, stateless_http=True)

    async def recording(scope, receive, send):
        if scope["type"] == "http":
            fake.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await app(scope, receive, send)

    port = free_port()
    config = uvicorn.Config(
        recording, host="127.0.0.1", port=port, lifespan="on", log_level="warning"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="fake-mcp-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake MCP server did not start")
        time.sleep(0.02)
    fake.url = f"http://127.0.0.1:{port}/mcp"
    try:
        yield fake
    finally:
        uv.should_exit = True
        thread.join(10)
