"""Sofia calls a tool of an external MCP server in a turn: imported once, granted, then chosen by
a scripted LLM upstream and run through toolcore and the MCP client, over real sockets."""

from __future__ import annotations

import io

import orjson
import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from daarion.runtime.turn import agent_respond
from tests.fakes.mcp_server import EXTERNAL_SECRET, serve_mcp_server
from tests.fakes.openai_upstream import UpstreamState, fake_upstream
from toolcore.models import McpServer, McpServerSecretHeader, ToolCall
from toolcore.selectors import registry_cache
from toolcore.services import tool_grant

pytestmark = pytest.mark.django_db(transaction=True)


def weather_script(body: dict) -> dict:
    """Asks for the MCP forecast tool on a weather question, then answers from its result."""
    messages = body["messages"]
    tool_results = [m for m in messages if m["role"] == "tool"]
    if tool_results:
        payload = orjson.loads(tool_results[-1]["content"])
        if not payload.get("ok"):
            return {"role": "assistant", "content": f"Failed: {payload['error']['type']}."}
        result = payload["result"]
        return {"role": "assistant", "content": f"{result['summary']}, {result['temp_c']}°C."}
    names = [t["function"]["name"] for t in body.get("tools") or []]
    if "weather__forecast" in names and "weather" in messages[-1]["content"].lower():
        arguments = orjson.dumps({"city": "Kyiv", "days": 1}).decode()
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": "weather__forecast", "arguments": arguments},
                }
            ],
        }
    return {"role": "assistant", "content": "Noted."}


@pytest.fixture
def scripted_llm():  # replaces the e2e fixture of the same name: sofia_world routes to it
    with fake_upstream(UpstreamState(script=weather_script)) as (_, state):
        yield state


def test_sofia_calls_an_imported_mcp_tool_in_a_turn(sofia_world, scripted_llm):
    with serve_mcp_server() as external:
        server = McpServer.objects.create(name="weather", url=external.url)
        McpServerSecretHeader.objects.create(
            server=server, name="Authorization", value=f"Bearer {EXTERNAL_SECRET}"
        )
        call_command("mcp_import", "weather", stdout=io.StringIO())
        tool_grant(agent_id="agent:sofia", tool_id="weather.forecast")
        registry_cache.invalidate()

        turn = async_to_sync(agent_respond)(
            agent_id="agent:sofia", message="What's the weather in Kyiv?", channel_id="c-mcp"
        )

    assert "Sunny in Kyiv, 21°C." in turn.reply
    first, second = [r["body"] for r in scripted_llm.requests if "messages" in r["body"]]
    offered = {t["function"]["name"] for t in first["tools"]}
    assert "weather__forecast" in offered and "weather__rain_chance" not in offered  # not granted
    assert second["messages"][-1]["role"] == "tool"
    row = ToolCall.objects.get(agent_id="agent:sofia", requested_tool="weather__forecast")
    assert row.outcome == "ok" and row.tool.mcp_tool_name == "forecast"
    assert row.args == {"city": "Kyiv", "days": 1}
    calls = [h for h in external.headers if h.get("x-daarion-tool-call-id")]
    assert calls and calls[-1]["x-daarion-tool-call-id"] == str(row.call_id)
