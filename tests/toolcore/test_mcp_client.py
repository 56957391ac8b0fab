"""External MCP servers as a tool source: import (command, admin action), calls through
toolcore's one call path, the SSRF guard on the server URL, and the registry file."""

from __future__ import annotations

import io

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.urls import reverse

from daarion.server.registry_io import registry_export, registry_import
from tests.factories import AgentFactory
from tests.fakes.mcp_server import EXTERNAL_SECRET, serve_mcp_server
from toolcore.mcp.importer import McpImportError, mcp_server_import_tools, mcp_tool_id_for
from toolcore.models import McpServer, McpServerSecretHeader, Tool, ToolCall
from toolcore.services import tool_call, tool_grant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def external():
    with serve_mcp_server() as fake:
        yield fake


@pytest.fixture
def weather(external):
    server = McpServer.objects.create(name="weather", url=external.url, timeout_seconds=10)
    McpServerSecretHeader.objects.create(
        server=server, name="Authorization", value=f"Bearer {EXTERNAL_SECRET}"
    )
    return server


def _import(*names: str) -> str:
    out = io.StringIO()
    call_command("mcp_import", *names, stdout=out)
    return out.getvalue()


def test_command_imports_tools_with_schemas_and_annotations(weather, external):
    output = _import("weather")
    assert "3 created" in output
    tools = {t.mcp_tool_name: t for t in Tool.objects.filter(mcp_server=weather)}
    assert sorted(tools) == ["forecast", "rain.chance", "station_reset"]
    forecast = tools["forecast"]
    assert (forecast.tool_id, forecast.openai_name) == ("weather.forecast", "weather__forecast")
    assert forecast.executor == "mcp"
    assert forecast.description == "Weather forecast for a city."
    assert forecast.input_schema["properties"]["city"]["type"] == "string"
    assert forecast.input_schema["required"] == ["city"]
    assert (forecast.read_only_hint, forecast.idempotent_hint) == (True, True)
    assert forecast.destructive_hint is None
    assert tools["rain.chance"].tool_id == "weather.rain_chance"  # OpenAI-safe
    assert not forecast.grants.exists()  # grants stay explicit
    # the secret header went to the MCP server
    assert any(h.get("authorization") == f"Bearer {EXTERNAL_SECRET}" for h in external.headers)
    weather.refresh_from_db()
    assert weather.last_imported_at is not None


def test_reimport_updates_and_reports_removed_tools(weather, external):
    _import("weather")
    assert "3 unchanged" in _import("weather")
    external.server.remove_tool("rain.chance")

    def forecast(city: str) -> dict:
        return {"city": city}

    external.server.remove_tool("forecast")
    external.server.add_tool(forecast, name="forecast", description="Better forecast for a city.")
    output = _import("weather")
    assert "1 updated" in output and "1 unchanged" in output
    assert "1 removed (disabled)" in output and "weather.rain_chance" in output
    assert Tool.objects.get(tool_id="weather.forecast").description == (
        "Better forecast for a city."
    )
    assert Tool.objects.get(tool_id="weather.forecast").version == 2
    assert Tool.objects.get(tool_id="weather.rain_chance").enabled is False


def test_calls_go_through_the_one_call_path(weather, external):
    _import("weather")
    agent = AgentFactory()
    for tool_id in ("weather.forecast", "weather.station_reset", "weather.rain_chance"):
        tool_grant(agent_id=agent.id, tool_id=tool_id)
    call = async_to_sync(tool_call)

    ok = call(agent_id=agent.id, tool_id="weather__forecast", args={"city": "Kyiv", "days": 2})
    assert ok.ok, ok.error
    assert ok.result == {"city": "Kyiv", "days": 2, "summary": "Sunny in Kyiv", "temp_c": 21}
    text = call(agent_id=agent.id, tool_id="weather.rain_chance", args={"city": "Lviv"})
    assert text.ok and text.result == "Lviv: 10%"

    invalid = call(agent_id=agent.id, tool_id="weather.forecast", args={"days": 2})
    assert invalid.error.type == "invalid_args"  # our validation, before any MCP request
    failing = call(agent_id=agent.id, tool_id="weather.station_reset", args={})
    assert failing.error.type == "upstream_error"
    assert "station offline" in failing.error.message
    assert EXTERNAL_SECRET not in failing.error.message  # scrubbed like HTTP tools' secrets

    rows = list(ToolCall.objects.filter(agent_id=agent.id).order_by("created_at"))
    assert [r.outcome for r in rows] == ["ok", "ok", "invalid_args", "upstream_error"]
    assert EXTERNAL_SECRET not in rows[-1].error_message
    # the call carried the caller's identity and the server's credential
    last = external.headers[-1]
    assert last["x-daarion-agent-id"] == agent.id
    assert last["authorization"] == f"Bearer {EXTERNAL_SECRET}"


def test_disabled_server_and_unreachable_server(weather, external):
    _import("weather")
    agent = AgentFactory()
    tool_grant(agent_id=agent.id, tool_id="weather.forecast")
    weather.enabled = False
    weather.save()
    disabled = async_to_sync(tool_call)(
        agent_id=agent.id, tool_id="weather.forecast", args={"city": "Kyiv"}
    )
    assert disabled.error.type == "disabled"
    weather.enabled = True
    weather.url = "http://127.0.0.1:9/mcp"  # nothing listens on the discard port
    weather.save()
    down = async_to_sync(tool_call)(
        agent_id=agent.id, tool_id="weather.forecast", args={"city": "Kyiv"}
    )
    assert down.error.type == "upstream_error"
    assert "Could not reach the MCP server" in down.error.message


def test_ssrf_guard_applies_to_the_server_url(weather, external, settings):
    _import("weather")
    agent = AgentFactory()
    tool_grant(agent_id=agent.id, tool_id="weather.forecast")
    settings.TOOLCORE_ALLOWED_HOSTS = []  # 127.0.0.1 is not public: refused now
    seen = len(external.headers)
    with pytest.raises(McpImportError, match="network policy"):
        mcp_server_import_tools(server=weather)
    result = async_to_sync(tool_call)(
        agent_id=agent.id, tool_id="weather.forecast", args={"city": "Kyiv"}
    )
    assert result.error.type == "upstream_error"
    assert result.error.details["reason"] == "blocked_destination"
    assert len(external.headers) == seen  # nothing reached the server


def test_command_errors(weather):
    with pytest.raises(CommandError, match="Unknown MCP server"):
        _import("nope")
    weather.url = "http://127.0.0.1:9/mcp"
    weather.save()
    err = io.StringIO()
    with pytest.raises(CommandError, match="Import failed for: weather"):
        call_command("mcp_import", "--all", stdout=io.StringIO(), stderr=err)
    assert "Could not reach the MCP server" in err.getvalue()


def test_admin_action_imports_tools(admin_client, weather):
    url = reverse("admin:toolcore_mcpserver_changelist")
    response = admin_client.post(
        url, {"action": "import_tools", "_selected_action": [weather.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "3 created" in response.content.decode()
    assert Tool.objects.filter(mcp_server=weather).count() == 3
    # the secret header is write-only in the server's change form
    page = admin_client.get(reverse("admin:toolcore_mcpserver_change", args=[weather.pk]))
    assert page.status_code == 200
    assert EXTERNAL_SECRET not in page.content.decode()


def test_registry_file_round_trip(weather):
    _import("weather")
    data = registry_export()
    assert data["mcp_servers"] == [
        {
            "name": "weather",
            "url": weather.url,
            "timeout_seconds": 10.0,
            "enabled": True,
            "secret_header_names": ["Authorization"],
        }
    ]
    exported = {t["tool_id"]: t for t in data["tools"]}
    assert exported["weather.forecast"]["mcp_server"] == "weather"
    assert exported["weather.forecast"]["read_only_hint"] is True
    Tool.objects.all().delete()
    McpServer.objects.all().delete()
    summary = registry_import(data)
    assert summary.counts["mcp_servers"] == 1
    server = McpServer.objects.get(name="weather")
    assert server.url == weather.url
    assert Tool.objects.get(tool_id="weather.forecast").mcp_server == server
    assert registry_export()["tools"] == data["tools"]


def test_tool_ids_are_openai_safe_and_unique():
    taken = {"w__a_b"}
    assert mcp_tool_id_for(server_name="w", remote_name="a/b", taken=set()) == "w.a_b"
    clash = mcp_tool_id_for(server_name="w", remote_name="a.b", taken=taken)
    assert clash.startswith("w.a_b_") and clash.replace(".", "__") not in taken
    long = mcp_tool_id_for(server_name="w", remote_name="x" * 100, taken=set())
    assert len(long.replace(".", "__")) <= 64
