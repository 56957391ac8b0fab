"""tool_call with HTTP tools against a real tool server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging

import pytest
from asgiref.sync import async_to_sync

from tests.toolcore.conftest import SECRET
from tests.toolcore.factories import call, make_http_tool
from toolcore.models import ToolCall

pytestmark = pytest.mark.django_db

PROJECTS_SCHEMA = {
    "type": "object",
    "properties": {
        "microdao_id": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["microdao_id"],
    "additionalProperties": False,
}
TASK_SCHEMA = {
    "type": "object",
    "properties": {"project_id": {"type": "string"}, "title": {"type": "string"}},
    "required": ["project_id", "title"],
    "additionalProperties": False,
}


def test_get_success_puts_args_in_query_and_injects_headers(tool_server, agent):
    make_http_tool(
        tool_id="projects.list",
        url_template=f"{tool_server.url}/projects",
        input_schema=PROJECTS_SCHEMA,
        headers={"Accept": "application/json"},
        secret_headers={"Authorization": f"Bearer {SECRET}"},
        grant_to=agent,
    )
    outcome = call(
        agent, "projects.list", {"microdao_id": "microdao:7", "limit": 3}, request_id="r1"
    )
    assert outcome.ok, outcome.error
    assert outcome.result["projects"][0]["name"] == "X"
    assert outcome.result["query"] == {"microdao_id": "microdao:7", "limit": "3"}
    assert outcome.tool_id == "projects.list"
    seen = tool_server.requests[-1]["headers"]
    assert seen["Authorization"] == f"Bearer {SECRET}"
    assert seen["X-Request-ID"] == "r1"
    assert seen["X-DAARION-Agent-ID"] == agent.id
    assert seen["X-DAARION-MicroDAO-ID"] == agent.microdao_id
    row = ToolCall.objects.get(call_id=outcome.call_id)
    assert row.outcome == "ok" and row.http_status == 200 and row.attempts == 1
    assert row.args == {"microdao_id": "microdao:7", "limit": 3}
    assert row.tool.tool_id == "projects.list" and row.request_id == "r1"


def test_openai_name_resolves_to_the_dotted_tool(tool_server, agent):
    make_http_tool(
        tool_id="projects.list",
        url_template=f"{tool_server.url}/projects",
        input_schema=PROJECTS_SCHEMA,
        grant_to=agent,
    )
    outcome = call(agent, "projects__list", {"microdao_id": "m"})
    assert outcome.ok and outcome.tool_id == "projects.list"


def test_post_fills_path_url_encoded_and_sends_the_rest_as_json(tool_server, agent):
    make_http_tool(
        tool_id="task.create",
        method="POST",
        url_template=f"{tool_server.url}/projects/{{project_id}}/tasks",
        input_schema=TASK_SCHEMA,
        grant_to=agent,
    )
    project_id = "a/b?c#d@evil.com:80"
    outcome = call(agent, "task.create", {"project_id": project_id, "title": "T"})
    assert outcome.ok, outcome.error
    seen = tool_server.requests[-1]
    # '/', '?' and '#' stay encoded; '@' and ':' are legal inside a path segment either way.
    assert seen["raw_path"].startswith("/projects/a%2Fb%3Fc%23d")
    assert seen["raw_path"].endswith("/tasks")
    assert outcome.result == {"project_id": project_id, "task": {"title": "T"}}


def test_dot_segments_in_a_placeholder_cannot_climb_the_path(tool_server, agent):
    make_http_tool(
        tool_id="task.create",
        method="POST",
        url_template=f"{tool_server.url}/projects/{{project_id}}/tasks",
        input_schema=TASK_SCHEMA,
        grant_to=agent,
    )
    for value in ("..", "."):
        outcome = call(agent, "task.create", {"project_id": value, "title": "T"})
        assert outcome.error.type == "invalid_args"
        assert "project_id" in outcome.error.message
    assert not tool_server.requests


def test_timeout_is_a_total_deadline(tool_server, agent):
    make_http_tool(url_template=f"{tool_server.url}/slow", timeout_seconds=0.3, grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert not outcome.ok and outcome.error.type == "timeout"
    assert "0.3" in outcome.error.message
    assert ToolCall.objects.get(call_id=outcome.call_id).outcome == "timeout"


def test_timeout_covers_retries(tool_server, agent):
    make_http_tool(
        url_template=f"{tool_server.url}/slow", timeout_seconds=0.3, retries=3, grant_to=agent
    )
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "timeout"
    # The deadline ended the call, not per-attempt timeouts (which would retry up to 3 times).
    # 0 hits happen when a loaded machine spends the whole deadline before the request lands.
    assert tool_server.hits["/slow"] <= 1


def test_500_is_upstream_error_without_the_upstream_body(tool_server, agent):
    make_http_tool(url_template=f"{tool_server.url}/fail", grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "upstream_error"
    assert outcome.error.details["status"] == 500
    assert "hunter2" not in outcome.error.message
    row = ToolCall.objects.get(call_id=outcome.call_id)
    assert row.outcome == "upstream_error" and row.http_status == 500


def test_4xx_message_quotes_the_upstream_for_the_llm(tool_server, agent):
    make_http_tool(url_template=f"{tool_server.url}/missing", grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "upstream_error"
    assert "404" in outcome.error.message and "no project with that id" in outcome.error.message


def test_idempotent_method_is_retried_on_503(tool_server, agent):
    make_http_tool(url_template=f"{tool_server.url}/flaky", retries=2, grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.ok and outcome.result == {"ok": "second try"}
    assert tool_server.hits["/flaky"] == 2
    assert ToolCall.objects.get(call_id=outcome.call_id).attempts == 2


def test_post_is_never_retried(tool_server, agent):
    make_http_tool(
        url_template=f"{tool_server.url}/flaky", method="POST", retries=2, grant_to=agent
    )
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "upstream_error"
    assert tool_server.hits["/flaky"] == 1


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_oversized_response_is_refused(tool_server, agent, settings, path):
    settings.TOOLCORE_MAX_RESPONSE_BYTES = 1000
    make_http_tool(url_template=f"{tool_server.url}{path}", grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "upstream_error"
    assert outcome.error.details["reason"] == "response_too_large"
    assert "1000 bytes" in outcome.error.message


def test_response_under_the_cap_is_returned(tool_server, agent, settings):
    settings.TOOLCORE_MAX_RESPONSE_BYTES = 10_000
    make_http_tool(url_template=f"{tool_server.url}/big", grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.ok and outcome.result == "x" * 5000


def test_redirect_to_another_host_is_blocked(tool_server, agent, settings):
    settings.TOOLCORE_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]  # reachable, still refused
    make_http_tool(url_template=f"{tool_server.url}/redirect-away", grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "upstream_error"
    assert "another host" in outcome.error.message
    assert tool_server.hits["/projects"] == 0


def test_redirect_to_cloud_metadata_is_blocked(tool_server, agent):
    make_http_tool(url_template=f"{tool_server.url}/redirect-metadata", grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "upstream_error" and "another host" in outcome.error.message


def test_same_origin_redirect_is_followed(tool_server, agent):
    make_http_tool(url_template=f"{tool_server.url}/redirect-same", grant_to=agent)
    outcome = call(agent, "echo_tool", {"q": "x"})
    assert outcome.ok and outcome.result["query"] == {"from": "redirect"}


def test_invalid_json_from_upstream_is_upstream_error(tool_server, agent):
    make_http_tool(url_template=f"{tool_server.url}/not-json", grant_to=agent)
    assert call(agent, "echo_tool").error.type == "upstream_error"


def test_unreachable_service_degrades_to_upstream_error(agent):
    from tests.fakes.server import free_port

    make_http_tool(url_template=f"http://127.0.0.1:{free_port()}/projects", grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "upstream_error"
    assert outcome.error.details["reason"] == "connection_failed"
    assert ToolCall.objects.get(call_id=outcome.call_id).outcome == "upstream_error"


def test_output_schema_mismatch_is_upstream_error(tool_server, agent):
    make_http_tool(
        url_template=f"{tool_server.url}/projects",
        output_schema={"type": "object", "required": ["tasks"]},
        grant_to=agent,
    )
    outcome = call(agent, "echo_tool")
    assert outcome.error.type == "upstream_error" and "output schema" in outcome.error.message


def test_secret_echoed_by_upstream_is_scrubbed_everywhere(tool_server, agent, caplog):
    caplog.set_level(logging.DEBUG)
    make_http_tool(
        url_template=f"{tool_server.url}/echo-headers",
        secret_headers={"X-Api-Key": SECRET},
        grant_to=agent,
    )
    outcome = call(agent, "echo_tool", {"q": f"please use {SECRET}"})
    assert outcome.ok
    assert tool_server.requests[-1]["headers"]["X-Api-Key"] == SECRET  # injected server-side
    assert SECRET not in repr(outcome.as_dict())
    echoed = {k.lower(): v for k, v in outcome.result["headers"].items()}
    assert echoed["x-api-key"] == "[redacted]"
    row = ToolCall.objects.get(call_id=outcome.call_id)
    assert SECRET not in repr(row.args) and row.args["q"] == "please use [redacted]"
    assert SECRET not in caplog.text


def test_secret_cut_by_the_error_excerpt_is_still_redacted(tool_server, agent):
    make_http_tool(
        url_template=f"{tool_server.url}/reject-echo",
        secret_headers={"X-Api-Key": SECRET},
        grant_to=agent,
    )
    outcome = call(agent, "echo_tool")
    assert not outcome.ok and "HTTP 400" in outcome.error.message
    row = ToolCall.objects.get(call_id=outcome.call_id)
    for text in (outcome.error.message, repr(row.__dict__)):
        # Before: the excerpt was cut at 300 characters first, so a prefix of the key leaked.
        assert SECRET[:6] not in text, text


def test_secret_looking_args_are_redacted_in_the_audit(tool_server, agent):
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string"}, "api_key": {"type": "string"}},
        "additionalProperties": False,
    }
    make_http_tool(url_template=f"{tool_server.url}/projects", input_schema=schema, grant_to=agent)
    outcome = call(agent, "echo_tool", {"q": "x", "api_key": "user-supplied-key"})
    row = ToolCall.objects.get(call_id=outcome.call_id)
    assert row.args == {"q": "x", "api_key": "[redacted]"}


def test_a_warm_call_makes_two_queries_the_write_ahead_audit(
    tool_server, agent, django_assert_num_queries
):
    make_http_tool(url_template=f"{tool_server.url}/projects", grant_to=agent)
    assert call(agent, "echo_tool").ok  # warms the agent and registry caches
    with django_assert_num_queries(2) as captured:
        assert call(agent, "echo_tool").ok
    # The `started` row before the executor runs, completed after (docs/toolcore.md).
    assert captured.captured_queries[0]["sql"].startswith('INSERT INTO "toolcore_toolcall"')
    assert captured.captured_queries[1]["sql"].startswith('UPDATE "toolcore_toolcall"')


def test_grants_and_revocations_apply_at_once(tool_server, agent):
    from toolcore.selectors import tools_for_agent
    from toolcore.services import tool_grant, tool_revoke

    make_http_tool(url_template=f"{tool_server.url}/projects")
    listed = lambda: async_to_sync(tools_for_agent)(agent_id=agent.id)  # noqa: E731
    assert listed() == [] and call(agent, "echo_tool").error.type == "not_found"
    tool_grant(agent_id=agent.id, tool_id="echo_tool")
    assert [t["tool_id"] for t in listed()] == ["echo_tool"] and call(agent, "echo_tool").ok
    tool_revoke(agent_id=agent.id, tool_id="echo_tool")
    assert listed() == [] and call(agent, "echo_tool").error.type == "not_found"


def test_concurrent_calls_each_get_an_audit_row(tool_server, agent):
    from toolcore.services import tool_call

    make_http_tool(
        url_template=f"{tool_server.url}/projects", input_schema=PROJECTS_SCHEMA, grant_to=agent
    )

    async def many():
        return await asyncio.gather(
            *(
                tool_call(agent_id=agent.id, tool_id="echo_tool", args={"microdao_id": f"m{i}"})
                for i in range(25)
            )
        )

    outcomes = async_to_sync(many)()
    assert all(o.ok for o in outcomes)
    assert {o.result["query"]["microdao_id"] for o in outcomes} == {f"m{i}" for i in range(25)}
    assert ToolCall.objects.filter(outcome="ok").count() == 25


def test_a_cancelled_call_is_still_audited(tool_server, agent):
    from toolcore.services import tool_call

    make_http_tool(url_template=f"{tool_server.url}/slow", timeout_seconds=5, grant_to=agent)

    async def scenario():
        task = asyncio.create_task(tool_call(agent_id=agent.id, tool_id="echo_tool", args={}))
        while not tool_server.requests:  # noqa: ASYNC110  (set by the server thread)
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async_to_sync(scenario)()
    row = ToolCall.objects.get()
    assert row.outcome == "cancelled" and row.tool.tool_id == "echo_tool"
