"""Issue 10 #3: the audit row is written before a tool acts, and a tool never acts unaudited."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.toolcore.factories import call, make_python_tool
from toolcore.models import ToolCall
from toolcore.registry import python_tool, python_tool_unregister

pytestmark = pytest.mark.django_db

EMPTY = {"type": "object", "properties": {}, "additionalProperties": False}


@pytest.fixture
def probe_tool(agent):
    """A tool that notes what the audit table says about its own call while it runs."""
    seen: list[list[str]] = []

    async def probe(ctx):
        outcomes = [
            o
            async for o in ToolCall.objects.filter(call_id=ctx.call_id).values_list(
                "outcome", flat=True
            )
        ]
        seen.append(outcomes)
        return {"ran": True}

    python_tool(name="t_probe", description="probe", input_schema=EMPTY)(probe)
    make_python_tool(function_name="t_probe", grant_to=agent)
    yield seen
    python_tool_unregister("t_probe")


def test_started_row_is_committed_before_the_tool_runs_and_completed_after(agent, probe_tool):
    outcome = call(agent, "t_probe")
    assert outcome.ok, outcome.error
    assert probe_tool == [["started"]]
    row = ToolCall.objects.get(call_id=outcome.call_id)
    assert row.outcome == "ok" and row.latency_ms > 0
    assert ToolCall.objects.count() == 1


def test_no_audit_row_no_run_503(client, internal_headers, agent, probe_tool):
    with connection.cursor() as cursor:  # the database refuses every new audit row
        cursor.execute(
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$;"
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON toolcore_toolcall "
            "FOR EACH ROW EXECUTE FUNCTION refuse_audit();"
        )
    response = client.post(
        "/internal/tools/call",
        data={"tool_id": "t_probe", "agent_id": agent.id, "args": {}},
        content_type="application/json",
        headers=internal_headers,
    )
    assert response.status_code == 503, response.content
    assert response.json()["error"]["type"] == "service_unavailable"
    assert 1 <= int(response["Retry-After"]) <= 30
    assert probe_tool == []  # the tool did not act
